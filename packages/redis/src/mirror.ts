// The one way a process keeps a local copy of Redis state: read a snapshot, apply change events,
// and read the snapshot again whenever the events may have been missed. htable (client-side
// tracking), the dispatcher view and the keepalive monitor (bus channels) supply the domain parts:
// what to read, how to apply an event. This file owns what they must all get right the same way:
//
// - start never waits for Redis: a mirror starts not-ready and catches up when Redis appears;
// - a feed (tracking, a bus channel) that is (re)established after a reconnect, a Sentinel or
//   Cluster failover or a topology change says `resync`, and the snapshot is read again;
// - the read runs single-flight: a request during a read asks for one more pass;
// - a failed read is retried with capped backoff, on an unref'd timer;
// - `ready` means "in step": connected, every feed flowing, and a read completed since the last
//   time anything could have been missed. `up`/`down` report its transitions, `error` background
//   failures (never thrown).
import { EventEmitter } from 'node:events';
import { backoff, type RedisConnection, untilEvent } from './connection.js';
import { toRedisError } from './errors.js';

/** Where a mirror's change events come from (an InvalidationTracker, an EventBus channel feed). */
export interface ChangeFeed {
  /** True while change events flow (every node tracked / the channel subscribed). */
  readonly ready: boolean;
  /**
   * `resync`: the feed was (re)established; anything that changed meanwhile was not announced.
   * `down`: the feed stopped; events may be lost from now on.
   */
  on(event: 'resync' | 'down', listener: () => void): unknown;
  off(event: 'resync' | 'down', listener: () => void): unknown;
  /** Connects in the background (and keeps reconnecting); never waits for Redis. */
  start(): void;
  close(): Promise<void>;
}

export interface MirrorOptions {
  /** What `/readyz` and the logs call this mirror (`htables`, `dispatcher`, `keepalive`). */
  name: string;
  /** The feeds whose events keep the copy fresh; the mirror starts and closes them. */
  feeds: readonly ChangeFeed[];
  /**
   * Reads the whole state from Redis and installs it (the domain part). Never called
   * concurrently with itself; a rejection is reported on `error` and retried.
   */
  read: () => Promise<void>;
  /** First delay before a failed read is tried again; doubles up to `maxRetryDelayMs`. @default 500 */
  retryDelayMs?: number;
  /** @default 5000 */
  maxRetryDelayMs?: number;
}

export interface MirrorEvents {
  /** In step: connected, feeds flowing, snapshot read since anything could have been missed. */
  up: [];
  /** Out of step: the copy may be stale (serving it goes on). */
  down: [];
  /** A background read failed (it is retried). */
  error: [err: Error];
}

export class Mirror extends EventEmitter<MirrorEvents> {
  readonly name: string;
  private readonly feeds: readonly ChangeFeed[];
  private readonly readSnapshot: () => Promise<void>;
  private readonly retryDelayMs: number;
  private readonly maxRetryDelayMs: number;
  private running: Promise<void> | undefined;
  private again = false;
  /** Bumped whenever events may have been missed: a read started before it proves nothing. */
  private epoch = 0;
  private synced = false;
  private wasReady = false;
  private started = false;
  private closed = false;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly conn: RedisConnection,
    options: MirrorOptions,
  ) {
    super();
    this.name = options.name;
    this.feeds = options.feeds;
    this.readSnapshot = options.read;
    this.retryDelayMs = options.retryDelayMs ?? 500;
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 5000;
  }

  private readonly onStale = (): void => {
    this.epoch++;
    this.synced = false;
    this.update();
  };

  private readonly onResync = (): void => {
    this.onStale();
    this.request();
  };

  /** Starts the feeds and the first read as soon as Redis answers. Returns at once. */
  start(): this {
    if (this.started || this.closed) return this;
    this.started = true;
    // A command-connection reconnect alone may have failed reads: read again. Feeds say
    // `resync` on their own connections' reconnects.
    this.conn.on('up', this.onResync);
    this.conn.on('down', this.onStale);
    for (const feed of this.feeds) {
      feed.on('resync', this.onResync);
      feed.on('down', this.onStale);
      feed.start();
    }
    this.request();
    return this;
  }

  /** In step with Redis (see MirrorEvents.up). */
  get ready(): boolean {
    return this.synced && !this.closed && this.conn.ready && this.feeds.every((f) => f.ready);
  }

  private canRead(): boolean {
    return !this.closed && this.conn.ready && this.feeds.every((f) => f.ready);
  }

  private update(): void {
    const ready = this.ready;
    if (ready === this.wasReady) return;
    this.wasReady = ready;
    this.emit(ready ? 'up' : 'down');
  }

  /** Asks for a read in the background (change events that need a full re-read call this). */
  request(): void {
    if (!this.started || this.closed) return;
    this.resync().catch((err: unknown) => {
      // An EventEmitter throws an unheard 'error': a mirror nobody asked about still retries.
      if (this.listenerCount('error') > 0)
        this.emit('error', err instanceof Error ? err : toRedisError(err));
      this.scheduleRetry();
    });
  }

  private scheduleRetry(): void {
    if (this.closed || this.retryTimer !== undefined) return;
    // backoff() starts at 50 ms; scale it so the first retry waits retryDelayMs.
    const delay = Math.min(
      (backoff(this.failures++, Number.MAX_SAFE_INTEGER) / 50) * this.retryDelayMs,
      this.maxRetryDelayMs,
    );
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      // Not connected: the reconnect (`up` / feed `resync`) asks again by itself.
      if (this.canRead()) this.request();
    }, delay);
    this.retryTimer.unref();
  }

  /**
   * Reads the snapshot now (joining a read in progress, plus one more pass so the caller's
   * request is covered). Resolves without reading while Redis or a feed is down: the reconnect
   * reads. Rejects when the read fails.
   */
  resync(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.run().finally(() => {
      this.running = undefined;
      this.update();
    });
    return this.running;
  }

  private async run(): Promise<void> {
    do {
      this.again = false;
      if (!this.canRead()) return;
      const epoch = this.epoch;
      await this.readSnapshot();
      this.failures = 0;
      // Something went down or was re-established during the read: it proves nothing, go again.
      if (epoch === this.epoch) this.synced = true;
      else this.again = true;
    } while (this.again && !this.closed);
  }

  /**
   * Resolves once the mirror is in step; rejects with SIPFLEET_ERR_REDIS_UNAVAILABLE after
   * `timeoutMs` (for tools and tests that need the data before going on; an edge never waits).
   */
  waitUntilReady(timeoutMs = 10_000): Promise<void> {
    if (this.ready) return Promise.resolve();
    return untilEvent(
      this,
      'up',
      timeoutMs,
      () => `${this.name}: not in step with redis after ${timeoutMs} ms`,
    );
  }

  /** Stops the feeds and timers. The connection belongs to the caller and stays open. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.conn.off('up', this.onResync);
    this.conn.off('down', this.onStale);
    for (const feed of this.feeds) {
      feed.off('resync', this.onResync);
      feed.off('down', this.onStale);
    }
    await Promise.all(this.feeds.map((f) => f.close()));
    this.update();
  }
}
