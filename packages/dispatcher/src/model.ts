// What each edge holds locally: destinations, destination sets in Kamailio's order with their
// weight tables precomputed, and an immutable versioned snapshot of all sets.

import { isActive } from './flags.js';
import { randomIndex, seededRandom, type RandomSource } from './prng.js';

/** The `attrs` column (`k=v;k=v`): Kamailio's special attributes, plus every other key in order. */
export interface DestinationAttrs {
  /** Destination unique id; the key of the call-load counters (alg 10). */
  readonly duid?: string;
  /** Percent of calls for alg 9, 1-100 (0 or absent: none). */
  readonly weight?: number;
  /** Relative weight for alg 11, 1-100 (0 or absent: excluded from alg 11's table). */
  readonly rweight?: number;
  /** Upper limit of active calls for alg 10; 0 or absent: no limit. */
  readonly maxload?: number;
  /** Sending socket, `proto:host:port`. */
  readonly socket?: string;
  /** Sending socket by the listener's name (`sockname`); `socket` wins when both are set. */
  readonly sockname?: string;
  /** From URI of keepalive OPTIONS for this destination (`ping_from`). */
  readonly pingFrom?: string;
  /** Outbound proxy for keepalive OPTIONS (`obproxy`). */
  readonly obproxy?: string;
  /** `cc=1`: alg 13 uses the congestion (estimate - average) instead of the latency estimate, and alg 11 lowers the relative weight by it. */
  readonly congestionControl?: boolean;
  /** Every other attribute, in file order (names as written). */
  readonly extra: ReadonlyMap<string, string>;
}

export interface Destination {
  readonly setid: number;
  /** The SIP URI exactly as listed (Kamailio prepends `sip:` when the scheme is missing). */
  readonly uri: string;
  /** Bit set of DS_*_DST flags (flags.ts). */
  readonly flags: number;
  readonly priority: number;
  readonly attrs: DestinationAttrs;
  /** Free text after the attrs column (a sipfleet extension; Kamailio ignores it). */
  readonly description?: string;
}

/**
 * One destination set (group), destinations in Kamailio's order: priority descending, and among
 * equal priorities the REVERSE of file order (dispatch.c add_dest2list keeps an ascending list
 * with later lines after earlier ones, then reindex_dests copies it backwards). Hash algorithms
 * pick `destinations[hash % length]`, so this order is what makes our choices match Kamailio's.
 */
export interface DestinationSet {
  readonly id: number;
  readonly destinations: readonly Destination[];
  /**
   * Alg 9: 100 slots holding destination indexes, shuffled; undefined when the first destination
   * has no weight (Kamailio then leaves its table zeroed, i.e. alg 9 always starts at index 0).
   */
  readonly weightSlots: readonly number[] | undefined;
  /** Alg 11: 100 slots over the active destinations by rweight; undefined when none applies. */
  readonly rweightSlots: readonly number[] | undefined;
}

/** Options for building a set's tables. */
export interface SetBuildOptions {
  /**
   * Source for shuffling the 100 weight slots. Kamailio shuffles with its process-local random
   * generator; we default to a PRNG seeded from the set id so every edge of a fleet holds the same
   * table and a fleet-wide counter walks one shared sequence.
   * @default seededRandom(0x5f3759df ^ setid)
   */
  readonly random?: RandomSource;
}

/**
 * Builds a set from destinations given in FILE order: sorts them as Kamailio does and
 * precomputes the alg 9 and alg 11 tables. O(n log n) once per snapshot, never per call.
 */
export function buildSet(
  id: number,
  fileOrder: readonly Destination[],
  options: SetBuildOptions = {},
): DestinationSet {
  // Array.prototype.sort is stable: sorting the reversed file order by priority descending gives
  // descending priorities with ties in reverse file order, exactly Kamailio's layout.
  const destinations = [...fileOrder].reverse().sort((a, b) => b.priority - a.priority);
  return withTables(id, destinations, options.random);
}

/** Rebuilds the tables of a set whose destinations are already in set order (e.g. new flags). */
export function rebuildSet(
  set: DestinationSet,
  destinations: readonly Destination[],
  options: SetBuildOptions = {},
): DestinationSet {
  return withTables(set.id, destinations, options.random);
}

function withTables(
  id: number,
  destinations: readonly Destination[],
  random: RandomSource | undefined,
): DestinationSet {
  const frozen = Object.freeze([...destinations]);
  return Object.freeze({
    id,
    destinations: frozen,
    weightSlots: weightSlots(frozen, random ?? seededRandom(0x5f3759df ^ id)),
    rweightSlots: rweightSlots(frozen, random ?? rweightSeed(id)),
  });
}

/**
 * dispatch.c dp_init_weights: slot table of 100 entries. Each destination, in set order, takes
 * `weight` slots (its percentage); past 100 slots the rest are ignored; if the weights sum to
 * less than 100 the LAST destination of the set takes the remaining slots. Then the 100 slots are
 * shuffled (Fisher-Yates, Kamailio's shuffle_uint100array) so the first N calls are not all sent to
 * the first destination, while every run of 100 consecutive slots still has the exact shares.
 * Inactive destinations keep their slots: a call landing on one moves on to the next active one
 * in set order, as in Kamailio.
 */
