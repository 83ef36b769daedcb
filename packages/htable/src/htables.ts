// Kamailio htable semantics on Redis, read from a local cache with zero round trips.
//
// Writes go to Redis (Lua keeps type and expiry rules atomic). Reads never do: every process keeps
// each table in memory, warmed by SCAN once Redis answers and kept fresh by client-side tracking
// (BCAST on the tables' key prefixes, see @sipfleet/redis InvalidationTracker). An invalidated item is
// re-read in the background; until the answer arrives the cache keeps serving the previous value,
// so a flag never blinks to "unset" while it is being updated. When Redis is unreachable the cache
// keeps serving its snapshot, writes reject with SIPFLEET_ERR_REDIS_UNAVAILABLE and `ready` is
// false; when tracking comes back every table is re-read (invalidations may have been missed).
// The subscribe / resync / retry / readiness part is @sipfleet/redis Mirror, shared with the
// dispatcher view and the keepalive monitor; the key-level re-reads are @sipfleet/redis
// TrackedKeys, shared with secfilter; Redis access is HtableStore, shared with ctl.
import { EventEmitter } from 'node:events';
import {
  type Mirror,
  type RedisConnection,
  type SipfleetRedisError,
  TrackedKeys,
  toRedisError,
} from '@sipfleet/redis';
import {
  type HtableDefinition,
  type HtableValue,
  type ResolvedDefinition,
  resolveDefinitions,
} from './definition.js';
import { HtableError } from './errors.js';
import { type HtableMatchOp, htableMatcher } from './match.js';
import { ReplyOrder } from './reply-order.js';
import { HtableStore, type StoredItem } from './store.js';

export interface HtablesOptions {
  /** Failures of background work (re-reads, resyncs); they are retried, never thrown. @default ignore */
  onError?: (err: SipfleetRedisError) => void;
  /** How long open() waits for Redis (start() never waits). @default 10000 */
  openTimeoutMs?: number;
  /** First delay before a failed resync is tried again (then doubling, up to 5 s). @default 500 */
  retryDelayMs?: number;
  /**
   * How often the cache looks for items whose expiry has passed, to emit `expired` for them
   * (Kamailio's `timer_interval`, 20 s there). @default 1000
   */
  expirySweepMs?: number;
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
  /**
   * `event_route[htable:expired:<table>]`: an item of `table` reached its expiry; `key` and
   * `value` are the item's (`$shtrecord(key)`, `$shtrecord(value)`). Every process whose cache
   * held the item emits it once: with N edges, N events fleet-wide (see the README).
   */
  expired: [table: string, key: string, value: HtableValue];
}

/**
 * An item as the cache keeps it. `sentAt` is Date.now() when the read or write was sent: Redis
 * measured the PTTL after that, so the local expiry is never later than Redis' own and an item
 * Redis has expired is always past its local expiry too (what tells an expiry from a delete).
 */
function cached(item: StoredItem, sentAt: number): CachedItem {
  return {
    value: item.value,
    expiresAt: item.expiresInMs === undefined ? 0 : sentAt + item.expiresInMs,
  };
}

/** Not past its expiry at `now`. */
function live(item: CachedItem, now: number): boolean {
  return item.expiresAt === 0 || item.expiresAt > now;
}

export class Htables extends EventEmitter<HtablesEvents> {
  /** The tables' link to Redis: `ready`, `up`/`down`, and the name `/readyz` shows. */
  readonly mirror: Mirror;
  private readonly tables = new Map<string, Table>();
  private readonly keys: TrackedKeys;
  /** Which reply may set a key (see ReplyOrder). */
  private readonly order = new ReplyOrder();
  private readonly store: HtableStore;
  private readonly onError: (err: SipfleetRedisError) => void;
  /** Initial values are written once, on the first contact with Redis (start may precede it). */
  private seeded = false;
  private readonly sweep: NodeJS.Timeout;

  private constructor(
    private readonly conn: RedisConnection,
    defs: ResolvedDefinition[],
    options: HtablesOptions,
  ) {
    super();
    this.onError = options.onError ?? (() => undefined);
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
    this.store = new HtableStore(conn);
    this.keys = new TrackedKeys(conn, {
      ...options,
      name: 'htables',
      prefixes: [...this.tables.values()].map((t) => t.prefix),
      read: (changed) => this.readAll(changed),
      refetch: (keys) => this.refetch(keys),
    });
    this.keys.tracker.on('invalidate', (keys) => this.count(keys));
    this.mirror = this.keys.mirror;
    this.mirror.on('up', () => this.emit('up'));
    this.mirror.on('down', () => this.emit('down'));
    this.sweep = setInterval(() => this.sweepExpired(), options.expirySweepMs ?? 1000);
    this.sweep.unref();
  }

