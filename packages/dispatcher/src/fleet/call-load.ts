// Call load (algorithm 10) exact across the fleet: Kamailio's ds_load_add / ds_load_update /
// ds_load_unset and its ds_hash_check_interval timer, each one Lua step on the set's Cluster slot.
//
// Cluster keying: every call-load key of a set carries the set's hash tag {ds:<setid>} (dst,
// state, load, calls, expiry), so reserve can read destinations and states and take the slot in
// one script. A Call-ID alone cannot name that slot, so confirm/release take the set id too: the
// edge that selected puts it in its Record-Route URI (routeParam.ts), every in-dialog request and
// every response carries it back, and whichever edge sees the 2xx, BYE or CANCEL sends the step.
// (A per-call key {dsc:<callid>} would be findable from the Call-ID but lives in another slot:
// reserve would then need two round trips and could leave one half written.)
//
// Round trips: the steps go as one script per set (ds-call-ops), applied in the order the edge
// made them. A reserve goes after the event-loop turn it was made in, with every step gathered
// by then; the call path's confirms and releases wait for the next reserve (settleDelayMs at
// most). So under load a call costs one round trip or less, not three.
//
// Picking on the edge (localPickHeadroom): the edge may choose the least-loaded destination
// itself, from the loads its last batch returned plus the slots it assigned since, and record the
// slot with its next batch (`assign`), so the INVITE does not wait for Redis. The counts stay
// exact (every slot is recorded, once); what goes is that two edges picking within one round trip
// of each other may pick the same destination. Near a maxload, and whenever the view is stale or
// Redis looks away, the atomic reserve decides.
//
// Nothing leaks through a Redis outage: a release or confirm that cannot reach Redis waits in a
// bounded queue and is sent again after the reconnect (both are idempotent), and a reserve whose
// reply was lost (sent, then a timeout or a dropped connection: Redis may have applied it) is
// undone by a release naming that reserve's token, so it can never drop a later INVITE's slot.
// That release voids the token when the reserve has not run yet, so a reserve that arrives late
// (ioredis redirects a command to a promoted Cluster replica even after its timeout rejected it)
// takes nothing. The outage is reported once, with counts, when the queue has drained.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  type RedisConnection,
  SCRIPT_ERROR_CODES,
  SipfleetRedisError,
  toRedisError,
} from '@sipfleet/redis';
import { pairs } from './codec.js';
import { DispatcherFleetError, checkSetId } from './errors.js';
import { scriptsFor } from './scripts.js';

export interface CallLoadOptions {
  /**
   * Seconds a reserved (not yet answered) slot lives: Kamailio's ds_hash_initexpire.
   * Fractions are allowed (tests).
   * @default 7200
   */
  initExpireSeconds?: number;
  /** Seconds a confirmed (2xx) slot lives without BYE: Kamailio's ds_hash_expire. @default 7200 */
  expireSeconds?: number;
  /**
   * Expired slots a reserve drops before choosing, so counters heal between reconcile runs
   * (bounded so one INVITE never pays for a backlog); 0 = none, reconcile alone drops them.
   * @default 32
   */
  purgePerReserve?: number;
  /**
   * Releases and confirms waiting for Redis to come back (one per call at most); past it they
   * are dropped (counted, reported) and those slots end by their expiry or the next reconcile.
   * @default 10000
   */
  retryQueueLimit?: number;
  /**
   * Delay before queued releases and confirms are sent again while the connection looks up (a
   * timeout or a failover error rather than a disconnect, which waits for the reconnect).
   * @default 1000
   */
  retryQueueDelayMs?: number;
  /**
   * Longest the call path's confirms, releases and assigns wait for a reserve of this edge to go
   * with (one round trip for all), before they go on their own. Under load the next INVITE comes
   * sooner, so a call costs one round trip, not three; with assigns (localPickHeadroom) the steps
   * of every call in this window share one. Kamailio updates its in-memory counters at once; a
   * release here reaches the fleet's counters up to this much later, and other edges see this
   * edge's picks that much later. 0 = with the other steps of the event-loop turn only.
   * @default 25
   */
  settleDelayMs?: number;
  /**
   * Releases Redis acknowledged within this window are sent again after a reconnect or the loss
   * of a Cluster node (the connection's `failover` event). Replication
   * is asynchronous: in a Sentinel or Cluster failover the old master may acknowledge writes in
   * the moment before it is demoted, and the promoted replica never sees them. A release is
   * idempotent, so sending it twice costs a round trip and nothing else. 0 = off.
   * @default 5000
   */
  replayWindowMs?: number;
  /**
   * Algorithm 10 without a round trip before routing: the edge picks the least-loaded active
   * destination from the set's loads as its last batch returned them (at most 1 s ago) plus the
   * slots it assigned since, and records the slot with the next batch, as confirms and releases
   * are. It does so while the pick leaves at least this many calls under its maxload
   * (destinations without maxload always do); otherwise the INVITE waits for the atomic reserve,
   * which never overbooks. Edges picking within one round trip of each other may pick the same
   * destination: maxload holds exactly as long as the fleet's unseen picks of one destination in
   * that time stay under the headroom. Off when undefined: every INVITE waits for the reserve.
   * @default off
   */
  localPickHeadroom?: number;
  /** The outage report (one SIPFLEET_ERR_DISPATCHER_CALL_LOAD_DEFERRED per outage). @default ignore */
  onError?: (err: Error) => void;
}

