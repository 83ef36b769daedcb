// What an edge routes with: a local immutable Snapshot of the fleet's dispatcher list, read at
// start and kept fresh by the `dispatcher` bus channel, plus the per-call selection with its
// Redis budget (0 round trips for hash/priority/weight/random/latency algorithms, 1 INCR for
// round-robin, or one INCRBY per leased block of positions off the call path, 1 EVALSHA for
// call load).
//
// Freshness: a state event carries the new flags and is applied in place (withFlags, no round
// trip); a reload event re-reads everything. Events arriving during a re-read are applied again
// on top of it, in order, so a re-read that started before a transition cannot undo it. When
// Redis is unreachable the snapshot stays as it was (routing goes on) and `ready` is false; on
// reconnect (or when the bus subscription is re-established on another node) everything is
// re-read, because events may have been missed meanwhile. That subscribe / re-read / retry /
// readiness cycle is @sipfleet/redis Mirror, shared with htable and keepalive.
//
// Latency (algorithms 11 with cc=1, and 13): the prober writes each set's statistics to
// `{ds:<set>}:latency` after every keepalive round, so they change all the time and carry no
// event; with `latencyRefreshMs` the view reads them as part of every snapshot read (so `ready`
// means they are there) and again on a timer, and selection takes them from memory (no round
// trip on the call path).
//
// Start-up never waits for Redis. With `initialList` (the edge's dispatcher.listFile) the view
// routes on the file's sets until it first reads the fleet's list, and loads the file into Redis
// whenever Redis turns out to have no list: at first contact, and after Redis lost its data (a
// restart without AOF), so call load (whose script reads the list in Redis) comes back by itself.
import { EventEmitter } from 'node:events';
import {
  EventBus,
  Mirror,
  type RedisConnection,
  type SipfleetRedisError,
  toRedisError,
} from '@sipfleet/redis';
import { DS_ALG, type Algorithm, type CallInput, callPathOf } from '../algorithm-table.js';
import {
  type Candidate,
  type LatencyEstimate,
  type LatencyStats,
  type Selection,
  type SelectFailureReason,
  type SelectOptions,
  loadKeyOf,
  select,
} from '../algorithms.js';
import {
  createSnapshot,
  indexOfUri,
  type Destination,
  type DestinationSet,
  type Snapshot,
  withFlags,
} from '../model.js';
import { parseList } from '../list-file.js';
import { type CountFilter, countDestinations, setIsActive } from '../count.js';
import type { RouteRule } from '../route-rules.js';
import type { RandomSource } from '../prng.js';
import { CallLoad, type CallLoadOptions } from './call-load.js';
import { RoundRobinLease } from './round-robin-lease.js';
import { readFleet, readSetLatency } from './codec.js';
import { DispatcherFleetError } from './errors.js';
import {
  DISPATCHER_CHANNEL,
  type DestinationStateEvent,
  type DispatcherBusEvents,
  type DispatcherEvent,
  parseDispatcherEvent,
} from './events.js';
import { type ResolvedNames, findFromList, resolveNames } from './from-list.js';
import { DispatcherFleet, type LoadResult } from './store.js';

export interface SelectDestinationsOptions extends SelectOptions {
  /**
   * Alg 11 (cc=1) and 13: latency statistics per lower-cased destination URI.
   * @default the view's own copy of the prober's statistics (latencyRefreshMs), else none (0 ms)
   */
  readonly latency?: ReadonlyMap<string, LatencyEstimate>;
}

