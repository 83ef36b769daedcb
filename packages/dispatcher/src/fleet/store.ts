// The fleet's shared dispatcher list in Redis: what `sipfleet ctl dispatcher` and the prober write
// (Kamailio's dispatcher.reload, dispatcher.add/remove, dispatcher.set_state, ds_mark_dst and the
// keepalive replies). Edges read it through DispatcherView; nothing here runs per call.
import { type RedisConnection, SipfleetRedisError } from '@sipfleet/redis';
import { DS_STATE_BITS, formatFlags, isActive, parseRpcState } from '../flags.js';
import { formatAttrs, parseList, withSipScheme } from '../list-file.js';
import type { DestinationSet } from '../model.js';
import {
  type DestinationState,
  mark,
  type ProbingMode,
  probeResult,
  type Thresholds,
  type Transition,
} from '../state.js';
import {
  decodeState,
  encodeDestination,
  encodeState,
  pairs,
  parseDestination,
  readFleet,
  uriField,
  type FleetRead,
} from './codec.js';
import { DispatcherFleetError, checkSetId } from './errors.js';
import { DISPATCHER_CHANNEL, type DestinationStateEvent, transitionEventType } from './events.js';
import { scriptsFor } from './scripts.js';

export interface DispatcherFleetOptions {
  /** ds_probing_threshold / ds_inactive_threshold for setState and probeResult. @default {1, 1} */
  thresholds?: Thresholds;
  /** Compare-and-set attempts of one state update before SIPFLEET_ERR_DISPATCHER_CONFLICT. @default 16 */
  maxStateAttempts?: number;
}

export interface SetStateOptions {
  /**
   * 'mark': a ds_mark_dst() string (`i`, `ip`, `tp`, `a`, ...) through the thresholds of mark();
   * 'rpc': a dispatcher.set_state value (`a`, `i`, `d`, `t`, `ap`, `0`-`3`) set as is, as
   * Kamailio's RPC does (no thresholds, counter reset).
   * @default 'mark'
   */
  mode?: 'mark' | 'rpc';
  /** Free text carried by the event. @default the mode */
  reason?: string;
}

/** One destination as `dispatcher.list` shows it, plus its fleet-wide call load. */
export interface FleetDestinationInfo {
  readonly uri: string;
  readonly flags: number;
  /** Kamailio's two letters: `AP`, `IX`, `TP`, `DX`, ... */
  readonly flagsText: string;
  readonly priority: number;
  /** attrs column (list-file format). */
  readonly attrs: string;
  readonly description?: string;
  /** Live call-load slots of its load key (duid, else URI). */
  readonly load: number;
}

export interface FleetSetInfo {
  readonly setid: number;
  /** In set order (what hash algorithms index into). */
  readonly destinations: readonly FleetDestinationInfo[];
}

export interface LoadResult {
  readonly version: number;
  readonly sets: number;
  readonly destinations: number;
}

export class DispatcherFleet {
  private readonly thresholds: Thresholds;
  private readonly maxStateAttempts: number;

  constructor(
    private readonly conn: RedisConnection,
    options: DispatcherFleetOptions = {},
  ) {
    this.thresholds = options.thresholds ?? {};
    this.maxStateAttempts = options.maxStateAttempts ?? 16;
  }

  private get channel(): string {
    return this.conn.keys.channel(DISPATCHER_CHANNEL);
  }

  private async bumpIndex(
    mode: 'replace' | 'add' | 'remove' | 'touch',
    ids: string,
  ): Promise<number> {
    const [, version] = await scriptsFor(this.conn).run(
      'ds-index',
      [this.conn.keys.dsIndex()],
      [mode, this.channel, ids],
    );
    return Number(version);
  }

  /**
   * dispatcher.reload: replaces the fleet's list with `source` (list-file text or parsed sets).
   * Each set is written atomically, sets that disappeared are deleted, then the version is bumped
   * and one `reload` event published. States restart from the list's flags; call loads and
   * round-robin counters stay (live calls keep counting).
   * @throws SipfleetDispatcherError SIPFLEET_ERR_DISPATCHER_LIST for bad text, before anything is written.
   */
  async load(source: string | readonly DestinationSet[]): Promise<LoadResult> {
    const sets = typeof source === 'string' ? parseList(source) : source;
    const scripts = scriptsFor(this.conn);
    const before = await this.readIndexSets();
    let destinations = 0;
    for (const set of sets) {
      const id = checkSetId(set.id);
      // Set order is reverse file order among equal priorities: number them back to file order.
      const fileOrder = fileOrderOf(set);
      const args: (string | number)[] = [fileOrder.length];
      fileOrder.forEach((dst, order) => {
        args.push(
          uriField(dst.uri),
          encodeDestination(dst, order),
          encodeState({ flags: dst.flags, count: 0 }),
        );
      });
      destinations += fileOrder.length;
      await scripts.run(
        'ds-write-set',
        [this.conn.keys.dsDestinations(id), this.conn.keys.dsState(id)],
        args,
      );
    }
    const ids = new Set(sets.filter((s) => s.destinations.length > 0).map((s) => s.id));
    for (const old of before) {
      if (ids.has(old)) continue;
      const id = String(old);
      await scripts.run(
        'ds-write-set',
        [this.conn.keys.dsDestinations(id), this.conn.keys.dsState(id)],
        [0],
      );
    }
    const version = await this.bumpIndex('replace', [...ids].join(' '));
    return { version, sets: ids.size, destinations };
  }

