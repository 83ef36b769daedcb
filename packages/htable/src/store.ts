// The htables in Redis: the only code that runs this package's Lua and reads items, for the
// long-lived cache (Htables) and for one-shot tools (`sipfleet ctl htable`, `ctl maintenance`)
// alike, so type and expiry rules and what counts as an item cannot drift apart. Key names come
// from @sipfleet/redis KeyBuilder; nothing here runs per call.
import { fileURLToPath } from 'node:url';
import { type RedisConnection, ScriptRunner, escapeGlob, toRedisError } from '@sipfleet/redis';
import type { HtableValue, ResolvedDefinition } from './definition.js';
import { decodeItem } from './item.js';

/** This package's Lua (`packages/htable/lua`, outside src so the build need not copy it). */
const HTABLE_LUA_DIR = fileURLToPath(new URL('../lua/', import.meta.url));

/** One item as Redis holds it. */
export interface StoredItem {
  value: HtableValue;
  /** Milliseconds left before Redis deletes it (PTTL); undefined = no expiry. */
  expiresInMs: number | undefined;
}

export interface TableRead {
  /** Item key (without the table prefix) -> item. */
  items: Map<string, StoredItem>;
  /** Keys under the table's prefix that are not items (another Redis type, a hash without i/s). */
  malformed: string[];
}

/** What a write left: `written` false when `nx` found the item present. */
export interface WriteResult {
  written: boolean;
  expiresInMs: number | undefined;
}

/** PTTL's answer as a lifetime: -1 (no expiry) and -2 (gone) are none. */
const ttl = (pttl: unknown): number | undefined => (Number(pttl) > 0 ? Number(pttl) : undefined);

export class HtableStore {
  private readonly scripts: ScriptRunner;

  constructor(private readonly conn: RedisConnection) {
    this.scripts = new ScriptRunner(conn, [HTABLE_LUA_DIR]);
  }

  /**
   * `htable.sets` / `.seti` through `ht-set-1.lua`: the type field, the removal of the other one
   * and the expiry rules in one atomic step. `mode` 'nx' writes only a missing item (initial
   * values). Rejects SIPFLEET_ERR_REDIS_SCRIPT_WRONG_TYPE when the key holds something else.
   */
  async set(
    def: ResolvedDefinition,
    key: string,
    value: HtableValue,
    expire: number,
    mode: 'set' | 'nx' = 'set',
  ): Promise<WriteResult> {
    const [code, pttl] = await this.scripts.run(
      'ht-set',
      [this.conn.keys.htEntry(def.name, key)],
      [
        typeof value === 'number' ? 'i' : 's',
        value,
        expire,
        def.autoexpire,
        def.updateexpire ? '1' : '0',
        mode,
      ],
    );
    return { written: code === 1, expiresInMs: ttl(pttl) };
  }

  /** `$shtinc`: atomic add (from `initval` for a missing item); the new value and its expiry. */
  async inc(def: ResolvedDefinition, key: string, by: number): Promise<StoredItem> {
    const [, value, pttl] = await this.scripts.run(
      'ht-incr',
      [this.conn.keys.htEntry(def.name, key)],
      [by, def.autoexpire, def.updateexpire ? '1' : '0', def.initval ?? 0],
    );
    return { value: Number(value), expiresInMs: ttl(pttl) };
  }

  /** Writes each of the table's initial values that is missing; never overwrites. */
  async seed(def: ResolvedDefinition): Promise<{ written: string[]; present: string[] }> {
    const out = { written: [] as string[], present: [] as string[] };
    for (const [key, value] of Object.entries(def.initial)) {
      const { written } = await this.set(def, key, value, 0, 'nx');
      (written ? out.written : out.present).push(key);
    }
    return out;
  }

  /** `$shtex`: sets an item's expire in seconds (0 = never). False when the item is missing. */
  async setex(table: string, key: string, expire: number): Promise<boolean> {
    const fullKey = this.conn.keys.htEntry(table, key);
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
    return replies?.[1]?.[1] === 1;
  }

  /** `sht_rm`: removes one item. True if it existed. */
  async delete(table: string, key: string): Promise<boolean> {
    return (await this.conn.call('DEL', this.conn.keys.htEntry(table, key))) === 1;
  }

  /** `sht_reset`: removes every key under the table's prefix; returns how many. */
  async flush(table: string): Promise<number> {
    return this.unlink(await this.conn.scan(this.conn.keys.htEntryPattern(table)));
  }

  /** `sht_rm_name` / `sht_rm_value`: removes these items of one table; returns how many existed. */
  async remove(table: string, keys: readonly string[]): Promise<number> {
    return this.unlink(keys.map((key) => this.conn.keys.htEntry(table, key)));
  }

  private async unlink(fullKeys: readonly string[]): Promise<number> {
    let removed = 0;
    // One slot per table (hash tag), so a multi-key UNLINK is legal on Cluster.
    for (let i = 0; i < fullKeys.length; i += 500) {
      removed += Number(await this.conn.call('UNLINK', ...fullKeys.slice(i, i + 500)));
    }
    return removed;
  }

  /** Every table found in Redis, with its item keys (SCAN; for listings, not the call path). */
  async tables(): Promise<Map<string, string[]>> {
    const tables = new Map<string, string[]>();
    for (const fullKey of await this.conn.scan(this.conn.keys.htAnyEntryPattern())) {
      const entry = this.conn.keys.htEntryOf(fullKey);
      if (entry === undefined) continue;
      const keys = tables.get(entry.table) ?? [];
      keys.push(entry.key);
      tables.set(entry.table, keys);
    }
    return tables;
  }

  /** The item keys of one table whose key starts with `keyStart` (SCAN). */
  async keys(table: string, keyStart = ''): Promise<string[]> {
    const found = await this.conn.scan(`${escapeGlob(this.conn.keys.htEntry(table, keyStart))}*`);
    return found.flatMap((fullKey) => this.conn.keys.htEntryOf(fullKey)?.key ?? []);
  }

  /**
   * Reads items: HGETALL + PTTL per key, pipelined 500 keys at a time (one table = one slot).
   * Without `keys`, the whole table. A key that vanished since is simply absent.
   */
  async read(table: string, keys?: string[]): Promise<TableRead> {
    const itemKeys = keys ?? (await this.keys(table));
    const out: TableRead = { items: new Map(), malformed: [] };
    for (let i = 0; i < itemKeys.length; i += 500) {
      const batch = itemKeys.slice(i, i + 500);
      const pipeline = this.conn.client.pipeline();
      for (const key of batch) {
        const fullKey = this.conn.keys.htEntry(table, key);
        pipeline.hgetall(fullKey).pttl(fullKey);
      }
      let replies: [Error | null, unknown][] | null;
      try {
        replies = await pipeline.exec();
      } catch (err) {
        throw toRedisError(err);
      }
      batch.forEach((key, n) => {
        const [hashErr, fields] = replies?.[2 * n] ?? [null, {}];
        const [, pttl] = replies?.[2 * n + 1] ?? [null, -2];
        // WRONGTYPE: someone SET a plain string (or a list, ...) under the table's prefix.
        if (hashErr && !/WRONGTYPE/.test(hashErr.message)) throw toRedisError(hashErr);
        const hash = hashErr ? undefined : (fields as Record<string, string>);
        // An empty hash: the key expired or was deleted between SCAN and now.
        if (hash && Object.keys(hash).length === 0) return;
        const value = hash && decodeItem(hash);
        if (value === undefined) out.malformed.push(key);
        else out.items.set(key, { value, expiresInMs: ttl(pttl) });
      });
    }
    out.malformed.sort();
    return out;
  }
}