export interface DispatcherViewOptions extends CallLoadOptions {
  /** The process' event bus (one per process); without it the view makes and owns one. */
  bus?: EventBus<DispatcherBusEvents>;
  /** Background failures (re-reads, reconcile, round-robin INCR); retried, never thrown. @default ignore */
  onError?: (err: Error) => void;
  /** How long open() waits for Redis (start() never waits). @default 10000 */
  openTimeoutMs?: number;
  /** First delay before a failed re-read is tried again (then doubling, up to 5 s). @default 500 */
  retryDelayMs?: number;
  /**
   * A list file's text: routed on (destinations in the state the file gives) until the fleet's
   * list is first read, and loaded into Redis whenever Redis has no list (Kamailio's
   * ds_list_file at start). Parsed at start: a bad file throws SIPFLEET_ERR_DISPATCHER_LIST.
   * @default none (an empty snapshot until Redis answers)
   */
  initialList?: string;
  /**
   * How often the view reconciles the call-load counters of every set (Kamailio's
   * ds_hash_check_interval); 0 = never (then run CallLoad.reconcile yourself).
   * @default 30000
   */
  reconcileIntervalMs?: number;
  /** Alg 6, and the start of the local alg 9/11/13 counters. @default Math.random */
  random?: RandomSource;
  /**
   * How often the view re-reads the prober's latency statistics of every set (one HGETALL per
   * set), for algorithms 11 (cc=1) and 13; they are also read after every snapshot read.
   * 0 = never (selection then sees no latency unless the caller passes it).
   * @default 0
   */
  latencyRefreshMs?: number;
  /**
   * Round-robin (alg 4, and 5 without credentials): positions of the fleet's counter taken per
   * round trip. 1: one INCR per call, so calls through every edge cycle in exact order. N > 1:
   * blocks of N leased with INCRBY, the next one fetched when half of this one is used, so no
   * call waits for Redis (fleet-wide shares stay exact to within 2N positions per edge; calls
   * cycle in order per edge). See round-robin-lease.ts.
   * @default 1
   */
  roundRobinLease?: number;
}

export interface DispatcherViewEvents {
  /** event_route[dispatcher:dst-down], on every edge, once per transition. */
  'dst-down': [DestinationStateEvent];
  /** event_route[dispatcher:dst-up]. */
  'dst-up': [DestinationStateEvent];
  /** Any other flag change (active <-> trying, probing on/off). */
  'dst-state': [DestinationStateEvent];
  /** A full re-read produced a new snapshot (start, reload event, reconnect). */
  reload: [Snapshot];
  /** The destinations' host names were resolved for ds_is_from_list (after each list read). */
  resolved: [ResolvedNames];
  /** `initialList` was loaded into Redis (Redis had no list when it was read). */
  'list-loaded': [LoadResult];
  up: [];
  down: [];
}

