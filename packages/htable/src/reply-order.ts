/**
 * Which reply the cache may take for a key. Redis answers the commands of one connection in the
 * order they were sent, but the code after each `await` does not always run in that order: a
 * script's reply goes through more async frames than a pipeline's, so a write's result (read by
 * Redis earlier) can reach the cache after a refetch read later, and would stay there: nothing
 * invalidates the key again. The cache takes a reply for a key only if no reply to a command sent
 * later was taken for it. Every write is announced to every tracker (BCAST), so a reply left
 * out is always followed by a newer read.
 */
export class ReplyOrder {
  private sent = 0;
  private readonly inFlight = new Set<number>();
  /** The newest command whose reply was taken, per full key, while any command is in flight. */
  private readonly taken = new Map<string, number>();

  /** Call just before sending a command whose reply feeds the cache; returns its number. */
  begin(): number {
    const seq = ++this.sent;
    this.inFlight.add(seq);
    return seq;
  }

  /** Runs `work` as one such command, numbered: begin before it, end once it settled. */
  async command<T>(work: (seq: number) => Promise<T>): Promise<T> {
    const seq = this.begin();
    try {
      return await work(seq);
    } finally {
      this.end(seq);
    }
  }

  /** Call once the command's reply was handled (or it failed). */
  end(seq: number): void {
    this.inFlight.delete(seq);
    // Nothing in flight: every command from now on is newer than any reply taken before.
    if (this.inFlight.size === 0) this.taken.clear();
  }

  /** True when the reply to command `seq` may set `fullKey` (and records that it did). */
  take(fullKey: string, seq: number): boolean {
    const newest = this.taken.get(fullKey);
    if (newest !== undefined && newest > seq) return false;
    this.taken.set(fullKey, seq);
    return true;
  }
}