export type DeferredOp = 'release' | 'confirm' | 'assign';

export interface CallLoadEvents {
  /** A release or confirm could not reach Redis and waits for the reconnect (metric). */
  deferred: [op: DeferredOp];
  /** A waiting release or confirm was dropped: the queue was full (metric). */
  dropped: [op: DeferredOp];
  /** Releases of the last replayWindowMs sent again after a reconnect or a failover (metric). */
  replayed: [count: number];
}

/** One release or confirm waiting for Redis; `token` makes a release conditional (lost reserve). */
interface Pending {
  op: 'release' | 'confirm';
  setid: number;
  callId: string;
  token: string;
}

/** The slot of a destination the edge picked itself (see localPickHeadroom). */
interface Assign {
  op: 'assign';
  setid: number;
  callId: string;
  /** Names this assign: sending it again after a lost reply takes nothing twice. */
  token: string;
  loadKey: string;
  /** The destination's lower-cased URI. */
  uri: string;
  /** Its 2xx came while the assign waited for Redis: the slot starts confirmed. */
  confirmed: boolean;
}

/** What one call still owes Redis. */
type Owed = Pending | Assign;

/** A set's loads as this edge last saw them, for picking on the edge. */
interface SeenLoads {
  /** When the last batch's reply came (ms since the epoch). */
  at: number;
  /** The loads that reply carried, plus `inflight`. */
  estimate: Map<string, number>;
  /** Slots assigned since, not in a reply yet, per load key. */
  inflight: Map<string, number>;
}

/** Loads older than this are not picked from: the INVITE waits for the reserve. */
const SEEN_MAX_AGE_MS = 1000;

interface Waiting {
  resolve(reply: unknown): void;
  reject(err: unknown): void;
}

interface Reserve {
  op: 'reserve';
  setid: number;
  callId: string;
  token: string;
  /** Lower-cased URIs to leave out, space-separated. */
  exclude: string;
  replace: boolean;
}

/** One step in its set's batch of this turn; `done` when a caller awaits its reply. */
type Step = (Owed | Reserve) & { done?: Waiting };

/** Error replies of a Redis that is failing over or starting: the same command works later. */
const FAILOVER_REPLY = /\b(READONLY|CLUSTERDOWN|LOADING|MASTERDOWN|TRYAGAIN|MOVED|ASK)\b/;

/** Errors worth sending again: Redis away, slow, or failing over. */
function isTransient(err: unknown): boolean {
  const e = toRedisError(err);
  return (
    e.code === 'SIPFLEET_ERR_REDIS_UNAVAILABLE' ||
    e.code === 'SIPFLEET_ERR_REDIS_TIMEOUT' ||
    (e.code === 'SIPFLEET_ERR_REDIS_COMMAND' && FAILOVER_REPLY.test(e.message))
  );
}

