// The per-call cursor over a Selection: what ds_select_dst() put in the XAVP list and
// ds_next_dst() walks, so the proxy's failure hook can ask for the next destination.

import type { Candidate, Selection } from './algorithms.js';
import type { Destination } from './model.js';

export class FailoverCursor {
  readonly #candidates: readonly Candidate[];
  #position = 0;
  readonly #tried: Candidate[] = [];

  constructor(readonly selection: Selection) {
    this.#candidates = selection.candidates;
  }

  /**
   * The next destination to relay to: the selected one on the first call, then the failover
   * order (ds_next_dst). Like Kamailio, the list was fixed at selection time; `accept` lets the
   * caller skip candidates that went down meanwhile (e.g. `(d) => isActive(current flags)`),
   * which Kamailio does not do. Undefined when none is left.
   */
  next(accept?: (destination: Destination) => boolean): Candidate | undefined {
    while (this.#position < this.#candidates.length) {
      const c = this.#candidates[this.#position++];
      if (c === undefined) continue;
      if (accept !== undefined && !accept(c.destination)) continue;
      this.#tried.push(c);
      return c;
    }
    return undefined;
  }

  /** The candidate last returned by next() (the one ds_mark_dst() would mark). */
  get current(): Candidate | undefined {
    return this.#tried[this.#tried.length - 1];
  }

  /** Every candidate returned so far, in order. */
  get tried(): readonly Candidate[] {
    return this.#tried;
  }

  /** Candidates not yet returned or skipped. */
  get remaining(): number {
    return this.#candidates.length - this.#position;
  }
}
