// A Mirror fed by client-side tracking, with its key-level half (htables, secfilter): the Mirror
// re-reads the whole state when events may have been missed; in between, this re-reads only the
// keys an invalidation names. What both domains must get right the same way:
//
// - a burst of invalidations (a flood blocked by several edges, a script touching many items) is
//   coalesced with setImmediate into one refetch;
// - a key that changes while a full read runs may have been read before its change landed: it is
//   re-read after the read, so the newest state is applied last;
// - FLUSHALL / FLUSHDB names no keys (`null`): everything may have changed, read it all again;
// - a refetch that fails asks for a full read (single-flight, retried with backoff by the
//   Mirror; while disconnected the reconnect reads anyway).
import { type SipfleetRedisError, toRedisError } from './errors.js';
import { Mirror } from './mirror.js';
import type { RedisConnection } from './connection.js';
import { InvalidationTracker } from './tracking.js';

export interface TrackedKeysOptions {
  /** What `/readyz` and the logs call the mirror (`htables`, `secfilter`). */
  name: string;
  /** The BCAST prefixes tracked: every key the domain mirrors starts with one of them. */
  prefixes: string[];
  /**
   * Reads the whole state and installs it (the Mirror's read). `changed` fills, while it runs, with
   * the keys invalidated or written meanwhile: the read may keep the local value of those instead
   * of what it read (never blinking to unset). They are re-read once the read is done; a failure
   * of that re-read fails the read, which the Mirror retries.
   */
  read: (changed: ReadonlySet<string>) => Promise<void>;
  /**
   * Re-reads these full keys (as the tracker reports them, prefix included) and applies them.
   * Keys it does not know (outside its tables or lists) it ignores. May run while a full read
   * runs; a rejection asks for a full read.
   */
  refetch: (keys: string[]) => Promise<void>;
  /**
   * Failures of background reads and refetches (retried, or covered by a full read; never
   * thrown). @default ignore
   */
  onError?: (err: SipfleetRedisError) => void;
  /** First delay before a failed full read is tried again (then doubling, up to 5 s). @default 500 */
  retryDelayMs?: number;
}

export class TrackedKeys {
  /** The snapshot half: `start()`, `ready`, `up`/`down`, `waitUntilReady`, `close()`. */
  readonly mirror: Mirror;
  /** The mirror's feed; its `invalidate` events are what this re-reads. */
  readonly tracker: InvalidationTracker;
  private readonly refetch: (keys: string[]) => Promise<void>;
  private readonly onError: (err: SipfleetRedisError) => void;
  private readonly pending = new Set<string>();
  private scheduled = false;
  /** Keys changed while the full read in progress runs (the Mirror runs one at a time). */
  private changedDuringRead: Set<string> | undefined;

  constructor(conn: RedisConnection, options: TrackedKeysOptions) {
    this.refetch = options.refetch;
    this.onError = options.onError ?? (() => undefined);
    this.tracker = new InvalidationTracker(conn, options.prefixes);
    this.tracker.on('invalidate', (keys) => this.invalidate(keys));
    const read = options.read;
    this.mirror = new Mirror(conn, {
      name: options.name,
      feeds: [this.tracker],
      read: () => this.fullRead(read),
      retryDelayMs: options.retryDelayMs,
    });
    this.mirror.on('error', (err) => this.onError(toRedisError(err)));
  }

  private invalidate(keys: string[] | null): void {
    if (keys === null) {
      // FLUSHALL / FLUSHDB: a read in progress gets one more pass (Mirror single-flight).
      this.mirror.request();
      return;
    }
    for (const key of keys) {
      this.pending.add(key);
      this.changedDuringRead?.add(key);
    }
    if (!this.scheduled && this.pending.size > 0) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.refetchPending().catch((err: unknown) => {
          this.onError(toRedisError(err));
          this.mirror.request();
        });
      });
    }
  }

  /**
   * A key this process has just written and applied locally (read-your-writes): a full read in
   * progress may have read it before the write, so it is re-read after that read.
   */
  wrote(key: string): void {
    this.changedDuringRead?.add(key);
  }

  private async fullRead(read: TrackedKeysOptions['read']): Promise<void> {
    const changed = new Set<string>();
    this.changedDuringRead = changed;
    try {
      await read(changed);
    } finally {
      this.changedDuringRead = undefined;
    }
    for (const key of changed) this.pending.add(key);
    await this.refetchPending();
  }

  private async refetchPending(): Promise<void> {
    if (this.pending.size === 0) return;
    const keys = [...this.pending];
    this.pending.clear();
    await this.refetch(keys);
  }
}
