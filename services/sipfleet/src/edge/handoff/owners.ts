// Which edge holds which server transaction, as the edges announced it (handoff.ts): a map look-up
// on the receive path instead of a Redis round trip. One table per transaction kind, so that every
// entry of a table lives as long (the kind's transaction lifetime) and insertion order is expiry
// order: the sweep stops at the first live entry, and a full table drops the oldest.

/** Server transactions announced by other edges, with a fixed lifetime and a bounded size. */
export class OwnerTable {
  /** Transaction id -> owner (membership instance) and when the entry expires (ms). */
  private readonly entries = new Map<string, { readonly owner: string; readonly until: number }>();

  constructor(
    /** The longest a transaction of this kind lives: its owner answers its messages until then. */
    private readonly lifetimeMs: number,
    /** Entries kept at most; beyond it the oldest go (`evicted` counts them). */
    private readonly maxEntries: number,
    private readonly evicted: () => void,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Records (or moves: an edge took over) `tx` as `owner`'s from `now`. */
  set(tx: string, owner: string, now: number): void {
    this.entries.delete(tx);
    this.entries.set(tx, { owner, until: now + this.lifetimeMs });
    if (this.entries.size <= this.maxEntries) return;
    const oldest = this.entries.keys().next();
    if (oldest.done !== true) this.entries.delete(oldest.value);
    this.evicted();
  }

  /** The owner of `tx`, if it was announced and has not expired. */
  get(tx: string, now: number): string | undefined {
    const entry = this.entries.get(tx);
    return entry === undefined || entry.until < now ? undefined : entry.owner;
  }

  /** Drops the expired entries (the oldest, in insertion order). */
  sweep(now: number): void {
    for (const [tx, { until }] of this.entries) {
      if (until >= now) return;
      this.entries.delete(tx);
    }
  }
}
