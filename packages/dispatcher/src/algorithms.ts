// ds_select_dst(): the ordered list of destinations to try for one request, for every Kamailio
// algorithm 0-13 (dispatch.c ds_manage_routes). Pure: whatever is shared across the fleet (the
// round-robin counter, call loads, latency estimates) comes in through SelectState, so the Redis
// layer decides where it lives and this file never does I/O. O(set size) per call; the
// allocations are the returned candidate array (candidate objects are cached per set) and, for
// hashing algorithms, the hash's small result object.

import { type Algorithm, type CallInput, DS_ALG, hashCallInput } from './algorithm-table.js';
import { isActive } from './flags.js';
import {
  type Destination,
  type DestinationSet,
  rebuildSet,
  relativeWeightSlots,
  rweightSeed,
} from './model.js';
import { randomIndex, type RandomSource } from './prng.js';

/** Latency statistics of one destination, as Kamailio's ds_ping_latency_stats keeps them (ms). */
export interface LatencyEstimate {
  /** EWMA of recent keepalive round trips (Kamailio EST; alpha = ds_latency_estimator_alpha). */
  readonly estimate: number;
  /** Long-run average (Kamailio AVG); `cc=1` destinations use estimate - average (congestion). */
  readonly average: number;
}

/** Everything `dispatcher.list` shows under LATENCY (dispatcher.c ds_rpc_print_set), in ms. */
export interface LatencyStats extends LatencyEstimate {
  /** Standard deviation of the round trips (STD; Welford's online algorithm). */
  readonly std: number;
  /** Longest round trip seen (MAX). */
  readonly max: number;
  /** Round trips measured (the count behind AVG). */
  readonly samples: number;
  /** Keepalives that got no reply in time (TIMEOUT). */
  readonly timeouts: number;
}

/** Runtime values supplied by the caller; what each algorithm reads is listed per field. */
export interface SelectState {
  /**
   * A per-(set, algorithm) counter that the caller increments once per selection: round-robin
   * position for alg 4 and alg 5 without credentials; slot (mod 100) for alg 9 and 11; start
   * position for alg 13. Fleet-wide it is one Redis INCR; in tests any integer.
   */
  readonly counter?: number;
  /**
   * Alg 6, and alg 9/11 when no counter is given (a random slot).
   * @default Math.random
   */
  readonly random?: RandomSource;
  /** Alg 10: active calls per duid; a missing duid counts as 0 calls. */
  readonly loads?: ReadonlyMap<string, number>;
  /**
   * Alg 13, and alg 11 with `cc=1` destinations: latency statistics per LOWER-CASED destination
   * URI (as the prober stores them); a missing URI counts as 0 ms.
   */
  readonly latency?: ReadonlyMap<string, LatencyEstimate>;
}

export interface SelectOptions {
  /**
   * Most candidates to return, the selected one included (ds_select_dst's `limit`).
   * @default 0 (no limit)
   */
  readonly limit?: number;
  /**
   * Hash only the user part of URIs (Kamailio's `flags` modparam bit 1, DS_HASH_USER_ONLY).
   * @default false
   */
  readonly userOnly?: boolean;
  /**
   * Kamailio's `use_default` modparam: the LAST destination of the set (in set order) is kept
   * out of the selection and only appended as the final candidate, so it gets a call only when
   * every other destination is down or has failed (e.g. an announcement server). A set of one
   * destination is used as is.
   * @default false
   */
  readonly useDefault?: boolean;
}

/** One destination to try, with its position in the set. */
export interface Candidate {
  readonly destination: Destination;
  readonly index: number;
}

export type SelectFailureReason =
  /** The set has no destinations. */
  | 'empty-set'
  /** Every destination is inactive or disabled. */
  | 'no-active-destination'
  /** Alg 10: every active destination is at its maxload. */
  | 'all-at-maxload'
  /** The algorithm needs an input or state value that was not given. */
  | 'missing-input'
  /** An input is unusable (a URI without host, an empty alg 7 value, a bad counter or limit). */
  | 'bad-input';

