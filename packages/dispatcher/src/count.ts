// ds_count(set, filter) and ds_is_active(set[, uri]): questions about a set's destination states,
// answered from a set as the edge's snapshot holds it (no I/O).

import { SipfleetDispatcherError } from './errors.js';
import {
  DS_DISABLED_DST,
  DS_INACTIVE_DST,
  DS_PROBING_DST,
  DS_TRYING_DST,
  isActive,
} from './flags.js';
import { type Destination, type DestinationSet, indexOfUri } from './model.js';

/** Which destinations a ds_count filter letter counts. */
const FILTERS: Readonly<Record<string, (d: Destination) => boolean>> = {
  /** Active: selectable (not inactive, not disabled; trying counts), as ds_is_active. */
  a: (d) => isActive(d),
  /** Inactive (the I flag). */
  i: (d) => (d.flags & DS_INACTIVE_DST) !== 0,
  /** Disabled by an admin (D). */
  d: (d) => (d.flags & DS_DISABLED_DST) !== 0,
  /** Trying (T). */
  t: (d) => (d.flags & DS_TRYING_DST) !== 0,
  /** Probing (P): keepalives are sent to it. */
  p: (d) => (d.flags & DS_PROBING_DST) !== 0,
};

/** A compiled ds_count filter: does a destination count? */
export type CountFilter = (d: Destination) => boolean;

/**
 * Compiles a ds_count filter: letters (any case) of which a destination must match at least one:
 * `a` active (selectable), `i` inactive, `d` disabled, `t` trying, `p` probing. So `a` counts
 * the usable ones, `id` the unusable ones, `ip` those inactive or being probed. `*` counts every
 * destination.
 * @throws SipfleetDispatcherError SIPFLEET_ERR_DISPATCHER_STATE on an empty filter or another letter.
 */
export function parseCountFilter(filter: string): CountFilter {
  if (filter === '*') return () => true;
  const tests = [...filter.toLowerCase()].map((ch) => {
    const test = FILTERS[ch];
    if (test === undefined) {
      throw new SipfleetDispatcherError(
        'SIPFLEET_ERR_DISPATCHER_STATE',
        `ds_count filter '${filter}' has an unknown letter '${ch}' (expected a, i, d, t, p or *)`,
      );
    }
    return test;
  });
  if (tests.length === 0) {
    throw new SipfleetDispatcherError('SIPFLEET_ERR_DISPATCHER_STATE', 'ds_count filter is empty');
  }
  return (d) => tests.some((t) => t(d));
}

/** ds_count(set, filter): destinations of `set` the filter counts (0 for a missing set). */
export function countDestinations(
  set: DestinationSet | undefined,
  filter: string | CountFilter,
): number {
  if (set === undefined) return 0;
  const test = typeof filter === 'string' ? parseCountFilter(filter) : filter;
  let n = 0;
  for (const d of set.destinations) if (test(d)) n++;
  return n;
}

/**
 * ds_is_active(set[, uri]): without `uri`, whether the set has an active (selectable)
 * destination; with it, whether that destination (matched case-insensitively) is in the set and
 * active. False for a missing set.
 */
export function setIsActive(set: DestinationSet | undefined, uri?: string): boolean {
  if (set === undefined) return false;
  if (uri === undefined) return set.destinations.some((d) => isActive(d));
  const d = set.destinations[indexOfUri(set, uri)];
  return d !== undefined && isActive(d);
}