  /**
   * dispatcher.add: adds a destination (or replaces the one with the same URI, case-insensitive,
   * keeping its place), state from `flags`; then bumps the version and publishes `reload`.
   * @param attrs the attrs column, e.g. `duid=gw1;maxload=20` ('' for none)
   * @throws DispatcherFleetError SIPFLEET_ERR_DISPATCHER_BAD_ARGUMENT when the line would not parse.
   */
  async add(
    setid: number,
    uri: string,
    flags = 0,
    priority = 0,
    attrs = '',
    description?: string,
  ): Promise<number> {
    const id = checkSetId(setid);
    const dst = parseDestination(setid, uri, flags, priority, attrs, description);
    if (typeof dst === 'string')
      throw new DispatcherFleetError('SIPFLEET_ERR_DISPATCHER_BAD_ARGUMENT', dst);
    await scriptsFor(this.conn).run(
      'ds-add',
      [this.conn.keys.dsDestinations(id), this.conn.keys.dsState(id)],
      [uriField(dst.uri), encodeDestination(dst, 0), encodeState({ flags: dst.flags, count: 0 })],
    );
    return this.bumpIndex('add', id);
  }

  /**
   * dispatcher.remove: removes a destination; the set goes with its last destination. Returns
   * false (nothing published) when it was not there.
   */
  async remove(setid: number, uri: string): Promise<boolean> {
    const id = checkSetId(setid);
    const [removed, left] = await scriptsFor(this.conn).run(
      'ds-remove',
      [this.conn.keys.dsDestinations(id), this.conn.keys.dsState(id)],
      [uriField(withSipScheme(uri))],
    );
    if (Number(removed) !== 1) return false;
    await this.bumpIndex(Number(left) === 0 ? 'remove' : 'touch', id);
    return true;
  }

  /**
   * ds_mark_dst(state) (mode 'mark') or dispatcher.set_state (mode 'rpc') on the fleet's state.
   * The next state comes from the pure state machine and is stored by compare-and-set in Lua,
   * which publishes `dst-down` / `dst-up` / `dst-state` in the same step when the flags change:
   * concurrent probers and edges each get a consistent transition and every transition is
   * published exactly once. Returns the transition (unchanged flags: `changed` false).
   * @throws SipfleetDispatcherError SIPFLEET_ERR_DISPATCHER_STATE for a bad state string,
   *   DispatcherFleetError _UNKNOWN_DESTINATION / _CONFLICT, SipfleetRedisError.
   */
  async setState(
    setid: number,
    uri: string,
    state: string | number,
    options: SetStateOptions = {},
  ): Promise<Transition> {
    const mode = options.mode ?? 'mark';
    let compute: (current: DestinationState) => Transition;
    if (mode === 'rpc') {
      const bits = typeof state === 'string' ? parseRpcState(state) : state & DS_STATE_BITS;
      // dispatcher.set_state (ds_reinit_state): the state bits are replaced, no thresholds.
      compute = (current) => direct(current, (current.flags & ~DS_STATE_BITS) | bits);
    } else {
      if (typeof state === 'string') mark({ flags: 0, count: 0 }, state); // validate before any I/O
      compute = (current) => mark(current, state, this.thresholds);
    }
    return this.transition(setid, uri, compute, options.reason ?? mode);
  }

  /**
   * dispatcher.set_duid_state STATE GROUP DUID: dispatcher.set_state (mode 'rpc') on the
   * destination of the set whose `duid` attribute is `duid`; a duid listed twice (they are meant
   * to be unique) sets both. Returns each URI with its transition, in set order.
   * @throws DispatcherFleetError SIPFLEET_ERR_DISPATCHER_UNKNOWN_DESTINATION when no destination
   *   of the set has that duid; as setState otherwise.
   */
  async setDuidState(
    setid: number,
    duid: string,
    state: string,
    options: { reason?: string } = {},
  ): Promise<{ uri: string; transition: Transition }[]> {
    parseRpcState(state); // validate before any I/O
    const set = (await this.read()).sets.find((s) => s.id === setid);
    const uris = set?.destinations.filter((d) => d.attrs.duid === duid).map((d) => d.uri) ?? [];
    if (uris.length === 0) {
      throw new DispatcherFleetError(
        'SIPFLEET_ERR_DISPATCHER_UNKNOWN_DESTINATION',
        `no destination with duid ${duid} in dispatcher set ${setid}`,
      );
    }
    const out: { uri: string; transition: Transition }[] = [];
    for (const uri of uris) {
      const transition = await this.setState(setid, uri, state, {
        mode: 'rpc',
        reason: options.reason ?? 'rpc',
      });
      out.push({ uri, transition });
    }
    return out;
  }

