// Every edge's local copy of the fleet's secfilter state, read on the message path with no Redis
// round trip. The same scheme as @sipfleet/htable: client-side tracking (BCAST on `<prefix>:{sf}:`)
// reports every write, by an edge, ctl or plain redis-cli, and expiry; the changed keys are re-read
// in the background and applied to the SourceFilter. A (re)established tracking connection may
// have missed invalidations, so it triggers a full re-read.
//
// Redis unreachable: the filter keeps blocking with what it has and with its own rate limits;
// blocks it decides meanwhile are kept and published when Redis is back.
import { EventEmitter } from 'node:events';
import {
  InvalidationTracker,
  type RedisConnection,
  type SipfleetRedisError,
  toRedisError,
} from '@sipfleet/redis';
import { SECFILTER_LISTS, type SecfilterList } from '../lists.js';
import type { SourceFilter } from '../source-filter.js';
import { SecfilterStore } from './store.js';

export interface SecfilterMirrorOptions {
  /** Failures of background work (re-reads, publishing); retried, never thrown. @default ignore */
  onError?: (err: SipfleetRedisError) => void;
  /** List entries that are not addresses (written by hand): ignored, reported here. @default ignore */
  onMalformed?: (list: SecfilterList, entries: string[]) => void;
  /** How long open() waits for Redis. @default 10000 */
  openTimeoutMs?: number;
  /** Delay before a failed re-read is tried again. @default 500 */
  retryDelayMs?: number;
  /** The filter's clock, to turn a key's PTTL into an expiry time. @default Date.now */
  now?: () => number;
}

export interface SecfilterMirrorEvents {
  up: [];
  down: [];
}

export class SecfilterMirror extends EventEmitter<SecfilterMirrorEvents> {
  readonly store: SecfilterStore;
  private readonly tracker: InvalidationTracker;
  private readonly onError: (err: SipfleetRedisError) => void;
  private readonly onMalformed: NonNullable<SecfilterMirrorOptions['onMalformed']>;
  private readonly retryDelayMs: number;
  private readonly now: () => number;
  private readonly blockPrefix: string;
  private readonly listKeys: Map<string, SecfilterList>;
  /** Blocks this edge decided that Redis has not taken yet: address -> until. */
  private readonly unpublished = new Map<string, { until: number; by: string }>();
  private readonly pendingKeys = new Set<string>();
  /** Keys invalidated while a re-read runs: that read may predate their change. */
  private changedDuringResync = new Set<string>();
  private refetchScheduled = false;
  private resyncRunning: Promise<void> | undefined;
  private resyncAgain = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private synced = false;
  private wasReady = false;
  private closed = false;

  private constructor(
    private readonly conn: RedisConnection,
    private readonly filter: SourceFilter,
    options: SecfilterMirrorOptions,
  ) {
    super();
    this.store = new SecfilterStore(conn);
    this.onError = options.onError ?? (() => undefined);
    this.onMalformed = options.onMalformed ?? (() => undefined);
    this.retryDelayMs = options.retryDelayMs ?? 500;
    this.now = options.now ?? Date.now;
    this.blockPrefix = conn.keys.sfBlockPrefix();
    this.listKeys = new Map(SECFILTER_LISTS.map((l) => [conn.keys.sfList(l), l]));
    this.tracker = new InvalidationTracker(conn, [conn.keys.sfPrefix()]);
    this.tracker.on('invalidate', (keys) => this.onInvalidate(keys));
    this.tracker.on('resync', () => this.scheduleResync());
    this.tracker.on('up', () => this.updateReady());
    this.tracker.on('down', () => this.updateReady());
    conn.on('up', this.onConnUp);
    conn.on('down', this.onConnDown);
  }

  private readonly onConnUp = () => {
    this.updateReady();
    this.scheduleResync();
  };

  private readonly onConnDown = () => this.updateReady();

  /** Starts tracking and reads the blocks and lists; rejects (typed) when Redis is not there in time. */
  static async open(
    conn: RedisConnection,
    filter: SourceFilter,
    options: SecfilterMirrorOptions = {},
  ): Promise<SecfilterMirror> {
    const mirror = new SecfilterMirror(conn, filter, options);
    try {
      const timeout = options.openTimeoutMs ?? 10_000;
      await conn.waitUntilReady(timeout);
      mirror.tracker.start();
      await mirror.resync();
    } catch (err) {
      await mirror.close();
      throw toRedisError(err);
    }
    return mirror;
  }