export type ReserveResult =
  | {
      readonly ok: true;
      /** The reserved destination's URI, lower-cased (match with indexOfUri). */
      readonly uri: string;
      /** What its load is counted under: the duid, else the lower-cased URI. */
      readonly loadKey: string;
      /** True when the Call-ID already held this slot (retransmitted INVITE): nothing was added. */
      readonly existing: boolean;
      /** The set's loads after the step, load key -> live calls (for the failover order). */
      readonly loads: ReadonlyMap<string, number>;
    }
  | {
      readonly ok: false;
      /** Kamailio returns -1 from ds_select_dst in all three cases. */
      readonly reason: 'all-at-maxload' | 'no-active-destination' | 'unknown-set';
    };

export interface ReserveOptions {
  /** URIs not to choose (destinations that already failed for this call). */
  readonly exclude?: readonly string[];
  /**
   * Move a slot the Call-ID already holds to another destination (failover, ds_load_replace).
   * Without it a Call-ID holding a slot gets the same slot back (INVITE retransmission).
   * @default false
   */
  readonly replace?: boolean;
}

export interface ReconcileResult {
  /** Slots dropped: expired, or without an expiry entry. */
  readonly purged: number;
  /** Slots alive after the step. */
  readonly live: number;
  /** Load counters that were wrong and were rewritten. */
  readonly corrected: number;
}

/** Most steps in one ds-call-ops (4 arguments each). */
const STEP_BATCH_LIMIT = 512;

/** Most releases remembered for a replay (about 5 s at 2,000 calls/s). */
const REPLAY_LIMIT = 10_000;

const REFUSED = { 10: 'all-at-maxload', 11: 'no-active-destination', 12: 'unknown-set' } as const;