  /**
   * Declares the tables and starts tracking in the background; returns at once. The caches fill
   * (and missing initial values are written) as soon as Redis answers: until then `get` answers
   * from empty tables (initval) and `ready` is false.
   */
  static start(
    conn: RedisConnection,
    definitions: HtableDefinition[],
    options: HtablesOptions = {},
  ): Htables {
    const ht = new Htables(conn, resolveDefinitions(definitions), options);
    ht.mirror.start();
    return ht;
  }

  /**
   * start(), then waits until the caches are read. Rejects (typed) if Redis cannot be reached
   * within `openTimeoutMs`.
   */
  static async open(
    conn: RedisConnection,
    definitions: HtableDefinition[],
    options: HtablesOptions = {},
  ): Promise<Htables> {
    const ht = Htables.start(conn, definitions, options);
    try {
      await ht.mirror.waitUntilReady(options.openTimeoutMs ?? 10_000);
    } catch (err) {
      await ht.close();
      throw err instanceof HtableError ? err : toRedisError(err);
    }
    return ht;
  }

  /** True while Redis is connected, tracking is on and the caches have been read since. */
  get ready(): boolean {
    return this.mirror.ready;
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
    // An item past its expiry is a miss at once; the sweep removes it and emits `expired`.
    if (item && live(item, Date.now())) {
      t.stats.hits++;
      return item.value;
    }
    t.stats.misses++;
    return t.def.initval;
  }

  // ---- matching: synchronous, from the cache (Kamailio matches its local table) ----------------

  /** `sht_match_name(table, op, value)`, `sht_has_name`: does some live item's key match? */
  matchName(table: string, op: HtableMatchOp, value: string): boolean {
    return this.countNames(table, op, value, 1) > 0;
  }

  /** `sht_match_str_value(table, op, value)`, `sht_has_str_value`: does some string item match? */
  matchValue(table: string, op: HtableMatchOp, value: string): boolean {
    return this.countValues(table, op, value, 1) > 0;
  }

  /** `$shtcn(table=>expr)`: how many live items' keys match (`sht_rm_name` operators). */
  countNames(table: string, op: HtableMatchOp, value: string, stopAt = Infinity): number {
    const matches = htableMatcher(op, value);
    return this.countItems(table, stopAt, (key) => matches(key));
  }

  /** `$shtcv(table=>expr)`: how many live string items' values match (integers never do). */
  countValues(table: string, op: HtableMatchOp, value: string, stopAt = Infinity): number {
    const matches = htableMatcher(op, value);
    return this.countItems(table, stopAt, (_key, v) => typeof v === 'string' && matches(v));
  }

  private countItems(
    table: string,
    stopAt: number,
    test: (key: string, value: HtableValue) => boolean,
  ): number {
    const now = Date.now();
    let n = 0;
    for (const [key, item] of this.table(table).items) {
      if (live(item, now) && test(key, item.value) && ++n >= stopAt) break;
    }
    return n;
  }

  // ---- writes: Redis first, then the cache -----------------------------------------------------

  /** `htable.sets` / `sht_setxs`: string item, optional expire in seconds (0 = table rules). */
  async sets(table: string, key: string, value: string, expire = 0): Promise<void> {
    if (typeof value !== 'string') throw this.badValue('sets takes a string');
    await this.write(table, key, value, expire);
  }

  /** `htable.seti` / `sht_setxi`: integer item, optional expire in seconds (0 = table rules). */
  async seti(table: string, key: string, value: number, expire = 0): Promise<void> {
    if (!Number.isSafeInteger(value)) throw this.badValue('seti takes an integer');
    await this.write(table, key, value, expire);
  }

  private badValue(message: string): HtableError {
    return new HtableError('SIPFLEET_ERR_HTABLE_BAD_VALUE', message);
  }