  /** True while Redis is connected, tracking is on and the state has been read. */
  get ready(): boolean {
    return this.synced && this.conn.ready && this.tracker.ready && !this.closed;
  }

  private updateReady(): void {
    const ready = this.ready;
    if (ready === this.wasReady) return;
    this.wasReady = ready;
    this.emit(ready ? 'up' : 'down');
  }

  /**
   * Makes a block this edge decided fleet-wide (SET with PX). Resolves false when Redis did not
   * take it: the block is then kept and published after the next re-read.
   */
  async publishBlock(address: string, banMs: number, by: string): Promise<boolean> {
    try {
      await this.store.block(address, banMs, by);
      this.unpublished.delete(address);
      return true;
    } catch (err) {
      this.unpublished.set(address, { until: this.now() + banMs, by });
      this.onError(toRedisError(err));
      return false;
    }
  }

  private onInvalidate(keys: string[] | null): void {
    if (keys === null) {
      this.scheduleResync(); // FLUSHALL / FLUSHDB
      return;
    }
    for (const key of keys) {
      this.pendingKeys.add(key);
      if (this.resyncRunning) this.changedDuringResync.add(key);
    }
    if (!this.refetchScheduled && this.pendingKeys.size > 0) {
      this.refetchScheduled = true;
      // Coalesce a burst (a flood blocked by several edges at once) into one pipeline.
      setImmediate(() => void this.refetch());
    }
  }

  private async refetch(): Promise<void> {
    this.refetchScheduled = false;
    const keys = [...this.pendingKeys];
    this.pendingKeys.clear();
    try {
      const blockKeys = keys.filter((k) => k.startsWith(this.blockPrefix));
      const read = await this.store.readBlocks(blockKeys);
      const now = this.now();
      blockKeys.forEach((key, n) => {
        const address = key.slice(this.blockPrefix.length);
        const block = read[n];
        if (block === undefined) this.filter.clearBlock(address);
        else this.filter.setBlock(address, expiry(now, block.expiresInMs));
      });
      for (const key of keys) {
        const list = this.listKeys.get(key);
        if (list !== undefined) this.applyList(list, await this.store.members(list));
      }
    } catch (err) {
      // Disconnected: the re-read after reconnecting covers these keys.
      this.onError(toRedisError(err));
    }
  }

  private applyList(list: SecfilterList, entries: string[]): void {
    if (list === 'allow-ip' || list === 'deny-ip') {
      const malformed = this.filter.setAddressList(list, entries);
      if (malformed.length > 0) this.onMalformed(list, malformed);
    } else this.filter.setUserAgentList(list, entries);
  }

  private scheduleResync(): void {
    if (this.closed) return;
    void this.resync().catch((err: unknown) => {
      this.onError(toRedisError(err));
      if (this.closed || this.retryTimer) return;
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        if (this.conn.ready && this.tracker.ready) this.scheduleResync();
      }, this.retryDelayMs);
    });
  }

  private resync(): Promise<void> {
    if (this.resyncRunning) {
      this.resyncAgain = true;
      return this.resyncRunning;
    }
    this.resyncRunning = this.runResync().finally(() => {
      this.resyncRunning = undefined;
      this.updateReady();
    });
    return this.resyncRunning;
  }

  private async runResync(): Promise<void> {
    do {
      this.resyncAgain = false;
      this.changedDuringResync = new Set();
      // Blocks decided while Redis was away go to the fleet first, so the re-read keeps them.
      for (const [address, { until, by }] of [...this.unpublished]) {
        const left = until - this.now();
        if (left > 0) await this.store.block(address, left, by);
        this.unpublished.delete(address);
      }
      const now = this.now();
      const blocks = new Map<string, number>();
      for (const block of await this.store.blocks()) {
        blocks.set(block.address, expiry(now, block.expiresInMs));
      }
      this.filter.replaceBlocks(blocks);
      for (const list of SECFILTER_LISTS) this.applyList(list, await this.store.members(list));
      // Read again what changed meanwhile, so the newest state is applied last.
      for (const key of this.changedDuringResync) this.pendingKeys.add(key);
      if (this.pendingKeys.size > 0) await this.refetch();
    } while (this.resyncAgain && !this.closed);
    this.synced = true;
  }

  /** Stops tracking and timers. The connection belongs to the caller and stays open. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.conn.off('up', this.onConnUp);
    this.conn.off('down', this.onConnDown);
    await this.tracker.close();
    this.updateReady();
  }
}

function expiry(now: number, expiresInMs: number | null): number {
  return expiresInMs === null ? Infinity : now + expiresInMs;
}