export interface Selection {
  readonly setId: number;
  readonly alg: number;
  /**
   * Destinations in the order to try them: the selected one first, then the failover order
   * (ds_next_dst). Empty when the selection failed.
   */
  readonly candidates: readonly Candidate[];
  /** Alg 12: relay to every candidate at once (parallel forking); no serial failover follows. */
  readonly parallel: boolean;
  readonly failure?: { readonly reason: SelectFailureReason; readonly message: string };
}

const candidateCache = new WeakMap<DestinationSet, readonly Candidate[]>();

function candidatesOf(set: DestinationSet): readonly Candidate[] {
  let list = candidateCache.get(set);
  if (list === undefined) {
    list = Object.freeze(
      set.destinations.map((destination, index) => Object.freeze({ destination, index })),
    );
    candidateCache.set(set, list);
  }
  return list;
}

/**
 * Selects destinations from `set` with Kamailio algorithm `alg`.
 *
 * Common rule (ds_manage_routes): the algorithm yields a number, taken modulo the set size; if
 * that destination is inactive or disabled the next one in set order is used (wrapping); the
 * failover list is then the destinations AFTER the selected one to the end of the set, followed by
 * those BEFORE it, skipping inactive/disabled ones (ds_manage_routes_fill_xavp). Alg 10 and 13
 * order differently (see there); an algorithm number Kamailio does not know uses the first entry.
 */
export function select(
  set: DestinationSet,
  alg: Algorithm | number,
  input: CallInput,
  state: SelectState = {},
  options: SelectOptions = {},
): Selection {
  const n = set.destinations.length;
  if (n === 0) return failed(set, alg, 'empty-set', `destination set ${set.id} is empty`);
  const limit = options.limit ?? 0;
  if (!Number.isInteger(limit) || limit < 0) {
    return failed(set, alg, 'bad-input', `limit must be a non-negative integer, got ${limit}`);
  }
  const max = limit === 0 ? n : Math.min(limit, n);
  if (options.useDefault === true && n > 1)
    return withDefault(set, alg, input, state, options, max);
  const random = state.random ?? Math.random;

  // Algorithms 0-3, 5 and 7 hash the call input the table names for them; alg 5 without
  // credentials runs round-robin instead (dispatch.c), keeping its own number in the result.
  const key = hashCallInput(alg, input, options.userOnly);
  if (key?.kind === 'failure') return failed(set, alg, key.reason, key.message);
  if (key?.kind === 'hash') return walk(set, alg, key.hash % n, max, false);
  let start: number;
  switch (key?.kind === 'otherwise' ? key.alg : alg) {
    case DS_ALG.ROUND_ROBIN: {
      // Difference: Kamailio moves its position to selected + 1 (past inactive ones); a fleet
      // counter just advances by one per call.
      const c = counterMod(state.counter, n);
      if (typeof c === 'string')
        return failed(set, alg, c === 'missing' ? 'missing-input' : 'bad-input', counterMessage(c));
      start = c;
      break;
    }
    case DS_ALG.RANDOM:
      start = randomIndex(random, n);
      break;
    case DS_ALG.WEIGHT:
    case DS_ALG.RELATIVE_WEIGHT: {
      const slots = alg === DS_ALG.WEIGHT ? set.weightSlots : congestionSlots(set, state.latency);
      let slot: number;
      if (state.counter === undefined) {
        slot = randomIndex(random, 100);
      } else {
        const c = counterMod(state.counter, 100);
        if (typeof c === 'string') return failed(set, alg, 'bad-input', counterMessage(c));
        slot = c;
      }
      start = (slots?.[slot] ?? 0) % n;
      break;
    }
    case DS_ALG.CALL_LOAD:
      return callLoad(set, state.loads, max);
    case DS_ALG.LATENCY: {
      let z = 0;
      if (state.counter !== undefined) {
        const c = counterMod(state.counter, n);
        if (typeof c === 'string') return failed(set, alg, 'bad-input', counterMessage(c));
        z = c;
      }
      return latency(set, z, state.latency, max);
    }
    default:
      // DS_ALG_SERIAL (8), DS_ALG_PARALLEL (12) and unknown algorithms: the first entry.
      // Difference for 12: Kamailio's ds_add_branches forks to every entry after the first
      // active one without checking state; walk() skips inactive ones and applies `limit`.
      start = 0;
  }
  return walk(set, alg, start, max, alg === DS_ALG.PARALLEL);
}