export class DispatcherView extends EventEmitter<DispatcherViewEvents> {
  /** Alg 10 slots: reserve on INVITE, confirm on 2xx, release on 3xx-6xx/BYE/CANCEL, reconcile. */
  readonly callLoad: CallLoad;
  /** The snapshot's link to Redis: `ready`, `up`/`down`, and the name `/readyz` shows. */
  readonly mirror: Mirror;
  private current: Snapshot;
  private readonly initialList: string | undefined;
  private version = 0;
  private readonly bus: EventBus<DispatcherBusEvents>;
  private readonly ownsBus: boolean;
  private readonly onError: (err: Error) => void;
  private readonly reconcileIntervalMs: number;
  private readonly random: RandomSource;
  private readonly counters = new Map<string, number>();
  private readonly roundRobinLease: number;
  private readonly leases = new Map<number, RoundRobinLease>();
  private readonly latencyRefreshMs: number;
  /** The prober's statistics per set, replaced whole on each refresh (select() caches by identity). */
  private latencyBySet = new Map<number, ReadonlyMap<string, LatencyStats>>();
  private latencyRunning: Promise<void> | undefined;
  private latencyTimer: NodeJS.Timeout | undefined;
  /** ds_is_from_list: the addresses of the destinations' host names, resolved per list read. */
  private resolved: ResolvedNames = new Map();
  private resolveRound = 0;
  /** State events seen while a re-read runs, re-applied on top of its result. */
  private duringResync: DestinationStateEvent[] | undefined;
  private closed = false;
  private reconcileTimer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly conn: RedisConnection,
    options: DispatcherViewOptions,
  ) {
    super();
    this.callLoad = new CallLoad(conn, options);
    this.ownsBus = options.bus === undefined;
    this.onError = options.onError ?? (() => undefined);
    this.bus =
      options.bus ??
      new EventBus<DispatcherBusEvents>(conn, {
        onError: (e: SipfleetRedisError) => this.onError(e),
      });
    this.reconcileIntervalMs = options.reconcileIntervalMs ?? 30_000;
    this.random = options.random ?? Math.random;
    this.latencyRefreshMs = options.latencyRefreshMs ?? 0;
    this.roundRobinLease = options.roundRobinLease ?? 1;
    this.initialList = options.initialList;
    this.current = createSnapshot(
      options.initialList === undefined ? [] : parseList(options.initialList),
    );
    this.mirror = new Mirror(conn, {
      name: 'dispatcher',
      feeds: [
        this.bus.feed(DISPATCHER_CHANNEL, (event) => this.onEvent(event), parseDispatcherEvent),
      ],
      read: () => this.read(),
      ...(options.retryDelayMs !== undefined ? { retryDelayMs: options.retryDelayMs } : {}),
    });
    this.mirror.on('up', () => this.emit('up'));
    this.mirror.on('down', () => this.emit('down'));
    this.mirror.on('error', (err) => this.onError(err));
  }

  /**
   * Subscribes to the bus and reads the fleet's list in the background; returns at once. Until
   * Redis answers the view routes on `initialList` (or nothing) and `ready` is false.
   * @throws SipfleetDispatcherError SIPFLEET_ERR_DISPATCHER_LIST when `initialList` is malformed.
   */
  static start(conn: RedisConnection, options: DispatcherViewOptions = {}): DispatcherView {
    const view = new DispatcherView(conn, options);
    view.mirror.start();
    if (view.reconcileIntervalMs > 0) {
      view.reconcileTimer = setInterval(() => void view.reconcileAll(), view.reconcileIntervalMs);
      view.reconcileTimer.unref();
    }
    if (view.latencyRefreshMs > 0) {
      view.latencyTimer = setInterval(() => {
        if (view.mirror.ready) void view.refreshLatency();
      }, view.latencyRefreshMs);
      view.latencyTimer.unref();
    }
    return view;
  }

  /**
   * start(), then waits for the first read. Rejects (typed) when Redis cannot be reached within
   * `openTimeoutMs`.
   */
  static async open(
    conn: RedisConnection,
    options: DispatcherViewOptions = {},
  ): Promise<DispatcherView> {
    const view = DispatcherView.start(conn, options);
    try {
      await view.mirror.waitUntilReady(options.openTimeoutMs ?? 10_000);
    } catch (err) {
      await view.close();
      throw err instanceof DispatcherFleetError ? err : toRedisError(err);
    }
    return view;
  }

  /** The sets to route with, right now. Synchronous, never a round trip. */
  get snapshot(): Snapshot {
    return this.current;
  }

  /** The fleet list version the snapshot was read at (the version in `reload` events). */
  get listVersion(): number {
    return this.version;
  }

  /** True while Redis is connected, the bus subscribed and the snapshot read since. */
  get ready(): boolean {
    return this.mirror.ready;
  }

  private onEvent(event: DispatcherEvent): void {
    if (event.type === 'reload') {
      if (event.version > this.version) this.mirror.request();
      return;
    }
    this.duringResync?.push(event);
    this.current = withFlags(this.current, event.setid, event.uri, event.newFlags);
    this.emit(event.type, event);
  }

  /** The Mirror's read: the whole fleet list, with the events seen meanwhile applied on top. */
  private async read(): Promise<void> {
    this.duringResync = [];
    try {
      let read = await readFleet(this.conn);
      if (read.version === 0 && this.initialList !== undefined) {
        // Redis holds no list (first contact, or it lost its data): the file is the fleet's list.
        const loaded = await new DispatcherFleet(this.conn).load(this.initialList);
        this.emit('list-loaded', loaded);
        read = await readFleet(this.conn);
      }
      if (read.version === 0 && this.version > 0) {
        // The index is gone although a list was loaded: Redis lost its data (restart without
        // AOF) or someone deleted it. Keep routing on what we have, say so, and take the next
        // load, whatever its version.
        this.version = 0;
        this.onError(
          new DispatcherFleetError(
            'SIPFLEET_ERR_DISPATCHER_LIST_MISSING',
            'the dispatcher list is gone from Redis; keeping the last snapshot until the next load',
          ),
        );
        return;
      }
      let next = createSnapshot(read.sets, this.current.version + 1);
      // The statistics are part of the snapshot read: once `ready`, alg 11/13 route on them.
      const latency = this.latencyRefreshMs > 0 ? await this.readLatency(next) : undefined;
      for (const e of this.duringResync) next = withFlags(next, e.setid, e.uri, e.newFlags);
      this.current = next;
      if (latency !== undefined) this.latencyBySet = latency;
      this.version = read.version;
      for (const issue of read.issues) {
        this.onError(new DispatcherFleetError('SIPFLEET_ERR_DISPATCHER_BAD_ENTRY', issue));
      }
      this.emit('reload', next);
      void this.resolveNames(next);
    } finally {
      this.duringResync = undefined;
    }
  }

  /** ds_list_exists(setid): the set is in the snapshot (with at least one destination). */
  listExists(setid: number): boolean {
    return (this.current.sets.get(setid)?.destinations.length ?? 0) > 0;
  }

  /**
   * Resolves the list's host names in the background (after every list read, never per call);
   * names that do not resolve are reported once per read and keep no addresses.
   */
  private async resolveNames(snapshot: Snapshot): Promise<void> {
    const round = ++this.resolveRound;
    const { resolved, failed } = await resolveNames(snapshot);
    // A later read's resolution supersedes this one, whichever finishes first.
    if (this.closed || round !== this.resolveRound) return;
    this.resolved = resolved;
    if (failed.length > 0) {
      this.onError(
        new DispatcherFleetError(
          'SIPFLEET_ERR_DISPATCHER_RESOLVE',
          `ds_is_from_list: cannot resolve ${failed.join(', ')}; requests from them are not matched`,
        ),
      );
    }
    this.emit('resolved', resolved);
  }

  /** ds_count(setid, filter): destinations of the set the filter counts (see parseCountFilter). */
  count(setid: number, filter: string | CountFilter): number {
    return countDestinations(this.current.sets.get(setid), filter);
  }

  /**
   * ds_is_active(setid[, uri]): the set has an active destination, or `uri` is one of its
   * destinations and active. Zero round trips.
   */
  isActive(setid: number, uri?: string): boolean {
    return setIsActive(this.current.sets.get(setid), uri);
  }

  /**
   * ds_is_from_list([group]): the destination a request came from, matched by host (the source
   * IP) and port; destinations listed by name match the addresses it resolved to (resolved in
   * the background after each list read: event `resolved`). See findFromList for the matching
   * rules. Zero round trips.
   */
  isFromList(host: string, port?: number, setid?: number): Destination | undefined {
    return findFromList(this.current, host, port, setid, this.resolved);
  }

  /**
   * ds_select_dst(setid, alg, limit): the candidates in the order to try them (first = selected),
   * or a Selection with `failure`. Round trips, as the algorithm table's callPath says: 0 for
   * algorithms 0-3, 5 with credentials, 6-9 and 11-13; 1 INCR for 4 and 5 without credentials
   * (the fleet-wide round-robin counter; with roundRobinLease > 1 none but one INCRBY per leased
   * block; if Redis is down a local counter is used and onError told); 1 EVALSHA for 10
   * (reserve).
   * @throws SipfleetRedisError for alg 10 when Redis cannot be asked: an exact maxload cannot be
   *   promised without it, so the caller decides (another algorithm, or 503).
   */
  async selectDestinations(
    setid: number,
    alg: Algorithm | number,
    input: CallInput,
    options: SelectDestinationsOptions = {},
  ): Promise<Selection> {
    const set = this.current.sets.get(setid);
    if (set === undefined) {
      return failure(setid, alg, 'empty-set', `dispatcher set ${setid} does not exist`);
    }
    const path = callPathOf(alg, input);
    if (path === 'call-load') return this.selectCallLoad(set, input.callId, options);
    const counter =
      path === 'fleet-counter'
        ? await this.fleetCounter(setid)
        : path === 'edge-counter'
          ? this.localCounter(setid, alg)
          : undefined;
    return select(
      set,
      alg,
      input,
      { random: this.random, latency: options.latency ?? this.latencyBySet.get(setid), counter },
      options,
    );
  }

  /**
   * ds_select_routes(rules): selectDestinations for each `set=alg` rule in turn, candidates
   * concatenated in rule order (a destination listed in two sets comes twice, as in Kamailio),
   * then `limit` applied to the whole list; `useDefault` applies per set. `input` must carry
   * what every rule's algorithm reads. Fails only when no rule gives a candidate (with the first
   * rule's failure). Algorithm 10 is refused (`bad-input`): its call-load slot belongs to one set.
   * Round trips: the sum of the rules' (see selectDestinations).
   */
  async selectRoutes(
    rules: readonly RouteRule[],
    input: CallInput,
    options: SelectDestinationsOptions = {},
  ): Promise<Selection> {
    const first = rules[0];
    if (first === undefined) return failure(0, 0, 'empty-set', 'no dispatcher route rules');
    const { limit = 0, ...each } = options;
    const candidates: Candidate[] = [];
    let firstFailure: Selection | undefined;
    for (const rule of rules) {
      if (rule.alg === DS_ALG.CALL_LOAD) {
        return failure(rule.set, rule.alg, 'bad-input', 'ds_select_routes does not take alg 10');
      }
      const selection = await this.selectDestinations(rule.set, rule.alg, input, each);
      firstFailure ??= selection.failure === undefined ? undefined : selection;
      candidates.push(...selection.candidates);
    }
    if (candidates.length === 0 && firstFailure !== undefined) return firstFailure;
    return {
      setId: first.set,
      alg: first.alg,
      candidates: limit > 0 ? candidates.slice(0, limit) : candidates,
      parallel: false,
    };
  }

  /**
   * The set's fleet-wide round-robin position, 0 on the fleet's first call: one INCR, or a
   * position of the block this edge leased (roundRobinLease).
   */
  private async fleetCounter(setid: number): Promise<number> {
    const key = this.conn.keys.dsRoundRobin(String(setid));
    if (this.roundRobinLease <= 1) {
      try {
        return Number(await this.conn.call('INCR', key)) - 1;
      } catch (err) {
        this.onError(toRedisError(err));
        return this.localCounter(setid, DS_ALG.ROUND_ROBIN);
      }
    }
    let lease = this.leases.get(setid);
    if (lease === undefined) {
      lease = new RoundRobinLease(
        this.roundRobinLease,
        async (size) => Number(await this.conn.call('INCRBY', key, size)),
        (err) => this.onError(toRedisError(err)),
      );
      this.leases.set(setid, lease);
    }
    const position = lease.take();
    if (position !== undefined) return position;
    await lease.refill();
    return lease.take() ?? this.localCounter(setid, DS_ALG.ROUND_ROBIN);
  }

  /**
   * Alg 9/11/13 (and round-robin while Redis is down): a per-edge counter, started at a random
   * position so a fleet restarted at once does not walk the shuffled weight table in step.
   * Every 100 consecutive calls of one edge give the exact shares, so the fleet's total does too,
   * give or take the calls in flight per edge, without a round trip.
   */
  private localCounter(setid: number, alg: number): number {
    const key = `${setid}/${alg}`;
    const next = this.counters.get(key) ?? Math.floor(this.random() * 0x10000);
    this.counters.set(key, (next + 1) % 0x40000000);
    return next;
  }

  private async selectCallLoad(
    set: DestinationSet,
    callId: string | undefined,
    options: SelectOptions,
  ): Promise<Selection> {
    const alg = DS_ALG.CALL_LOAD;
    if (callId === undefined || callId.trim() === '') {
      return failure(set.id, alg, 'missing-input', 'algorithm 10 needs input.callId');
    }
    const max = options.limit ? options.limit : set.destinations.length;
    const seen = this.callLoad.pickLoads(set.id);
    if (seen !== undefined) {
      // Picked on the edge (CallLoad localPickHeadroom): no round trip before routing, unless
      // the pick is near its maxload or nothing can be picked (the reserve then decides).
      const picked = select(set, alg, {}, { loads: seen.loads }, { limit: max });
      const first = picked.candidates[0]?.destination;
      const maxload = first?.attrs.maxload ?? 0;
      const key = first === undefined ? '' : loadKeyOf(first);
      if (
        first !== undefined &&
        (!maxload || (seen.loads.get(key) ?? 0) + seen.headroom < maxload)
      ) {
        this.callLoad.assign(set.id, callId, key, first.uri.toLowerCase());
        return picked;
      }
    }
    const reserved = await this.callLoad.reserve(set.id, callId);
    if (!reserved.ok) {
      const reason = reserved.reason === 'unknown-set' ? 'empty-set' : reserved.reason;
      return failure(set.id, alg, reason, `dispatcher set ${set.id}: ${reserved.reason}`);
    }
    const index = indexOfUri(set, reserved.uri);
    const destination = set.destinations[index];
    if (destination === undefined) {
      // Redis knows a destination this snapshot does not (a reload is on its way): give the
      // slot back rather than route to something we cannot describe.
      await this.callLoad.release(set.id, callId);
      this.mirror.request();
      return failure(
        set.id,
        alg,
        'no-active-destination',
        `${reserved.uri} is not in the local snapshot yet`,
      );
    }
    // Failover order: Kamailio's alg 10 order over the loads the script returned, reserved first.
    const rest = select(set, alg, {}, { loads: reserved.loads }).candidates.filter(
      (c) => c.index !== index,
    );
    const candidates: Candidate[] = [{ destination, index }, ...rest].slice(0, max);
    return { setId: set.id, alg, candidates, parallel: false };
  }

  /**
   * The prober's latency statistics of a set as the view last read them, per lower-cased URI
   * (empty before the first read, or without latencyRefreshMs).
   */
  latency(setid: number): ReadonlyMap<string, LatencyStats> {
    return this.latencyBySet.get(setid) ?? new Map();
  }

  /**
   * Re-reads the latency statistics of every set (the timer's job). One refresh at a time: a
   * call while one runs waits for it. Failures go to onError and keep the last statistics.
   */
  refreshLatency(): Promise<void> {
    if (this.latencyRunning !== undefined) return this.latencyRunning;
    const run = this.readLatency(this.current)
      .then((latency) => {
        if (!this.closed) this.latencyBySet = latency;
      })
      .catch((err: unknown) => this.onError(toRedisError(err)))
      .finally(() => {
        if (this.latencyRunning === run) this.latencyRunning = undefined;
      });
    this.latencyRunning = run;
    return run;
  }

  /** The statistics of every set of `snapshot`: one HGETALL per set. */
  private async readLatency(
    snapshot: Snapshot,
  ): Promise<Map<number, ReadonlyMap<string, LatencyStats>>> {
    const next = new Map<number, ReadonlyMap<string, LatencyStats>>();
    for (const set of snapshot.sets.values())
      next.set(set.id, await readSetLatency(this.conn, set));
    return next;
  }

  /** Reconciles the call-load counters of every set in the snapshot (the timer's job). */
  async reconcileAll(): Promise<void> {
    for (const setid of this.current.sets.keys()) {
      if (this.closed) return;
      try {
        await this.callLoad.reconcile(setid);
      } catch (err) {
        this.onError(err instanceof Error ? err : toRedisError(err));
      }
    }
  }

  /**
   * Stops timers, sends the call-load steps still gathered, unsubscribes (closing the bus if the
   * view made it). The connection stays open.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.callLoad.close();
    clearInterval(this.reconcileTimer);
    clearInterval(this.latencyTimer);
    await this.latencyRunning;
    await this.mirror.close();
    if (this.ownsBus) await this.bus.close();
  }
}

function failure(
  setId: number,
  alg: number,
  reason: SelectFailureReason,
  message: string,
): Selection {
  return { setId, alg, candidates: [], parallel: false, failure: { reason, message } };
}
