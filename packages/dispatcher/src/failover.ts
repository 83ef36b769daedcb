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

export interface MarkEvidenceOptions {
  /**
   * Failures of one destination, seen by this edge within `windowMs`, before the call path may
   * mark it down fleet-wide (one lost INVITE is not a dead server).
   * @default 3
   */
  readonly failures?: number;
  /** @default 10000 */
  readonly windowMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

/**
 * What the failure route needs before `ds_mark_dst` from the call path: a failure *rate* per
 * destination instead of a single failure. Kamailio marks on the first failure; a fleet shares
 * the mark, so one edge's bad second (its own overload, one lost packet) would otherwise take a
 * healthy destination away from every edge.
 */
export class MarkEvidence {
  readonly failures: number;
  readonly windowMs: number;
  private readonly now: () => number;
  /** Destination URI -> times of its recent failures (at most `failures` kept). */
  private readonly seen = new Map<string, number[]>();

  constructor(options: MarkEvidenceOptions = {}) {
    this.failures = options.failures ?? 3;
    this.windowMs = options.windowMs ?? 10_000;
    this.now = options.now ?? Date.now;
    if (!Number.isInteger(this.failures) || this.failures < 1 || !(this.windowMs > 0)) {
      throw new RangeError(
        `mark evidence needs failures >= 1 and windowMs > 0, got ${this.failures}, ${this.windowMs}`,
      );
    }
  }

  /**
   * Counts one failure of `uri`; true when it makes `failures` within `windowMs` (the count then
   * starts again, so a destination that stays bad is marked again only after new evidence).
   */
  record(uri: string): boolean {
    const now = this.now();
    const key = uri.toLowerCase();
    const times = (this.seen.get(key) ?? []).filter((t) => now - t < this.windowMs);
    times.push(now);
    if (times.length >= this.failures) {
      this.seen.delete(key);
      return true;
    }
    this.seen.set(key, times);
    // Forget destinations whose evidence is stale, so the map stays as small as the set.
    if (this.seen.size > 1024) {
      for (const [k, v] of this.seen) {
        if (v.every((t) => now - t >= this.windowMs)) this.seen.delete(k);
      }
    }
    return false;
  }
}