const headCache = new WeakMap<DestinationSet, DestinationSet>();

/**
 * use_default (dispatch.c ds_manage_routes with ds_use_default): the algorithm runs over every
 * destination but the last (hashes and counters taken modulo n - 1), and the last one, when
 * active, is appended as the final candidate, or is the only one when no other is active. Alg 12
 * forks to the others only (the default is not a parallel branch). The head set is built once
 * per set (its own weight tables over n - 1 destinations: Kamailio keeps the full-set table and
 * maps a slot of the last destination modulo n - 1, a difference only alg 9 can show).
 */
function withDefault(
  set: DestinationSet,
  alg: Algorithm | number,
  input: CallInput,
  state: SelectState,
  options: SelectOptions,
  max: number,
): Selection {
  let head = headCache.get(set);
  if (head === undefined) {
    head = rebuildSet(set, set.destinations.slice(0, -1));
    headCache.set(set, head);
  }
  const picked = select(head, alg, input, state, { ...options, useDefault: false, limit: 0 });
  const fallback = candidatesOf(set)[set.destinations.length - 1];
  const usable = fallback !== undefined && isActive(fallback.destination);
  const noneActive =
    picked.failure?.reason === 'no-active-destination' ||
    picked.failure?.reason === 'all-at-maxload';
  if (picked.failure !== undefined && !(noneActive && usable)) return { ...picked, setId: set.id };
  const candidates = [...picked.candidates];
  if (usable && (!picked.parallel || candidates.length === 0)) candidates.push(fallback);
  return { setId: set.id, alg, candidates: candidates.slice(0, max), parallel: picked.parallel };
}

/** A hashing algorithm's pick explained: the hash, and the index it names before the skip rule. */
export interface HashedSelection {
  /** Undefined when the input gives no hash (unusable, or alg 5 without credentials). */
  readonly hash: number | undefined;
  /** hash % set size: the destination the hash names, which the selection skips when it is down. */
  readonly index: number | undefined;
  readonly selection: Selection;
}

/**
 * select() for a hashing algorithm, with the hash it used. No state is passed: a hash reads none
 * (alg 5 without credentials would need the round-robin counter, so it fails with missing-input).
 */
export function selectHashed(
  set: DestinationSet,
  alg: Algorithm | number,
  input: CallInput,
  options: SelectOptions = {},
): HashedSelection {
  const key = hashCallInput(alg, input, options.userOnly);
  const hash = key?.kind === 'hash' ? key.hash : undefined;
  const n = set.destinations.length;
  const index = hash === undefined || n === 0 ? undefined : hash % n;
  return { hash, index, selection: select(set, alg, input, {}, options) };
}

/** The common rule: first active at or after `start`, then the rest after it, then before it. */
function walk(
  set: DestinationSet,
  alg: number,
  start: number,
  max: number,
  parallel: boolean,
): Selection {
  const all = candidatesOf(set);
  const n = all.length;
  let first = -1;
  for (let k = 0; k < n; k++) {
    const i = (start + k) % n;
    if (isActive(all[i]?.destination.flags ?? 1)) {
      first = i;
      break;
    }
  }
  if (first < 0) {
    return failed(set, alg, 'no-active-destination', `no active destination in set ${set.id}`);
  }
  const out: Candidate[] = [];
  for (let k = 0; k < n && out.length < max; k++) {
    const c = all[(first + k) % n];
    if (c !== undefined && isActive(c.destination)) out.push(c);
  }
  return { setId: set.id, alg, candidates: out, parallel };
}