function weightSlots(
  destinations: readonly Destination[],
  random: RandomSource,
): readonly number[] | undefined {
  if (destinations.length === 0 || !destinations[0]?.attrs.weight) return undefined;
  const slots: number[] = [];
  fill: for (let j = 0; j < destinations.length; j++) {
    const weight = destinations[j]?.attrs.weight ?? 0;
    for (let k = 0; k < weight; k++) {
      if (slots.length >= 100) break fill;
      slots.push(j);
    }
  }
  while (slots.length < 100) slots.push(destinations.length - 1);
  return Object.freeze(shuffle(slots, random));
}

/**
 * dispatch.c dp_init_relative_weights: like weights, but over ACTIVE destinations only and
 * relative to their sum: each takes trunc(rweight * 100 / sum) slots, the last inserted one takes
 * what truncation left, then shuffle. Kamailio rebuilds it on every active/inactive change; here a
 * flag change makes a new snapshot, which rebuilds it. With fewer than two destinations Kamailio
 * never fills it (index 0); with no active rweight it keeps the previous table, where we have none
 * and start at index 0 (then the next active one), a deliberate simplification.
 */
function rweightSlots(
  destinations: readonly Destination[],
  random: RandomSource,
): readonly number[] | undefined {
  return relativeWeightSlots(destinations, (d) => d.attrs.rweight ?? 0, random);
}

/**
 * dp_init_relative_weights over the rweight `rweightOf` gives each destination (its `rweight`
 * attribute, or what congestion control made of it: algorithms.ts).
 */
export function relativeWeightSlots(
  destinations: readonly Destination[],
  rweightOf: (d: Destination, index: number) => number,
  random: RandomSource,
): readonly number[] | undefined {
  if (destinations.length < 2) return undefined;
  let sum = 0;
  destinations.forEach((d, j) => {
    if (isActive(d)) sum += rweightOf(d, j);
  });
  if (sum === 0) return undefined;
  const slots: number[] = [];
  for (let j = 0; j < destinations.length; j++) {
    const d = destinations[j];
    if (d === undefined || !isActive(d)) continue;
    const slice = Math.trunc((rweightOf(d, j) * 100) / sum);
    for (let k = 0; k < slice && slots.length < 100; k++) slots.push(j);
  }
  const last = slots.length > 0 ? (slots[slots.length - 1] ?? 0) : destinations.length - 1;
  while (slots.length < 100) slots.push(last);
  return Object.freeze(shuffle(slots, random));
}

/** The seed of a set's alg 11 table: every edge shuffles the same way (see SetBuildOptions). */
export function rweightSeed(setid: number): RandomSource {
  return seededRandom(0x2545f491 ^ setid);
}

/** Kamailio's shuffle_uint100array: for j in 0..99, swap slot j with a random slot in [j, 100). */
function shuffle(slots: number[], random: RandomSource): number[] {
  for (let j = 0; j < slots.length; j++) {
    const k = j + randomIndex(random, slots.length - j);
    const t = slots[j] as number;
    slots[j] = slots[k] as number;
    slots[k] = t;
  }
  return slots;
}

/** Every set an edge routes with, immutable; a change yields a new snapshot with a higher version. */
export interface Snapshot {
  readonly version: number;
  readonly sets: ReadonlyMap<number, DestinationSet>;
}

export function createSnapshot(sets: Iterable<DestinationSet>, version = 0): Snapshot {
  const map = new Map<number, DestinationSet>();
  for (const set of sets) map.set(set.id, set);
  return Object.freeze({ version, sets: map });
}

/**
 * Index of `uri` in `set`, matched case-insensitively as Kamailio's ds_update_state does
 * (strncasecmp over the whole URI); -1 when absent.
 */
export function indexOfUri(set: DestinationSet, uri: string): number {
  const wanted = uri.toLowerCase();
  return set.destinations.findIndex(
    (d) => d.uri.length === uri.length && d.uri.toLowerCase() === wanted,
  );
}

/**
 * A snapshot where one destination has new flags, version + 1, and the affected set's rweight
 * table rebuilt (Kamailio's ds_reinit_rweight_on_state_change). Returns the same snapshot when
 * the set or URI is unknown or the flags are unchanged, so callers can compare by identity.
 */
export function withFlags(
  snapshot: Snapshot,
  setid: number,
  uri: string,
  flags: number,
  options: SetBuildOptions = {},
): Snapshot {
  const set = snapshot.sets.get(setid);
  if (set === undefined) return snapshot;
  const i = indexOfUri(set, uri);
  const old = set.destinations[i];
  if (old === undefined || old.flags === flags) return snapshot;
  const destinations = set.destinations.slice();
  destinations[i] = Object.freeze({ ...old, flags });
  const sets = new Map(snapshot.sets);
  sets.set(setid, rebuildSet(set, destinations, options));
  return Object.freeze({ version: snapshot.version + 1, sets });
}