  private async write(table: string, key: string, value: HtableValue, expire: number) {
    const t = this.table(table);
    if (!Number.isSafeInteger(expire) || expire < 0)
      throw this.badValue('expire must be whole seconds >= 0');
    const sentAt = Date.now();
    await this.order.command(async (seq) => {
      const { expiresInMs } = await this.store.set(t.def, key, value, expire);
      this.setLocal(t, key, cached({ value, expiresInMs }, sentAt), seq);
    });
  }

  /**
   * Read-your-writes: the cache takes a write's result at once (the invalidation follows), unless
   * the reply to a later command for the key was taken already (ReplyOrder).
   */
  private setLocal(t: Table, key: string, item: CachedItem | undefined, seq: number): void {
    if (!this.order.take(t.prefix + key, seq)) return;
    if (item) t.items.set(key, item);
    else t.items.delete(key);
    this.keys.wrote(t.prefix + key);
  }

  /** `$shtinc(table=>key)` / `htable.seti`-free counter: atomic add, returns the new value. */
  async inc(table: string, key: string, by = 1): Promise<number> {
    const t = this.table(table);
    if (!Number.isSafeInteger(by)) throw this.badValue('inc/dec take an integer amount');
    const sentAt = Date.now();
    return this.order.command(async (seq) => {
      const item = await this.store.inc(t.def, key, by);
      this.setLocal(t, key, cached(item, sentAt), seq);
      return Number(item.value);
    });
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
    const sentAt = Date.now();
    const exists = await this.store.setex(table, key, expire);
    const item = t.items.get(key);
    if (item) item.expiresAt = expire > 0 ? sentAt + expire * 1000 : 0;
    return exists;
  }

  /** `htable.delete` / `sht_rm`: removes one item. True if it existed. */
  async delete(table: string, key: string): Promise<boolean> {
    const t = this.table(table);
    return this.order.command(async (seq) => {
      const removed = await this.store.delete(table, key);
      this.setLocal(t, key, undefined, seq);
      return removed;
    });
  }

  /**
   * `sht_rm_name(table, op, value)`, `sht_rm_name_re(table=>re)` (op `re`): removes the items
   * whose key matches, as Redis holds them now (SCAN, not the cache); returns how many.
   */
  async removeNames(table: string, op: HtableMatchOp, value: string): Promise<number> {
    const t = this.table(table);
    const matches = htableMatcher(op, value);
    const keys = (await this.store.keys(table)).filter((key) => matches(key));
    return this.removeKeys(t, keys);
  }

  /**
   * `sht_rm_value(table, op, value)`, `sht_rm_value_re(table=>re)` (op `re`): removes the string
   * items whose value matches, as Redis holds them now (a full read); returns how many. An item
   * rewritten between the read and the removal is removed all the same.
   */
  async removeValues(table: string, op: HtableMatchOp, value: string): Promise<number> {
    const t = this.table(table);
    const matches = htableMatcher(op, value);
    const read = await this.store.read(table);
    const keys = [...read.items]
      .filter(([, item]) => typeof item.value === 'string' && matches(item.value))
      .map(([key]) => key);
    return this.removeKeys(t, keys);
  }

  private async removeKeys(t: Table, keys: string[]): Promise<number> {
    return this.order.command(async (seq) => {
      const removed = await this.store.remove(t.def.name, keys);
      for (const key of keys) this.setLocal(t, key, undefined, seq);
      return removed;
    });
  }

  /** `htable.flush` / `sht_reset`: removes every item of the table; returns how many. */
  async flush(table: string): Promise<number> {
    const t = this.table(table);
    const removed = await this.store.flush(table);
    t.items.clear();
    return removed;
  }

  // ---- inspection and maintenance --------------------------------------------------------------