/** What a destination's call load is counted under: its duid, else its lower-cased URI. */
export function loadKeyOf(d: Destination): string {
  return d.attrs.duid ?? d.uri.toLowerCase();
}

/**
 * Alg 10 (dispatch.c ds_get_leastloaded): the active destination with the fewest active calls
 * among those under their maxload (0 = unlimited); ties go to the earlier one in set order. The
 * failover list follows the common rule but also skips destinations at maxload. Only the ORDER is
 * computed here: reserving the call slot (ds_load_add) is the caller's atomic step, after which
 * the load may have changed, exactly as Kamailio notes for its failover list. Kamailio only
 * applies alg 10 to INVITEs (other methods use the first entry); choosing when to call it is the
 * caller's job.
 */
function callLoad(
  set: DestinationSet,
  loads: ReadonlyMap<string, number> | undefined,
  max: number,
): Selection {
  const all = candidatesOf(set);
  const n = all.length;
  // Difference: a destination without duid is counted under its lower-cased URI, as the fleet's
  // call-load script counts it (Kamailio logs an error at ds_load_add and dispatches it untracked).
  const loadOf = (d: Destination) => loads?.get(loadKeyOf(d)) ?? 0;
  const underMax = (d: Destination) => !d.attrs.maxload || loadOf(d) < d.attrs.maxload;
  let best = -1;
  let bestLoad = Infinity;
  let anyActive = false;
  for (let j = 0; j < n; j++) {
    const d = all[j]?.destination;
    if (d === undefined || !isActive(d)) continue;
    anyActive = true;
    const load = loadOf(d);
    if (underMax(d) && load < bestLoad) {
      best = j;
      bestLoad = load;
    }
  }
  if (best < 0) {
    return anyActive
      ? failed(
          set,
          DS_ALG.CALL_LOAD,
          'all-at-maxload',
          `every active destination of set ${set.id} is at maxload`,
        )
      : failed(
          set,
          DS_ALG.CALL_LOAD,
          'no-active-destination',
          `no active destination in set ${set.id}`,
        );
  }
  const out: Candidate[] = [];
  for (let k = 0; k < n && out.length < max; k++) {
    const c = all[(best + k) % n];
    if (c !== undefined && isActive(c.destination) && underMax(c.destination)) out.push(c);
  }
  return { setId: set.id, alg: DS_ALG.CALL_LOAD, candidates: out, parallel: false };
}

/**
 * Alg 13 (dispatch.c ds_manage_route_algo13), "latency optimized dispatching": starting at the
 * round-robin position `z`, every active destination gets a running priority
 *   rpriority = priority - trunc(latency / priority)   when latency > priority > 0, else priority,
 * never below 1 when priority > 0, where latency = trunc(estimate) ms, or trunc(estimate - average)
 * for `cc=1` destinations (congestion instead of raw latency). Candidates are sorted by rpriority
 * descending, stable, so equal ones keep the round-robin rotation from `z`. So a destination
 * loses one priority point per `priority` ms of latency: with priority 10, 30 ms costs 3 points.
 * Kamailio advances its position to the selected index + 1; with a caller-supplied counter the
 * position simply advances by one per call (see README, differences).
 */
