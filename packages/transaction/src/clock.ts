/**
 * The time source the transaction layer runs its timers on. Injectable so that tests (and simulations)
 * drive time by hand with {@link ManualClock} instead of waiting for Timer B's 32 seconds.
 */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/**
 * Node's timers. Handles are unref'd: a pending Timer D or Timer K must not keep a process alive on its own
 * (its sockets do that while it serves); `TransactionLayer.close()` clears them anyway.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  // The handle came from our own setTimeout above; the cast only restores its type.
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

class ManualTimer {
  constructor(
    readonly due: number,
    readonly seq: number,
    readonly fn: () => void,
  ) {}
  done = false;
}

function earlier(a: ManualTimer, b: ManualTimer): boolean {
  return a.due < b.due || (a.due === b.due && a.seq < b.seq);
}

/**
 * A deterministic clock: time stands still until {@link ManualClock.advance} moves it, and timers fire in due
 * order (ties in the order they were set), each seeing `now()` equal to its due time. Timers set while
 * advancing fire in the same call when they fall due before its end.
 */
export class ManualClock implements Clock {
  #now: number;
  #seq = 0;
  #pending = 0;
  readonly #heap: ManualTimer[] = [];

  /** @param start the initial value of `now()`. @default 0 */
  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  /** Timers set and neither fired nor cleared. */
  get pending(): number {
    return this.#pending;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const delay = Number.isFinite(ms) && ms > 0 ? ms : 0;
    const timer = new ManualTimer(this.#now + delay, this.#seq++, fn);
    this.#push(timer);
    this.#pending++;
    return timer;
  }

  clearTimeout(handle: unknown): void {
    if (handle instanceof ManualTimer && !handle.done) {
      handle.done = true;
      this.#pending--;
    }
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      const top = this.#heap[0];
      if (top === undefined || top.due > end) break;
      this.#pop();
      if (top.done) continue;
      top.done = true;
      this.#pending--;
      this.#now = top.due;
      top.fn();
    }
    this.#now = end;
  }

  #push(timer: ManualTimer): void {
    const heap = this.#heap;
    let i = heap.push(timer) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent] as ManualTimer;
      if (!earlier(timer, p)) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = timer;
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop() as ManualTimer;
    if (heap.length === 0) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      let child = left;
      const r = heap[right];
      if (r !== undefined && earlier(r, heap[left] as ManualTimer)) child = right;
      const c = heap[child] as ManualTimer;
      if (!earlier(c, last)) break;
      heap[i] = c;
      i = child;
    }
    heap[i] = last;
  }
}