  /** ds_options_callback for the prober: one keepalive outcome through probeResult(). */
  async probeResult(
    setid: number,
    uri: string,
    ok: boolean,
    mode: ProbingMode,
  ): Promise<Transition> {
    return this.transition(
      setid,
      uri,
      (current) => probeResult(current, ok, mode, this.thresholds),
      'probe',
    );
  }

  private async transition(
    setid: number,
    uri: string,
    compute: (current: DestinationState) => Transition,
    reason: string,
  ): Promise<Transition> {
    const id = checkSetId(setid);
    const field = uriField(withSipScheme(uri));
    const key = this.conn.keys.dsState(id);
    let currentText = await this.conn.call('HGET', key, field);
    for (let attempt = 0; attempt < this.maxStateAttempts; attempt++) {
      const current = typeof currentText === 'string' ? decodeState(currentText) : undefined;
      if (current === undefined) {
        throw new DispatcherFleetError(
          'SIPFLEET_ERR_DISPATCHER_UNKNOWN_DESTINATION',
          `no destination ${uri} in dispatcher set ${setid}`,
        );
      }
      const t = compute(current);
      const event: DestinationStateEvent | undefined = t.changed
        ? {
            type: transitionEventType(t),
            setid,
            uri: field,
            oldFlags: t.oldFlags,
            newFlags: t.newFlags,
            reason,
            time: Date.now(),
          }
        : undefined;
      const reply = await scriptsFor(this.conn)
        .run(
          'ds-set-state',
          [key],
          [
            field,
            String(currentText),
            encodeState(t.next),
            this.channel,
            event === undefined ? '' : JSON.stringify(event),
          ],
        )
        .catch((err: unknown) => {
          if (
            err instanceof SipfleetRedisError &&
            err.code === 'SIPFLEET_ERR_REDIS_SCRIPT_NOT_FOUND'
          ) {
            throw new DispatcherFleetError(
              'SIPFLEET_ERR_DISPATCHER_UNKNOWN_DESTINATION',
              `no destination ${uri} in dispatcher set ${setid}`,
            );
          }
          throw err;
        });
      if (reply[0] === 1) return t;
      currentText = reply[1];
    }
    throw new DispatcherFleetError(
      'SIPFLEET_ERR_DISPATCHER_CONFLICT',
      `state of ${uri} in set ${setid} kept changing under ${this.maxStateAttempts} attempts`,
    );
  }

  /** dispatcher.list: every set with flags letters, priority, attrs and current call load. */
  async list(): Promise<FleetSetInfo[]> {
    const read = await this.read();
    return Promise.all(
      read.sets.map(async (set) => {
        const loads = pairs(await this.conn.call('HGETALL', this.conn.keys.dsLoad(String(set.id))));
        return {
          setid: set.id,
          destinations: set.destinations.map((d) => ({
            uri: d.uri,
            flags: d.flags,
            flagsText: formatFlags(d.flags),
            priority: d.priority,
            attrs: formatAttrs(d.attrs),
            ...(d.description !== undefined ? { description: d.description } : {}),
            load: Number(loads.get(d.attrs.duid || uriField(d.uri)) ?? 0),
          })),
        };
      }),
    );
  }

  /** Everything, consistently (see readFleet); what a DispatcherView builds its snapshot from. */
  read(): Promise<FleetRead> {
    return readFleet(this.conn);
  }

  private async readIndexSets(): Promise<number[]> {
    const sets = await this.conn.call('HGET', this.conn.keys.dsIndex(), 'sets');
    return String(sets ?? '')
      .split(' ')
      .filter((s) => /^\d+$/.test(s))
      .map(Number);
  }
}

/** Set order back to file order: priority groups in ascending file position, ties reversed. */
function fileOrderOf(set: DestinationSet): DestinationSet['destinations'] {
  // buildSet sorts the REVERSED file order by priority (stable), so reversing the set gives file
  // order within each priority; across priorities any order works (priority decides).
  return [...set.destinations].reverse();
}

/** A transition that sets the flags as given (dispatcher.set_state), counter reset. */
function direct(current: DestinationState, flags: number): Transition {
  return {
    old: current,
    next: { flags, count: 0 },
    oldFlags: current.flags,
    newFlags: flags,
    changed: flags !== current.flags,
    wentDown: isActive(current.flags) && !isActive(flags),
    wentUp: !isActive(current.flags) && isActive(flags),
  };
}