function latency(
  set: DestinationSet,
  z: number,
  stats: ReadonlyMap<string, LatencyEstimate> | undefined,
  max: number,
): Selection {
  const all = candidatesOf(set);
  const n = all.length;
  const ranked: { c: Candidate; rpriority: number }[] = [];
  for (let y = 0; y < n; y++) {
    const c = all[(z + y) % n];
    if (c === undefined || !isActive(c.destination)) continue;
    const d = c.destination;
    const s = stats?.get(d.uri.toLowerCase());
    const ms =
      s === undefined
        ? 0
        : Math.trunc(d.attrs.congestionControl ? s.estimate - s.average : s.estimate);
    const priority = d.priority;
    const handicap = ms > priority && priority > 0 ? Math.trunc(ms / priority) : 0;
    let rpriority = priority - handicap;
    if (rpriority < 1 && priority > 0) rpriority = 1;
    ranked.push({ c, rpriority });
  }
  if (ranked.length === 0) {
    return failed(
      set,
      DS_ALG.LATENCY,
      'no-active-destination',
      `no active destination in set ${set.id}`,
    );
  }
  ranked.sort((a, b) => b.rpriority - a.rpriority);
  const out: Candidate[] = [];
  for (const r of ranked) {
    if (out.length >= max) break;
    out.push(r.c);
  }
  return { setId: set.id, alg: DS_ALG.LATENCY, candidates: out, parallel: false };
}

/**
 * Alg 11's table with congestion control (dispatch.c ds_update_latency and
 * ds_update_weighted_congestion_control). A `cc=1` destination with a weight takes as relative
 * weight its `weight` minus its congestion in ms (trunc(estimate - average), never below 0), floored
 * at 0 (congested); other destinations keep their `rweight`. When every destination has `cc=1`,
 * more than one is congested and none is not, each takes (total congestion << 4) / its own
 * congestion instead, so the load follows the ratio of congestion. The table is rebuilt with the
 * set's seed (the same on every edge) once per latency refresh, not per call.
 *
 * Difference: Kamailio recomputes this on each keepalive reply and rebuilds the table at once only
 * when every destination of the set has `cc=1` (otherwise the new rweight waits for the next state
 * change); sipfleet applies the current estimates whenever a destination has `cc=1`.
 */
function congestionSlots(
  set: DestinationSet,
  latency: ReadonlyMap<string, LatencyEstimate> | undefined,
): readonly number[] | undefined {
  if (latency === undefined || !set.destinations.some((d) => d.attrs.congestionControl)) {
    return set.rweightSlots;
  }
  const cached = congestionCache.get(set);
  if (cached?.latency === latency) return cached.slots;
  const congestion = set.destinations.map((d) => {
    const s = latency.get(d.uri.toLowerCase());
    return s === undefined ? 0 : Math.trunc(s.estimate - s.average);
  });
  let congested = 0;
  let normal = 0;
  let total = 0;
  const rweights = set.destinations.map((d, j) => {
    const weight = d.attrs.weight ?? 0;
    if (!d.attrs.congestionControl || weight <= 0) return d.attrs.rweight ?? 0;
    const ms = Math.max(0, congestion[j] ?? 0);
    total += ms;
    const active = Math.max(0, weight - ms);
    if (active === 0) congested++;
    else normal++;
    return active;
  });
  const allCc = set.destinations.every((d) => d.attrs.congestionControl);
  if (allCc && congested > 1 && normal === 0) {
    congestion.forEach((ms, j) => {
      rweights[j] = Math.trunc((total << 4) / Math.max(1, ms));
    });
  }
  const slots = relativeWeightSlots(
    set.destinations,
    (_d, j) => rweights[j] ?? 0,
    rweightSeed(set.id),
  );
  congestionCache.set(set, { latency, slots });
  return slots;
}

const congestionCache = new WeakMap<
  DestinationSet,
  { latency: ReadonlyMap<string, LatencyEstimate>; slots: readonly number[] | undefined }
>();

type CounterProblem = 'missing' | 'invalid';

function counterMod(counter: number | undefined, n: number): number | CounterProblem {
  if (counter === undefined) return 'missing';
  if (!Number.isSafeInteger(counter)) return 'invalid';
  return ((counter % n) + n) % n;
}

function counterMessage(problem: CounterProblem): string {
  return problem === 'missing'
    ? 'this algorithm needs state.counter (the round-robin counter)'
    : 'state.counter must be a safe integer';
}

function failed(
  set: DestinationSet,
  alg: number,
  reason: SelectFailureReason,
  message: string,
): Selection {
  return { setId: set.id, alg, candidates: [], parallel: false, failure: { reason, message } };
}