  /** `htable.dump`: the table as Redis holds it now (a round trip per 500 items; not for the call path). */
  async dump(table: string): Promise<HtableEntry[]> {
    const t = this.table(table);
    const read = await this.store.read(t.def.name);
    return [...read.items.entries()]
      .map(([key, item]) => ({
        key,
        value: item.value,
        type: typeof item.value === 'number' ? ('int' as const) : ('str' as const),
        expiresInMs: item.expiresInMs,
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
      for (const item of t.items.values()) if (live(item, now)) items++;
      return { ...t.stats, items };
    });
  }

  /**
   * `htable.reload`: writes initial values that are missing (never overwriting) and re-reads the
   * tables from Redis into the cache (all of them: one pass serves every caller).
   */
  async reload(table?: string): Promise<void> {
    const targets = table === undefined ? [...this.tables.values()] : [this.table(table)];
    for (const t of targets) await this.store.seed(t.def);
    await this.mirror.resync();
  }

  // ---- cache maintenance ------------------------------------------------------------------------

  /**
   * The full read: seeds once, then re-reads every table and replaces its cache, except for the
   * keys `changed` meanwhile (TrackedKeys re-reads those after).
   */
  private async readAll(changed: ReadonlySet<string>): Promise<void> {
    if (!this.seeded) {
      for (const t of this.tables.values()) {
        try {
          await this.store.seed(t.def);
        } catch (err) {
          const e = toRedisError(err);
          // Redis away: the next read seeds. Anything else (an operator's string where an initial
          // value goes) will not heal by retrying: say so and read the tables anyway.
          if (
            e.code === 'SIPFLEET_ERR_REDIS_UNAVAILABLE' ||
            e.code === 'SIPFLEET_ERR_REDIS_TIMEOUT'
          )
            throw e;
          this.onError(e);
        }
      }
      this.seeded = true;
    }
    for (const t of this.tables.values()) {
      const sentAt = Date.now();
      const items = new Map<string, CachedItem>();
      await this.order.command(async (seq) => {
        const read = await this.store.read(t.def.name);
        for (const key of new Set([...read.items.keys(), ...t.items.keys()])) {
          const fullKey = t.prefix + key;
          const current = t.items.get(key);
          // A key changed while we were reading may have been read before its change landed, and
          // a reply to a later command may be in the cache already (ReplyOrder): keep what the
          // cache holds for those (never blink to unset); TrackedKeys re-reads changed keys after.
          if (changed.has(fullKey) || !this.order.take(fullKey, seq)) {
            if (current) items.set(key, current);
            continue;
          }
          const item = read.items.get(key);
          if (item) items.set(key, cached(item, sentAt));
          else if (current) this.gone(t, key, current);
        }
        t.stats.malformed = read.malformed.length;
      });
      t.items = items;
      t.stats.resyncs++;
    }
  }

  /** `htable.stats` invalidations; TrackedKeys does the re-reading. */
  private count(keys: string[] | null): void {
    // null: FLUSHALL / FLUSHDB, every table may have changed.
    const tables = keys === null ? this.tables.values() : keys.map((k) => this.tableOf(k));
    for (const t of tables) if (t) t.stats.invalidations++;
  }

  private tableOf(fullKey: string): Table | undefined {
    for (const t of this.tables.values()) if (fullKey.startsWith(t.prefix)) return t;
    return undefined;
  }

  /** TrackedKeys' refetch: one pipeline per table (a burst of invalidations comes coalesced). */
  private async refetch(keys: string[]): Promise<void> {
    for (const t of this.tables.values()) {
      const mine = keys.filter((k) => k.startsWith(t.prefix)).map((k) => k.slice(t.prefix.length));
      if (mine.length === 0) continue;
      // Replies on one connection come back in order, so the newest read is applied last.
      const sentAt = Date.now();
      await this.order.command(async (seq) => {
        const read = await this.store.read(t.def.name, mine);
        for (const key of mine) {
          if (!this.order.take(t.prefix + key, seq)) continue;
          const item = read.items.get(key);
          if (item) t.items.set(key, cached(item, sentAt));
          else {
            const was = t.items.get(key);
            if (was) this.gone(t, key, was);
          }
        }
      });
    }
  }

  /**
   * An item left the cache: `expired` when its expiry is due (see `cached`), otherwise Redis no
   * longer holds it because it was deleted, and nothing is emitted.
   */
  private gone(t: Table, key: string, item: CachedItem): void {
    t.items.delete(key);
    if (item.expiresAt !== 0 && item.expiresAt <= Date.now()) {
      this.emit('expired', t.def.name, key, item.value);
    }
  }

  /** Items past their expiry leave the cache with an `expired` event, Redis' notice or not. */
  private sweepExpired(): void {
    const now = Date.now();
    for (const t of this.tables.values()) {
      for (const [key, item] of t.items) if (!live(item, now)) this.gone(t, key, item);
    }
  }

  /** Stops tracking and timers. The connection belongs to the caller and stays open. */
  async close(): Promise<void> {
    clearInterval(this.sweep);
    await this.mirror.close();
  }
}
