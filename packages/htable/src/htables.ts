// Kamailio htable semantics on Redis, read from a local cache with zero round trips.
//
// Writes go to Redis (Lua keeps type and expiry rules atomic). Reads never do: every process keeps
// each table in memory, warmed by SCAN at start and kept fresh by client-side tracking (BCAST on
// the tables' key prefixes, see @sipfleet/redis InvalidationTracker). An invalidated item is
// re-read in the background; until the answer arrives the cache keeps serving the previous value,
// so a flag never blinks to "unset" while it is being updated. When Redis is unreachable the cache
// keeps serving its snapshot, writes reject with SIPFLEET_ERR_REDIS_UNAVAILABLE and `ready` is
// false; when tracking comes back every table is re-read (invalidations may have been missed).
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import {
  InvalidationTracker,
  type RedisConnection,
  ScriptRunner,
  type SipfleetRedisError,
  toRedisError,
} from '@sipfleet/redis';
import {
  type HtableDefinition,
  type HtableValue,
  type ResolvedDefinition,
  resolveDefinitions,
} from './definition.js';
import { HtableError } from './errors.js';
import { decodeItem } from './item.js';

/** This package's Lua (`packages/htable/lua`, outside src so the build need not copy it). */
export const HTABLE_LUA_DIR = fileURLToPath(new URL('../lua/', import.meta.url));

export interface HtablesOptions {
  /** Failures of background work (re-reads, resyncs); they are retried, never thrown. @default ignore */
  onError?: (err: SipfleetRedisError) => void;
  /** How long open() waits for Redis. @default 10000 */
  openTimeoutMs?: number;
  /** Delay before a failed resync is tried again. @default 500 */
  retryDelayMs?: number;
}

export interface HtableEntry {
  key: string;
  value: HtableValue;
  type: 'int' | 'str';
  /** Milliseconds left before Redis deletes the item; undefined = no expiry. */
  expiresInMs: number | undefined;
}

export interface HtableInfo {
  name: string;
  autoexpire: number;
  updateexpire: boolean;
  initval: number | undefined;
}

export interface HtableStats {
  name: string;
  /** Items in this process' cache (expired ones not counted). */
  items: number;
  /** get() calls answered from the cache / not found (initval answers count as misses). */
  hits: number;
  misses: number;
  /** Invalidation messages received for this table. */
  invalidations: number;
  /** Full re-reads of the table (start, reload, reconnect). */
  resyncs: number;
  /** Keys under the table's prefix that are not well-formed items (ignored), as of the last re-read. */
  malformed: number;
}

interface CachedItem {
  value: HtableValue;
  /** Date.now() after which the item is gone; 0 = never. */
  expiresAt: number;
}

interface Table {
  def: ResolvedDefinition;
  prefix: string;
  items: Map<string, CachedItem>;
  stats: HtableStats;
}

export interface HtablesEvents {
  up: [];
  down: [];
}

function expiresAt(pttl: number): number {
  return pttl > 0 ? Date.now() + pttl : 0;
}

