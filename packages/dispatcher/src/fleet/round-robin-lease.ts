// Round-robin positions taken from the fleet's counter in blocks, so that a call does not wait for
// Redis. Each INCRBY hands this edge `size` positions nobody else gets; the edge walks them in
// order and asks for the next block when half of the current one is used. Every position is
// used once, so over the fleet each destination's share stays exact to within the positions
// leased and not yet used (at most 2 * size per edge); what is lost is the strict order of calls
// across edges (within an edge they still cycle in order, as Kamailio's per-instance counter).

export class RoundRobinLease {
  /** The current block is [next, end). */
  private next = 0;
  private end = 0;
  /** The block fetched ahead, taken when the current one runs out. */
  private ahead: { from: number; to: number } | undefined;
  private fetching: Promise<void> | undefined;

  /**
   * @param size positions per block (> 1)
   * @param incrBy the counter's INCRBY: resolves to the value after adding `size`
   */
  constructor(
    private readonly size: number,
    private readonly incrBy: (size: number) => Promise<number>,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** The next position, or undefined while no block is leased (wait for {@link refill}). */
  take(): number | undefined {
    if (this.next >= this.end) {
      if (this.ahead === undefined) {
        this.fetch();
        return undefined;
      }
      this.next = this.ahead.from;
      this.end = this.ahead.to;
      this.ahead = undefined;
    }
    const position = this.next++;
    if (this.end - this.next <= this.size / 2) this.fetch();
    return position;
  }

  /** Settles once the block being fetched arrived, or its fetch failed (reported to onError). */
  refill(): Promise<void> {
    this.fetch();
    return this.fetching ?? Promise.resolve();
  }

  private fetch(): void {
    if (this.fetching !== undefined || this.ahead !== undefined) return;
    this.fetching = this.incrBy(this.size)
      .then(
        (after) => {
          this.ahead = { from: after - this.size, to: after };
        },
        (err: unknown) => this.onError(err),
      )
      .finally(() => {
        this.fetching = undefined;
      });
  }
}
