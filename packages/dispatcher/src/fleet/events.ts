// What travels on the event bus channel `dispatcher` (`<prefix>:ev:dispatcher`). Published from
// inside the Lua scripts that make the change, so an event exists exactly when the change does.

/** The fleet's list changed (load, add, remove): re-read everything at `version` or later. */
export interface DispatcherReloadEvent {
  readonly type: 'reload';
  readonly version: number;
}

/**
 * One destination's flags changed. `dst-down` / `dst-up` are Kamailio's
 * event_route[dispatcher:dst-down] / [dispatcher:dst-up]; `dst-state` is any other flag change
 * (e.g. active -> trying, probing on/off) that edges still need for their snapshot.
 */
export interface DestinationStateEvent {
  readonly type: 'dst-down' | 'dst-up' | 'dst-state';
  readonly setid: number;
  readonly uri: string;
  readonly oldFlags: number;
  readonly newFlags: number;
  /** Who changed it: 'mark' (ds_mark_dst), 'rpc' (dispatcher.set_state), 'probe', or the caller's text. */
  readonly reason: string;
  /** Date.now() of the writer. */
  readonly time: number;
}

export type DispatcherEvent = DispatcherReloadEvent | DestinationStateEvent;

/** The event a changed transition publishes: down or up when its activity flips, else dst-state. */
export function transitionEventType(t: {
  readonly wentDown: boolean;
  readonly wentUp: boolean;
}): DestinationStateEvent['type'] {
  return t.wentDown ? 'dst-down' : t.wentUp ? 'dst-up' : 'dst-state';
}

/** Logical channel name on the EventBus. */
export const DISPATCHER_CHANNEL = 'dispatcher';

/** The bus' event map, for `EventBus<DispatcherBusEvents>`. */
export type DispatcherBusEvents = { [DISPATCHER_CHANNEL]: DispatcherEvent };

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

/** Validates a bus message; undefined (reported by the bus as SIPFLEET_ERR_REDIS_BAD_EVENT) otherwise. */
export function parseDispatcherEvent(raw: unknown): DispatcherEvent | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const e = raw as Record<string, unknown>;
  if (e.type === 'reload')
    return isInt(e.version) ? { type: 'reload', version: e.version } : undefined;
  if (e.type !== 'dst-down' && e.type !== 'dst-up' && e.type !== 'dst-state') return undefined;
  if (!isInt(e.setid) || typeof e.uri !== 'string' || !isInt(e.oldFlags) || !isInt(e.newFlags)) {
    return undefined;
  }
  return {
    type: e.type,
    setid: e.setid,
    uri: e.uri,
    oldFlags: e.oldFlags,
    newFlags: e.newFlags,
    reason: typeof e.reason === 'string' ? e.reason : '',
    time: isInt(e.time) ? e.time : 0,
  };
}
