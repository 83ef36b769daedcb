// Every edge's local copy of the fleet's secfilter state, read on the message path with no Redis
// round trip. The same scheme as @sipfleet/htable, on the same pieces of @sipfleet/redis: client-
// side tracking (BCAST on `<prefix>:{sf}:`) reports every write, by an edge, ctl or plain
// redis-cli, and expiry; TrackedKeys re-reads the changed keys in the background and they are
// applied to the SourceFilter; the Mirror re-reads everything whenever invalidations may have been
// missed, retries, and says whether the copy is in step (`/readyz` name `secfilter`).
//
// Redis unreachable: the filter keeps blocking with what it has and with its own rate limits;
// blocks it decides meanwhile are kept and published when Redis is back.
import { EventEmitter } from 'node:events';
import {
  type Mirror,
  type RedisConnection,
  type SipfleetRedisError,
  TrackedKeys,
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
  /** How long open() waits for Redis (start() never waits). @default 10000 */
  openTimeoutMs?: number;
  /** First delay before a failed re-read is tried again (then doubling, up to 5 s). @default 500 */
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
  /** The link to Redis: `ready`, `up`/`down`, and the name `/readyz` shows. */
  readonly mirror: Mirror;
  private readonly keys: TrackedKeys;
  private readonly onError: (err: SipfleetRedisError) => void;
  private readonly onMalformed: NonNullable<SecfilterMirrorOptions['onMalformed']>;
  private readonly now: () => number;
  private readonly blockPrefix: string;
  private readonly listKeys: Map<string, SecfilterList>;
  /** Blocks this edge decided that Redis has not taken yet: address -> until. */
  private readonly unpublished = new Map<string, { until: number; by: string }>();

  private constructor(
    conn: RedisConnection,
    private readonly filter: SourceFilter,
    options: SecfilterMirrorOptions,
  ) {
    super();
    this.store = new SecfilterStore(conn);
    this.onError = options.onError ?? (() => undefined);
    this.onMalformed = options.onMalformed ?? (() => undefined);
    this.now = options.now ?? Date.now;
    this.blockPrefix = conn.keys.sfBlockPrefix();
    this.listKeys = new Map(SECFILTER_LISTS.map((l) => [conn.keys.sfList(l), l]));
    this.keys = new TrackedKeys(conn, {
      ...options,
      name: 'secfilter',
      prefixes: [conn.keys.sfPrefix()],
      read: () => this.readAll(),
      refetch: (keys) => this.refetch(keys),
    });
    this.mirror = this.keys.mirror;
    this.mirror.on('up', () => this.emit('up'));
    this.mirror.on('down', () => this.emit('down'));
  }

  /**
   * Starts tracking in the background and returns at once: the filter blocks on its own until
   * Redis answers, then takes the fleet's blocks and lists (`ready` turns true).
   */
  static start(
    conn: RedisConnection,
    filter: SourceFilter,
    options: SecfilterMirrorOptions = {},
  ): SecfilterMirror {
    const mirror = new SecfilterMirror(conn, filter, options);
    mirror.mirror.start();
    return mirror;
  }

  /** start(), then waits for the blocks and lists; rejects (typed) when Redis is not there in time. */
  static async open(
    conn: RedisConnection,
    filter: SourceFilter,
    options: SecfilterMirrorOptions = {},
  ): Promise<SecfilterMirror> {
    const mirror = SecfilterMirror.start(conn, filter, options);
    try {
      await mirror.mirror.waitUntilReady(options.openTimeoutMs ?? 10_000);
    } catch (err) {
      await mirror.close();
      throw toRedisError(err);
    }
    return mirror;
  }

  /** True while Redis is connected, tracking is on and the state has been read since. */
  get ready(): boolean {
    return this.mirror.ready;
  }

  /**
   * Makes a block this edge decided fleet-wide (SET with PX). Resolves false when Redis did not
   * take it: the block is then kept and published by the next full read.
   */
  async publishBlock(address: string, banMs: number, by: string): Promise<boolean> {
    try {
      await this.store.block(address, banMs, by);
      this.unpublished.delete(address);
      return true;
    } catch (err) {
      this.unpublished.set(address, { until: this.now() + banMs, by });
      this.onError(toRedisError(err));
      // Connected (a timeout): read now, which publishes it. Disconnected: the reconnect reads.
      this.mirror.request();
      return false;
    }
  }

  /** TrackedKeys' refetch: the changed blocks in one pipeline, then the changed lists. */
  private async refetch(keys: string[]): Promise<void> {
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
  }

  private applyList(list: SecfilterList, entries: string[]): void {
    if (list === 'allow-ip' || list === 'deny-ip') {
      const malformed = this.filter.setAddressList(list, entries);
      if (malformed.length > 0) this.onMalformed(list, malformed);
    } else this.filter.setUserAgentList(list, entries);
  }

  /**
   * The Mirror's read: blocks decided while Redis was away go to the fleet first, so the read
   * keeps them; then every block and list. Keys changed meanwhile are re-read after it.
   */
  private async readAll(): Promise<void> {
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
  }

  /** Stops tracking and timers. The connection belongs to the caller and stays open. */
  async close(): Promise<void> {
    await this.mirror.close();
  }
}

function expiry(now: number, expiresInMs: number | null): number {
  return expiresInMs === null ? Infinity : now + expiresInMs;
}
