// What travels on the event bus channel `keepalive` (`<prefix>:ev:keepalive`): keepalive-module
// transitions (published from inside ka-set-state-1.lua, so exactly once per transition), list
// changes, and the probing switch.

/** A keepalive-module destination's state changed; `ka-up` / `ka-down` when isAlive flips. */
export interface KeepaliveStateEvent {
  readonly type: 'ka-up' | 'ka-down' | 'ka-state';
  /** Lower-cased URI. */
  readonly uri: string;
  /** null: the destination had no state yet (isAlive was 'unknown'). */
  readonly oldFlags: number | null;
  readonly newFlags: number;
  readonly time: number;
}

/** A keepalive-module destination was added or removed (probers re-plan their schedules). */
export interface KeepaliveListEvent {
  readonly type: 'ka-add' | 'ka-remove';
  readonly uri: string;
  readonly time: number;
}

/** The fleet-wide probing switch was flipped (kamcmd dispatcher.ping_active). */
export interface PingActiveEvent {
  readonly type: 'ping-active';
  readonly active: boolean;
  readonly time: number;
}

export type KeepaliveEvent = KeepaliveStateEvent | KeepaliveListEvent | PingActiveEvent;

export const KEEPALIVE_CHANNEL = 'keepalive';

export type KeepaliveBusEvents = { [KEEPALIVE_CHANNEL]: KeepaliveEvent };

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

/** Validates a bus message; undefined (reported by the bus as SIPFLEET_ERR_REDIS_BAD_EVENT) otherwise. */
export function parseKeepaliveEvent(raw: unknown): KeepaliveEvent | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const e = raw as Record<string, unknown>;
  const time = isInt(e.time) ? e.time : 0;
  if (e.type === 'ping-active') {
    return typeof e.active === 'boolean'
      ? { type: 'ping-active', active: e.active, time }
      : undefined;
  }
  if (typeof e.uri !== 'string' || e.uri === '') return undefined;
  if (e.type === 'ka-add' || e.type === 'ka-remove') return { type: e.type, uri: e.uri, time };
  if (e.type !== 'ka-up' && e.type !== 'ka-down' && e.type !== 'ka-state') return undefined;
  if (!isInt(e.newFlags) || !(e.oldFlags === null || isInt(e.oldFlags))) return undefined;
  return { type: e.type, uri: e.uri, oldFlags: e.oldFlags, newFlags: e.newFlags, time };
}
