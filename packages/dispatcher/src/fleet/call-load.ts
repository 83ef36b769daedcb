// Call load (algorithm 10) exact across the fleet: Kamailio's ds_load_add / ds_load_update /
// ds_load_unset and its ds_hash_check_interval timer, each one Lua step on the set's Cluster slot.
//
// Cluster keying: every call-load key of a set carries the set's hash tag {ds:<setid>} (dst,
// state, load, calls, expiry), so reserve can read destinations and states and take the slot in
// one script. A Call-ID alone cannot name that slot, so confirm/release take the set id too: the
// edge that selected puts it in its Record-Route URI (routeParam.ts), every in-dialog request and
// every response carries it back, and whichever edge sees the 2xx, BYE or CANCEL makes one
// round trip. (A per-call key {dsc:<callid>} would be findable from the Call-ID but lives in
// another slot: reserve would then need two round trips and could leave one half written.)
import type { RedisConnection } from '@sipfleet/redis';
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
   * (bounded so one INVITE never pays for a backlog).
   * @default 32
   */
  purgePerReserve?: number;
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

const REFUSED = { 10: 'all-at-maxload', 11: 'no-active-destination', 12: 'unknown-set' } as const;

export class CallLoad {
  private readonly initExpireMs: number;
  private readonly expireMs: number;
  private readonly purgePerReserve: number;

  constructor(
    private readonly conn: RedisConnection,
    options: CallLoadOptions = {},
  ) {
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
    };
  }

  /**
   * ds_select_dst with alg 10 + ds_load_add: the least-loaded active destination under its
   * maxload gets a slot for `callId`. One round trip.
   * @throws SipfleetRedisError (e.g. SIPFLEET_ERR_REDIS_UNAVAILABLE) when Redis cannot be asked.
   */
  async reserve(
    setid: number,
    callId: string,
    options: ReserveOptions = {},
  ): Promise<ReserveResult> {
    const k = this.keys(setid);
    const exclude = (options.exclude ?? []).map((u) => u.toLowerCase()).join(' ');
    const reply = await scriptsFor(this.conn).run(
      'ds-reserve',
      [k.dst, k.state, k.load, k.calls, k.expiry],
      [
        checkCallId(callId),
        this.initExpireMs,
        this.purgePerReserve,
        exclude,
        options.replace ? '1' : '0',
      ],
    );
    const code = Number(reply[0]);
    if (code === 10 || code === 11 || code === 12) return { ok: false, reason: REFUSED[code] };
    const loads = new Map<string, number>();
    for (const [key, n] of pairs(reply.slice(3))) loads.set(key, Number(n));
    return {
      ok: true,
      uri: String(reply[1]),
      loadKey: String(reply[2]),
      existing: code === 2,
      loads,
    };
  }

  /** 2xx to the INVITE (ds_load_update): the slot is confirmed for `expireSeconds`. One round trip. */
  async confirm(setid: number, callId: string): Promise<boolean> {
    const k = this.keys(setid);
    const [code] = await scriptsFor(this.conn).run(
      'ds-confirm',
      [k.calls, k.expiry],
      [checkCallId(callId), this.expireMs],
    );
    return code === 1;
  }

  /**
   * 3xx-6xx, BYE or CANCEL (ds_load_unset): frees the slot exactly once; false when there was
   * none (retransmission, second BYE). One round trip.
   */
  async release(setid: number, callId: string): Promise<boolean> {
    const k = this.keys(setid);
    const [code] = await scriptsFor(this.conn).run(
      'ds-release',
      [k.load, k.calls, k.expiry],
      [checkCallId(callId)],
    );
    return code === 1;
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
