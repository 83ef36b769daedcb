// ds_select_routes(rules): several set/algorithm pairs in one selection, written as Kamailio
// writes them, "1=4;2=0" (set 1 with round-robin, then set 2 with the Call-ID hash).

import { SipfleetDispatcherError } from './errors.js';

/** One `set=algorithm` pair of a ds_select_routes rule string. */
export interface RouteRule {
  readonly set: number;
  readonly alg: number;
}

/**
 * Parses a ds_select_routes rule string: `set=alg` pairs separated by `;` (white space around the
 * parts and one trailing `;` are ignored), e.g. `1=4;2=0`. Set ids are non-negative int32,
 * algorithms 0-13.
 * @throws SipfleetDispatcherError SIPFLEET_ERR_DISPATCHER_ROUTES naming the bad pair.
 */
export function parseRouteRules(text: string): RouteRule[] {
  const parts = text.trim().replace(/;\s*$/, '').split(';');
  return parts.map((part) => {
    const m = /^\s*(\d{1,10})\s*=\s*(\d{1,2})\s*$/.exec(part);
    const set = Number(m?.[1]);
    const alg = Number(m?.[2]);
    if (m === null || set > 0x7fffffff || alg > 13) {
      throw new SipfleetDispatcherError(
        'SIPFLEET_ERR_DISPATCHER_ROUTES',
        `dispatcher routes '${text}': '${part.trim()}' is not set=algorithm (a set id and an algorithm 0-13, e.g. 1=4;2=0)`,
      );
    }
    return { set, alg };
  });
}