export class Htables extends EventEmitter<HtablesEvents> {
  private readonly tables = new Map<string, Table>();
  private readonly tracker: InvalidationTracker;
  private readonly scripts: ScriptRunner;
  private readonly onError: (err: SipfleetRedisError) => void;
  private readonly retryDelayMs: number;
  private readonly pendingKeys = new Set<string>();
  private refetchScheduled = false;
  private resyncRunning: Promise<void> | undefined;
  private resyncAgain = false;
  private changedDuringResync = new Set<string>();
  private synced = false;
  private wasReady = false;
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly conn: RedisConnection,
    defs: ResolvedDefinition[],
    options: HtablesOptions,
  ) {
    super();
    this.onError = options.onError ?? (() => undefined);
    this.retryDelayMs = options.retryDelayMs ?? 500;
    for (const def of defs) {
      const prefix = conn.keys.htTablePrefix(def.name);
      this.tables.set(def.name, {
        def,
        prefix,
        items: new Map(),
        stats: {
          name: def.name,
          items: 0,
          hits: 0,
          misses: 0,
          invalidations: 0,
          resyncs: 0,
          malformed: 0,
        },
      });
    }
    this.scripts = new ScriptRunner(conn, [HTABLE_LUA_DIR]);
    this.tracker = new InvalidationTracker(
      conn,
      [...this.tables.values()].map((t) => t.prefix),
    );
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

  /**
   * Declares the tables, starts tracking, writes missing initial values and warms every cache.
   * Rejects (typed) if Redis cannot be reached within `openTimeoutMs`.
   */
  static async open(
    conn: RedisConnection,
    definitions: HtableDefinition[],
    options: HtablesOptions = {},
  ): Promise<Htables> {
    const ht = new Htables(conn, resolveDefinitions(definitions), options);
    try {
      const timeout = options.openTimeoutMs ?? 10_000;
      await conn.waitUntilReady(timeout);
      await ht.tracker.start(timeout);
      for (const table of ht.tables.values()) await ht.seed(table);
      await ht.resync();
    } catch (err) {
      await ht.close();
      throw err instanceof HtableError ? err : toRedisError(err);
    }
    return ht;
  }

  /** True while Redis is connected, tracking is on and the caches have been read. */
  get ready(): boolean {
    return this.synced && this.conn.ready && this.tracker.ready && !this.closed;
  }

  private updateReady(): void {
    const ready = this.ready;
    if (ready === this.wasReady) return;
    this.wasReady = ready;
    this.emit(ready ? 'up' : 'down');
  }

  private table(name: string): Table {
    const table = this.tables.get(name);
    if (!table) throw new HtableError('SIPFLEET_ERR_HTABLE_UNKNOWN_TABLE', `no htable "${name}"`);
    return table;
  }

  // ---- reads: synchronous, from the cache ------------------------------------------------------

  /**
   * `$sht(table=>key)`: the cached value, the table's initval, or undefined. Zero round trips.
   * Throws SIPFLEET_ERR_HTABLE_UNKNOWN_TABLE for an undeclared table (a programming error).
   */
  get(table: string, key: string): HtableValue | undefined {
    const t = this.table(table);
    const item = t.items.get(key);
    if (item && (item.expiresAt === 0 || item.expiresAt > Date.now())) {
      t.stats.hits++;
      return item.value;
    }
    // Expired locally before Redis' invalidation arrived: Redis deletes it on its next touch.
    if (item) t.items.delete(key);
    t.stats.misses++;
    return t.def.initval;
  }

  // ---- writes: Redis first, then the cache -----------------------------------------------------

  /** `htable.sets` / `sht_setxs`: string item, optional expire in seconds (0 = table rules). */
  async sets(table: string, key: string, value: string, expire = 0): Promise<void> {
    if (typeof value !== 'string') throw this.badValue('sets takes a string');
    await this.write(table, key, 's', value, expire);
  }

  /** `htable.seti` / `sht_setxi`: integer item, optional expire in seconds (0 = table rules). */
  async seti(table: string, key: string, value: number, expire = 0): Promise<void> {
    if (!Number.isSafeInteger(value)) throw this.badValue('seti takes an integer');
    await this.write(table, key, 'i', value, expire);
  }

  private badValue(message: string): HtableError {
    return new HtableError('SIPFLEET_ERR_HTABLE_BAD_VALUE', message);
  }

  private async write(
    table: string,
    key: string,
    type: 'i' | 's',
    value: HtableValue,
    expire: number,
  ) {
    const t = this.table(table);
    if (!Number.isSafeInteger(expire) || expire < 0)
      throw this.badValue('expire must be whole seconds >= 0');
    const [, pttl] = await this.scripts.run(
      'ht-set',
      [t.prefix + key],
      [type, value, expire, t.def.autoexpire, t.def.updateexpire ? '1' : '0', 'set'],
    );
    this.setLocal(t, key, { value, expiresAt: expiresAt(Number(pttl)) });
  }

  /** Read-your-writes: the cache takes a write's result at once (the invalidation follows). */
  private setLocal(t: Table, key: string, item: CachedItem | undefined): void {
    if (item) t.items.set(key, item);
    else t.items.delete(key);
    if (this.resyncRunning) this.changedDuringResync.add(t.prefix + key);
  }

  /** `$shtinc(table=>key)` / `htable.seti`-free counter: atomic add, returns the new value. */
  async inc(table: string, key: string, by = 1): Promise<number> {
    const t = this.table(table);
    if (!Number.isSafeInteger(by)) throw this.badValue('inc/dec take an integer amount');
    const [, value, pttl] = await this.scripts.run(
      'ht-incr',
      [t.prefix + key],
      [by, t.def.autoexpire, t.def.updateexpire ? '1' : '0', t.def.initval ?? 0],
    );
    const n = Number(value);
    this.setLocal(t, key, { value: n, expiresAt: expiresAt(Number(pttl)) });
    return n;
  }

  /** `$shtdec(table=>key)`: atomic subtract, returns the new value. */
  dec(table: string, key: string, by = 1): Promise<number> {
    return this.inc(table, key, -by);
  }

  /** `htable.setex` / `$shtex`: sets an item's expire in seconds (0 = never). False if missing. */
  async setex(table: string, key: string, expire: number): Promise<boolean> {
    const t = this.table(table);
    if (!Number.isSafeInteger(expire) || expire < 0)
      throw this.badValue('expire must be whole seconds >= 0');
    const fullKey = t.prefix + key;
    // EXPIRE/PERSIST cannot tell "missing" from "no change", so ask for both in one round trip.
    const pipeline = this.conn.client.multi();
    if (expire > 0) pipeline.expire(fullKey, expire);
    else pipeline.persist(fullKey);
    pipeline.exists(fullKey);
    let replies: [Error | null, unknown][] | null;
    try {
      replies = await pipeline.exec();
    } catch (err) {
      throw toRedisError(err);
    }
    const exists = replies?.[1]?.[1] === 1;
    const item = t.items.get(key);
    if (item) item.expiresAt = expire > 0 ? Date.now() + expire * 1000 : 0;
    return exists;
  }

  /** `htable.delete` / `sht_rm`: removes one item. True if it existed. */
  async delete(table: string, key: string): Promise<boolean> {
    const t = this.table(table);
    const removed = await this.conn.call('DEL', t.prefix + key);
    this.setLocal(t, key, undefined);
    return removed === 1;
  }

  /** `htable.flush` / `sht_reset`: removes every item of the table; returns how many. */
  async flush(table: string): Promise<number> {
    const t = this.table(table);
    const keys = await this.conn.scan(this.conn.keys.htEntryPattern(table));
    let removed = 0;
    // One slot per table (hash tag), so a multi-key UNLINK is legal on Cluster.
    for (let i = 0; i < keys.length; i += 500) {
      removed += Number(await this.conn.call('UNLINK', ...keys.slice(i, i + 500)));
    }
    t.items.clear();
    return removed;
  }

  // ---- inspection and maintenance --------------------------------------------------------------

  /** `htable.dump`: the table as Redis holds it now (a round trip per 500 items; not for the call path). */
  async dump(table: string): Promise<HtableEntry[]> {
    const t = this.table(table);
    const read = await this.readTable(t);
    return [...read.entries()]
      .map(([key, item]) => ({
        key,
        value: item.value,
        type: typeof item.value === 'number' ? ('int' as const) : ('str' as const),
        expiresInMs: item.expiresAt === 0 ? undefined : Math.max(0, item.expiresAt - Date.now()),
      }))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** `htable.listTables`: the declared tables and their settings. */
  list(): HtableInfo[] {
    return [...this.tables.values()].map(({ def }) => ({
      name: def.name,
      autoexpire: def.autoexpire,
      updateexpire: def.updateexpire,
      initval: def.initval,
    }));
  }

  /** `htable.stats`: per-table counters of this process. */
  stats(): HtableStats[] {
    const now = Date.now();
    return [...this.tables.values()].map((t) => {
      let items = 0;
      for (const item of t.items.values())
        if (item.expiresAt === 0 || item.expiresAt > now) items++;
      return { ...t.stats, items };
    });
  }

  /**
   * `htable.reload`: writes initial values that are missing (never overwriting) and re-reads the
   * table (or all tables) from Redis into the cache.
   */
  async reload(table?: string): Promise<void> {
    const targets = table === undefined ? [...this.tables.values()] : [this.table(table)];
    for (const t of targets) await this.seed(t);
    await this.resync(targets);
  }

  private async seed(t: Table): Promise<void> {
    for (const [key, value] of Object.entries(t.def.initial)) {
      await this.scripts.run(
        'ht-set',
        [t.prefix + key],
        [
          typeof value === 'number' ? 'i' : 's',
          value,
          0,
          t.def.autoexpire,
          t.def.updateexpire ? '1' : '0',
          'nx',
        ],
      );
    }
  }

  // ---- cache maintenance ------------------------------------------------------------------------

  /** Reads every item of a table: SCAN, then HGETALL + PTTL per key in pipelines (one slot). */
  private async readTable(t: Table, keys?: string[]): Promise<Map<string, CachedItem>> {
    const fullKeys = keys ?? (await this.conn.scan(this.conn.keys.htEntryPattern(t.def.name)));
    const out = new Map<string, CachedItem>();
    let malformed = 0;
    for (let i = 0; i < fullKeys.length; i += 500) {
      const batch = fullKeys.slice(i, i + 500);
      const pipeline = this.conn.client.pipeline();
      for (const key of batch) pipeline.hgetall(key).pttl(key);
      let replies: [Error | null, unknown][] | null;
      try {
        replies = await pipeline.exec();
      } catch (err) {
        throw toRedisError(err);
      }
      batch.forEach((fullKey, n) => {
        const [hashErr, fields] = replies?.[2 * n] ?? [null, undefined];
        const [, pttl] = replies?.[2 * n + 1] ?? [null, -2];
        const key = fullKey.slice(t.prefix.length);
        // WRONGTYPE (someone SET a string here) or a hash without i/s: not an item.
        if (hashErr || !fields || typeof fields !== 'object' || Object.keys(fields).length === 0) {
          if (hashErr) malformed++;
          return;
        }
        const value = decodeItem(fields as Record<string, string>);
        if (value === undefined) {
          malformed++;
          return;
        }
        out.set(key, { value, expiresAt: expiresAt(Number(pttl)) });
      });
      if (replies?.some(([err]) => err && !/WRONGTYPE/.test(err.message))) {
        throw toRedisError(replies.find(([err]) => err)?.[0]);
      }
    }
    // A full read (no key list) sees the whole table: that is the current malformed count.
    if (!keys) t.stats.malformed = malformed;
    return out;
  }

  private onInvalidate(keys: string[] | null): void {
    if (keys === null) {
      // FLUSHALL / FLUSHDB: every table may have changed.
      for (const t of this.tables.values()) t.stats.invalidations++;
      this.scheduleResync();
      return;
    }
    for (const key of keys) {
      const t = this.tableOf(key);
      if (!t) continue;
      t.stats.invalidations++;
      this.pendingKeys.add(key);
      if (this.resyncRunning) this.changedDuringResync.add(key);
    }
    if (!this.refetchScheduled && this.pendingKeys.size > 0) {
      this.refetchScheduled = true;
      // Coalesce a burst of invalidations into one pipeline per table.
      setImmediate(() => void this.refetch());
    }
  }

  private tableOf(fullKey: string): Table | undefined {
    for (const t of this.tables.values()) if (fullKey.startsWith(t.prefix)) return t;
    return undefined;
  }

  private async refetch(): Promise<void> {
    this.refetchScheduled = false;
    const keys = [...this.pendingKeys];
    this.pendingKeys.clear();
    for (const t of this.tables.values()) {
      const mine = keys.filter((k) => k.startsWith(t.prefix));
      if (mine.length === 0) continue;
      try {
        // Replies on one connection come back in order, so the newest read is applied last.
        const read = await this.readTable(t, mine);
        for (const fullKey of mine) {
          const key = fullKey.slice(t.prefix.length);
          const item = read.get(key);
          if (item) t.items.set(key, item);
          else t.items.delete(key);
        }
      } catch (err) {
        // Disconnected: the resync after reconnect re-reads everything anyway.
        this.onError(toRedisError(err));
      }
    }
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

  /**
   * Re-reads tables and replaces their caches. Concurrent requests share the running pass and
   * ask for one more (which re-reads every table), so the caller's await covers its request.
   */
  private resync(targets: Table[] = [...this.tables.values()]): Promise<void> {
    if (this.resyncRunning) {
      this.resyncAgain = true;
      return this.resyncRunning;
    }
    this.resyncRunning = this.runResync(targets).finally(() => {
      this.resyncRunning = undefined;
      this.updateReady();
    });
    return this.resyncRunning;
  }

  private async runResync(targets: Table[]): Promise<void> {
    do {
      this.resyncAgain = false;
      this.changedDuringResync = new Set();
      for (const t of targets) {
        const read = await this.readTable(t);
        // A key changed while we were reading may have been read before its change landed: keep
        // what the cache holds for it (never blink to unset) and re-read it just below.
        for (const fullKey of this.changedDuringResync) {
          if (!fullKey.startsWith(t.prefix)) continue;
          const key = fullKey.slice(t.prefix.length);
          const current = t.items.get(key);
          if (current) read.set(key, current);
          else read.delete(key);
        }
        t.items = read;
        t.stats.resyncs++;
      }
      for (const key of this.changedDuringResync) this.pendingKeys.add(key);
      if (this.pendingKeys.size > 0) await this.refetch();
      targets = [...this.tables.values()];
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