export class CallLoad extends EventEmitter<CallLoadEvents> {
  private readonly initExpireMs: number;
  private readonly expireMs: number;
  private readonly purgePerReserve: number;
  private readonly retryQueueLimit: number;
  private readonly retryQueueDelayMs: number;
  private readonly onError: (err: Error) => void;
  /** What the reserves of this process are tagged with; see setOwner. */
  private owner = '-';
  /** Makes reserve tokens unique across processes without a round trip. */
  private readonly tokenPrefix = randomBytes(6).toString('base64url');
  private tokens = 0;
  /** `<setid> <Call-ID>` -> the one op still owed for that call. */
  private readonly pending = new Map<string, Owed>();
  private readonly localPickHeadroom: number | undefined;
  /** Per set, for picking on the edge (only with localPickHeadroom). */
  private readonly seen = new Map<number, SeenLoads>();
  private flushing = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private waitingForUp = false;
  /** This outage's counts, reported once the queue is empty again. */
  private outage = { deferred: 0, dropped: 0, sent: 0 };
  private readonly replayWindowMs: number;
  /** Releases Redis acknowledged lately, oldest first (see replayWindowMs). */
  private recent: { at: number; setid: number; callId: string; token: string }[] = [];
  private recentHead = 0;
  /** The steps submitted this event-loop turn, per set, in their order (sendBatches). */
  private batches = new Map<number, Step[]>();
  private batchTimer: NodeJS.Immediate | undefined;
  private readonly settleDelayMs: number;
  /** Sends the waiting confirms and releases when no reserve came for settleDelayMs. */
  private settleTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly conn: RedisConnection,
    options: CallLoadOptions = {},
  ) {
    super();
    this.initExpireMs = expiryMs('initExpireSeconds', options.initExpireSeconds ?? 7200);
    this.expireMs = expiryMs('expireSeconds', options.expireSeconds ?? 7200);
    const purge = options.purgePerReserve ?? 32;
    if (!Number.isInteger(purge) || purge < 0) {
      throw new DispatcherFleetError(
        'SIPFLEET_ERR_DISPATCHER_BAD_ARGUMENT',
        `purgePerReserve must be a non-negative integer, got ${purge}`,
      );
    }
    this.purgePerReserve = purge;
    this.retryQueueLimit = options.retryQueueLimit ?? 10_000;
    this.retryQueueDelayMs = options.retryQueueDelayMs ?? 1000;
    this.settleDelayMs = options.settleDelayMs ?? 25;
    if (!(this.settleDelayMs >= 0 && this.settleDelayMs < 2 ** 31)) {
      throw new DispatcherFleetError(
        'SIPFLEET_ERR_DISPATCHER_BAD_ARGUMENT',
        `settleDelayMs must be a number of ms from 0, got ${this.settleDelayMs}`,
      );
    }
    const headroom = options.localPickHeadroom;
    if (headroom !== undefined && !(Number.isInteger(headroom) && headroom >= 0)) {
      throw new DispatcherFleetError(
        'SIPFLEET_ERR_DISPATCHER_BAD_ARGUMENT',
        `localPickHeadroom must be a non-negative integer, got ${headroom}`,
      );
    }
    this.localPickHeadroom = headroom;
    this.onError = options.onError ?? (() => undefined);
    this.replayWindowMs = options.replayWindowMs ?? 5000;
    if (this.replayWindowMs > 0) {
      conn.on('up', this.replay);
      conn.on('failover', this.replay);
    }
  }

  /**
   * After a reconnect or a Cluster node's loss (failovers among others): the releases of the last
   * moments again.
   */
  private readonly replay = (): void => {
    const since = Date.now() - this.replayWindowMs;
    const again = this.recent.slice(this.recentHead).filter((r) => r.at >= since);
    this.recent = [];
    this.recentHead = 0;
    for (const r of again)
      this.queue({ op: 'release', setid: r.setid, callId: r.callId, token: r.token });
    if (again.length > 0) this.emit('replayed', again.length);
  };

  private remember(setid: number, callId: string, token: string): void {
    if (this.replayWindowMs <= 0) return;
    const now = Date.now();
    const recent = this.recent;
    // Forget from the front what is older than the window or over the limit; compact only once
    // half the array is forgotten, so a release costs O(1) amortised.
    while (
      this.recentHead < recent.length &&
      ((recent[this.recentHead]?.at ?? now) < now - this.replayWindowMs ||
        recent.length - this.recentHead >= REPLAY_LIMIT)
    )
      this.recentHead++;
    if (this.recentHead > recent.length / 2) {
      this.recent = recent.slice(this.recentHead);
      this.recentHead = 0;
    }
    this.recent.push({ at: now, setid, callId, token });
  }

  /**
   * Tags the reserves from now on with this edge's membership instance (FleetMembership does it
   * after its first heartbeat): when that heartbeat stops, any edge drops the unanswered slots
   * carrying it (reclaim). Without an owner, slots end by release or `initExpireSeconds` only.
   */
  setOwner(instance: string): void {
    if (!/^\S+$/.test(instance)) {
      throw new DispatcherFleetError(
        'SIPFLEET_ERR_DISPATCHER_BAD_ARGUMENT',
        `owner must be one word, got "${instance}"`,
      );
    }
    this.owner = instance;
  }

  /** Releases and confirms waiting for Redis right now. */
  get queued(): number {
    return this.pending.size;
  }

  private keys(setid: number) {
    const id = checkSetId(setid);
    const k = this.conn.keys;
    return {
      dst: k.dsDestinations(id),
      state: k.dsState(id),
      load: k.dsLoad(id),
      calls: k.dsCalls(id),
      expiry: k.dsExpiry(id),
      void: k.dsVoid(id),
    };
  }

  /**
   * ds_select_dst with alg 10 + ds_load_add: the least-loaded active destination under its
   * maxload gets a slot for `callId`. One round trip, shared with the set's other steps of this
   * event-loop turn. Idempotent per Call-ID: a Call-ID that holds a slot gets it back (unless
   * `replace`). When the command was sent but its reply is lost (timeout, connection dropped,
   * failover), a release of exactly this reserve is queued, so a slot Redis applied anyway does
   * not leak behind the caller's 503.
   * @throws SipfleetRedisError (e.g. SIPFLEET_ERR_REDIS_UNAVAILABLE) when Redis cannot be asked.
   */
  async reserve(
    setid: number,
    callId: string,
    options: ReserveOptions = {},
  ): Promise<ReserveResult> {
    const exclude = (options.exclude ?? []).map((u) => u.toLowerCase()).join(' ');
    const token = this.nextToken();
    const reply = await this.awaited({
      op: 'reserve',
      setid,
      callId,
      token,
      exclude,
      replace: options.replace === true,
    });
    const steps = Array.isArray(reply) ? reply : [];
    const code = Number(steps[0]);
    if (code < 0 || Number.isNaN(code)) {
      throw new SipfleetRedisError(
        SCRIPT_ERROR_CODES[code] ?? 'SIPFLEET_ERR_REDIS_SCRIPT_REPLY',
        `lua script "ds-call-ops" refused the reserve of "${callId}" (${code})`,
      );
    }
    if (code === 10 || code === 11 || code === 12) return { ok: false, reason: REFUSED[code] };
    if (code === 13) {
      // Only a reserve whose caller was told it failed can have been voided (see release).
      throw new SipfleetRedisError(
        'SIPFLEET_ERR_REDIS_SCRIPT_REPLY',
        `lua script "ds-call-ops" found the reserve of "${callId}" voided`,
      );
    }
    // A new attempt of this Call-ID (an INVITE retried after 407 or 503) now owns the slot: a
    // release still owed for an earlier attempt must not free it.
    this.pending.delete(`${setid} ${callId}`);
    const loads = new Map<string, number>();
    for (const [key, n] of pairs(steps.slice(3))) loads.set(key, Number(n));
    return {
      ok: true,
      uri: String(steps[1]),
      loadKey: String(steps[2]),
      existing: code === 2,
      loads,
    };
  }

  /**
   * The loads to pick from on the edge (localPickHeadroom), load key -> calls: the set's loads as
   * this edge's last batch returned them, plus the slots it assigned since. Undefined when the
   * edge does not pick (option off), has not seen the set's loads within the last second, or
   * Redis looks away: then the INVITE takes the atomic reserve.
   */
  pickLoads(setid: number): { loads: ReadonlyMap<string, number>; headroom: number } | undefined {
    if (this.localPickHeadroom === undefined || !this.conn.ready) return undefined;
    const seen = this.seen.get(setid);
    if (seen === undefined || Date.now() - seen.at > SEEN_MAX_AGE_MS) return undefined;
    return { loads: seen.estimate, headroom: this.localPickHeadroom };
  }

  /**
   * The edge picked `uri` (lower-cased; load key `loadKey`) for `callId` itself: its slot goes to
   * Redis with the next batch (settleDelayMs at most), is counted in pickLoads at once, and waits
   * in the queue when Redis cannot take it (as releaseOrRetry). A slot the Call-ID holds moves.
   */
  assign(setid: number, callId: string, loadKey: string, uri: string): void {
    const token = this.nextToken();
    const step: Assign = { op: 'assign', setid, callId, token, loadKey, uri, confirmed: false };
    try {
      checkSetId(setid);
      checkCallId(callId);
      if (!/^\S+$/.test(loadKey) || !/^\S+$/.test(uri)) {
        throw new DispatcherFleetError(
          'SIPFLEET_ERR_DISPATCHER_BAD_ARGUMENT',
          `assign needs a load key and URI of one word each, got "${loadKey}" "${uri}"`,
        );
      }
    } catch (err) {
      this.onError(err as Error);
      return;
    }
    // This attempt owns the Call-ID's slot now: a release owed for an earlier one must not free it.
    this.pending.delete(`${setid} ${callId}`);
    const seen = this.seen.get(setid);
    if (seen !== undefined) {
      bump(seen.inflight, loadKey, 1);
      bump(seen.estimate, loadKey, 1);
    }
    this.submit(step);
  }

  private nextToken(): string {
    return `${this.tokenPrefix}.${(this.tokens = (this.tokens + 1) % 0x40000000)}`;
  }

  /** 2xx to the INVITE (ds_load_update): the slot is confirmed for `expireSeconds`. One round trip. */
  async confirm(setid: number, callId: string): Promise<boolean> {
    return (await this.awaited({ op: 'confirm', setid, callId, token: '' })) === 1;
  }

  /**
   * 3xx-6xx, BYE or CANCEL (ds_load_unset): frees the slot exactly once; false when there was
   * none (retransmission, second BYE). With `token`, only the slot that reserve took; when that
   * reserve has taken none (yet), the token is voided and the reserve takes nothing if it runs
   * later. One round trip.
   */
  async release(setid: number, callId: string, token = ''): Promise<boolean> {
    return (await this.awaited({ op: 'release', setid, callId, token })) === 1;
  }

  /** Submits a step whose reply the caller waits for. */
  private awaited(step: Owed | Reserve): Promise<unknown> {
    checkSetId(step.setid);
    checkCallId(step.callId);
    return new Promise((resolve, reject) => this.submit({ ...step, done: { resolve, reject } }));
  }

  /**
   * release() that never throws, for the call path: when Redis cannot be reached (or answers a
   * failover error) the release waits in the queue and is sent after the reconnect.
   */
  releaseOrRetry(setid: number, callId: string): void {
    this.queue({ op: 'release', setid, callId, token: '' });
  }

  /** confirm() that never throws; queued like releaseOrRetry (a later release replaces it). */
  confirmOrRetry(setid: number, callId: string): void {
    this.queue({ op: 'confirm', setid, callId, token: '' });
  }

  private queue(op: Pending): void {
    try {
      checkSetId(op.setid);
      checkCallId(op.callId);
    } catch (err) {
      this.onError(err as Error); // this step alone, not the batch it would have joined
      return;
    }
    const key = `${op.setid} ${op.callId}`;
    const owed = this.pending.get(key);
    if (owed?.op === 'assign') {
      if (op.op === 'confirm') owed.confirmed = true;
      else {
        // The assign may or may not have been applied: release exactly its slot, and void its
        // token in case it has not, so it takes nothing when it comes after all.
        this.pending.delete(key);
        this.submit({ ...op, token: owed.token });
        return;
      }
    }
    this.submit(op);
  }

  /**
   * Adds a step to its set's batch. A step someone waits for (a reserve) goes after this
   * event-loop turn, with everything gathered; the call path's confirms and releases wait up to
   * settleDelayMs for one.
   */
  private submit(step: Step): void {
    let batch = this.batches.get(step.setid);
    if (batch === undefined) this.batches.set(step.setid, (batch = []));
    batch.push(step);
    if (batch.length >= STEP_BATCH_LIMIT) this.sendBatches();
    else if (step.done !== undefined || this.settleDelayMs <= 0)
      this.batchTimer ??= setImmediate(this.sendBatches);
    else this.settleTimer ??= setTimeout(this.sendBatches, this.settleDelayMs);
  }

  /** One ds-call-ops per set with the steps submitted since the last call, in their order. */
  private readonly sendBatches = (): void => {
    clearImmediate(this.batchTimer);
    this.batchTimer = undefined;
    clearTimeout(this.settleTimer);
    this.settleTimer = undefined;
    const batches = this.batches;
    this.batches = new Map();
    for (const [setid, steps] of batches) void this.sendSet(setid, steps);
  };

  private async sendSet(setid: number, steps: readonly Step[]): Promise<void> {
    const k = this.keys(setid);
    const args: (string | number)[] = [
      this.initExpireMs,
      this.expireMs,
      this.purgePerReserve,
      this.owner,
    ];
    for (const s of steps) {
      if (s.op === 'reserve') args.push(s.replace ? 'V' : 'v', s.callId, s.exclude, s.token);
      else if (s.op === 'assign')
        args.push(s.confirmed ? 'A' : 'a', s.callId, `${s.loadKey} ${s.uri}`, s.token);
      else
        args.push(s.op === 'confirm' ? 'c' : 'r', s.callId, s.op === 'release' ? s.token : '', '');
    }
    const picking = this.localPickHeadroom !== undefined;
    if (picking) args.push('l', '-', '', '');
    const sent = this.conn.ready;
    let results: unknown[];
    try {
      [, ...results] = await scriptsFor(this.conn).run(
        'ds-call-ops',
        [k.dst, k.state, k.load, k.calls, k.expiry, k.void],
        args,
      );
    } catch (err) {
      if (picking) this.landed(setid, steps, undefined);
      this.failed(steps, sent, err);
      return;
    }
    if (picking) this.landed(setid, steps, results[steps.length]);
    steps.forEach((s, i) => {
      if (s.op === 'release') this.remember(setid, s.callId, s.token);
      s.done?.resolve(results[i]);
    });
  }

  /**
   * A batch's reply (or failure, `loads` undefined) reached the edge: its assigns are no longer in
   * flight, and the loads the script left become the set's seen loads.
   */
  private landed(setid: number, steps: readonly Step[], loads: unknown): void {
    let seen = this.seen.get(setid);
    if (seen === undefined) {
      if (loads === undefined) return;
      seen = { at: 0, estimate: new Map(), inflight: new Map() };
      this.seen.set(setid, seen);
    }
    // (an assign sent again from the queue, awaited, was counted out when its first batch failed)
    for (const s of steps)
      if (s.op === 'assign' && s.done === undefined) bump(seen.inflight, s.loadKey, -1);
    if (loads === undefined) return;
    const estimate = new Map<string, number>();
    for (const [key, n] of pairs(loads)) estimate.set(key, Number(n));
    for (const [key, n] of seen.inflight) bump(estimate, key, n);
    seen.estimate = estimate;
    seen.at = Date.now();
  }

  /**
   * A batch that failed: callers waiting get the error; a reserve that was sent and may have been
   * applied gets a release of exactly it queued; the call path's confirms and releases wait in
   * the queue when the error is transient, else the error is reported once for the batch.
   */
  private failed(steps: readonly Step[], sent: boolean, err: unknown): void {
    const transient = isTransient(err);
    let report = false;
    for (const s of steps) {
      if (s.op === 'reserve') {
        if (sent && transient)
          this.defer({ op: 'release', setid: s.setid, callId: s.callId, token: s.token });
      } else if (s.op === 'assign' && s.done === undefined) {
        // The call is on its way: its slot is owed, and taken at most once (its token).
        if (transient) this.defer(s);
        else report = true;
      } else if (s.done === undefined) {
        if (transient) this.defer(s);
        else report = true;
      }
      s.done?.reject(err);
    }
    if (report) this.onError(err instanceof Error ? err : toRedisError(err));
  }

  /**
   * One op owed per call: a release wins over a confirm, an unconditional one over a token; an
   * owed assign takes a confirm in (its slot starts confirmed) and becomes a release of its token
   * (applied or not), and a newer assign replaces whatever is owed (it moves any slot held).
   */
  private defer(entry: Owed): void {
    if (this.closed) return; // close() gave the queue up
    const key = `${entry.setid} ${entry.callId}`;
    const held = this.pending.get(key);
    if (held !== undefined) {
      if (held.op === 'assign' && entry.op !== 'assign') {
        if (entry.op === 'confirm') held.confirmed = true;
        else this.pending.set(key, { ...entry, token: held.token });
        return;
      }
      if (held.op === 'release' && (entry.op === 'confirm' || held.token === '')) return;
      this.pending.set(key, entry);
    } else if (this.pending.size >= this.retryQueueLimit) {
      this.outage.dropped++;
      this.emit('dropped', entry.op);
      this.scheduleFlush();
      return;
    } else {
      this.pending.set(key, entry);
    }
    this.outage.deferred++;
    this.emit('deferred', entry.op);
    this.scheduleFlush();
  }

  /** Sends the queue on the next 'up', or after retryQueueDelayMs while the connection looks up. */
  private scheduleFlush(): void {
    if (this.flushing) return;
    if (!this.conn.ready) {
      if (this.waitingForUp) return;
      this.waitingForUp = true;
      this.conn.once('up', () => {
        this.waitingForUp = false;
        void this.flush();
      });
      return;
    }
    if (this.retryTimer !== undefined) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.flush();
    }, this.retryQueueDelayMs);
    this.retryTimer.unref();
  }

  /** Sends every queued op once (in batches); what fails again stays queued for the next try. */
  private async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      const batch = [...this.pending.entries()];
      for (let i = 0; i < batch.length; i += 256) {
        await Promise.all(batch.slice(i, i + 256).map(([key, entry]) => this.send(key, entry)));
      }
    } finally {
      this.flushing = false;
    }
    if (this.pending.size > 0) {
      this.scheduleFlush();
      return;
    }
    const { deferred, dropped, sent } = this.outage;
    this.outage = { deferred: 0, dropped: 0, sent: 0 };
    if (deferred + dropped > 0) {
      this.onError(
        new DispatcherFleetError(
          'SIPFLEET_ERR_DISPATCHER_CALL_LOAD_DEFERRED',
          `call load: ${deferred} release(s)/confirm(s)/assign(s) could not reach Redis and were sent after ` +
            `it came back (${sent} sent)` +
            (dropped > 0 ? `; ${dropped} dropped (queue full): those slots end by expiry` : ''),
        ),
      );
    }
  }

  private async send(key: string, entry: Owed): Promise<void> {
    try {
      if (entry.op === 'confirm') await this.confirm(entry.setid, entry.callId);
      else if (entry.op === 'assign') await this.awaited({ ...entry });
      else await this.release(entry.setid, entry.callId, entry.token);
    } catch (err) {
      if (isTransient(err)) return; // stays queued
      this.onError(err instanceof Error ? err : toRedisError(err));
    }
    // A newer op for the call may have replaced this one while it was on the wire.
    if (this.pending.get(key) === entry) {
      this.pending.delete(key);
      this.outage.sent++;
    }
  }

  /**
   * Drops the unanswered slots reserved by a membership instance whose heartbeat stopped, in
   * every set of the fleet's list (FleetMembership calls it). Returns how many were dropped.
   */
  async reclaim(owner: string): Promise<number> {
    const sets = String((await this.conn.call('HGET', this.conn.keys.dsIndex(), 'sets')) ?? '');
    let dropped = 0;
    for (const id of sets.split(' ').filter((x) => /^\d+$/.test(x))) {
      const k = this.keys(Number(id));
      const [, n] = await scriptsFor(this.conn).run(
        'ds-reclaim',
        [k.load, k.calls, k.expiry],
        [owner],
      );
      dropped += Number(n);
    }
    return dropped;
  }

  /**
   * Sends the steps gathered this turn and stops the retry timer; releases and confirms queued for
   * a Redis outage are given up (the slots end by expiry).
   */
  close(): void {
    this.sendBatches();
    this.closed = true;
    this.conn.off('up', this.replay);
    this.conn.off('failover', this.replay);
    this.recent = [];
    this.recentHead = 0;
    this.seen.clear();
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.pending.clear();
  }

  /**
   * Drops expired slots and rebuilds the set's counters from the live ones. Atomic, so several
   * edges may run it concurrently; O(live calls of the set), so run it on a timer, not per call.
   */
  async reconcile(setid: number): Promise<ReconcileResult> {
    const k = this.keys(setid);
    const [, purged, live, corrected] = await scriptsFor(this.conn).run('ds-reconcile', [
      k.load,
      k.calls,
      k.expiry,
    ]);
    return { purged: Number(purged), live: Number(live), corrected: Number(corrected) };
  }

  /** The set's counters (load key -> live calls), for ctl and tests. */
  async loads(setid: number): Promise<Map<string, number>> {
    const k = this.keys(setid);
    const loads = new Map<string, number>();
    for (const [key, n] of pairs(await this.conn.call('HGETALL', k.load)))
      loads.set(key, Number(n));
    return loads;
  }
}

function bump(counts: Map<string, number>, key: string, by: number): void {
  const n = (counts.get(key) ?? 0) + by;
  if (n > 0) counts.set(key, n);
  else counts.delete(key);
}

function expiryMs(name: string, seconds: number): number {
  const ms = Math.round(seconds * 1000);
  if (!Number.isFinite(seconds) || ms < 1) {
    throw new DispatcherFleetError(
      'SIPFLEET_ERR_DISPATCHER_BAD_ARGUMENT',
      `${name} must be a positive number of seconds, got ${seconds}`,
    );
  }
  return ms;
}

function checkCallId(callId: string): string {
  if (typeof callId !== 'string' || callId.trim() === '') {
    throw new DispatcherFleetError('SIPFLEET_ERR_DISPATCHER_BAD_ARGUMENT', 'Call-ID is empty');
  }
  return callId;
}
