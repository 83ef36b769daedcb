// The Redis half of secfilter's shared state: blocked sources (one string key per address, its
// TTL the block's remaining time) and the four lists (one set each). Every write is one plain
// command an operator can type with redis-cli instead (docs/cli.md lists the equivalents).
import { type RedisConnection, toRedisError } from '@sipfleet/redis';
import { SecfilterError } from '../errors.js';
import { type SecfilterList, normalizeAddressEntry } from '../lists.js';

export interface BlockEntry {
  address: string;
  /** Milliseconds left; null = no expiry (removed only by `unblock` or DEL). */
  expiresInMs: number | null;
  /** Who blocked it: `pike:<nodeId>`, `user-agent:<nodeId>`, `manual`, or what an operator wrote. */
  by: string;
}

/** One blocked address: a plain IPv4 or IPv6 address (no CIDR: ranges go on the deny-ip list). */
export function normalizeBlockAddress(address: string): string {
  const normalized = normalizeAddressEntry(address);
  if (normalized.includes('/')) {
    throw new SecfilterError(
      'SIPFLEET_ERR_SECFILTER_BAD_ENTRY',
      `'${address}' is a range: block takes one address (put ranges on the deny-ip list)`,
    );
  }
  return normalized;
}

/** An entry as a list stores it: addresses normalized, User-Agent patterns trimmed. */
export function normalizeListEntry(list: SecfilterList, entry: string): string {
  if (list === 'allow-ip' || list === 'deny-ip') return normalizeAddressEntry(entry);
  const trimmed = entry.trim();
  if (trimmed === '') {
    throw new SecfilterError('SIPFLEET_ERR_SECFILTER_BAD_ENTRY', 'an empty User-Agent pattern');
  }
  return trimmed;
}

export class SecfilterStore {
  constructor(private readonly conn: RedisConnection) {}

  /** SET with PX: `ttlMs` 0 blocks until `unblock`. */
  async block(address: string, ttlMs: number, by: string): Promise<void> {
    const key = this.conn.keys.sfBlock(normalizeBlockAddress(address));
    if (ttlMs > 0) await this.conn.call('SET', key, by, 'PX', ttlMs);
    else await this.conn.call('SET', key, by);
  }

  /** DEL; true when the address was blocked. */
  async unblock(address: string): Promise<boolean> {
    const key = this.conn.keys.sfBlock(normalizeBlockAddress(address));
    return (await this.conn.call('DEL', key)) === 1;
  }

  /** Every block in Redis (SCAN, then GET + PTTL in pipelines; one slot, `{sf}`). */
  async blocks(): Promise<BlockEntry[]> {
    const prefix = this.conn.keys.sfBlockPrefix();
    const keys = await this.conn.scan(this.conn.keys.sfBlockPattern());
    const out: BlockEntry[] = [];
    for (let i = 0; i < keys.length; i += 500) {
      const batch = keys.slice(i, i + 500);
      const replies = await this.readBlocks(batch);
      batch.forEach((key, n) => {
        const reply = replies[n];
        if (reply === undefined) return;
        out.push({ address: key.slice(prefix.length), ...reply });
      });
    }
    return out.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  }

  /** GET + PTTL of block keys, in key order; undefined for a key that is gone. */
  async readBlocks(
    keys: string[],
  ): Promise<({ expiresInMs: number | null; by: string } | undefined)[]> {
    if (keys.length === 0) return [];
    const pipeline = this.conn.client.pipeline();
    for (const key of keys) pipeline.get(key).pttl(key);
    let replies: [Error | null, unknown][] | null;
    try {
      replies = await pipeline.exec();
    } catch (err) {
      throw toRedisError(err);
    }
    return keys.map((_key, n) => {
      const [getErr, value] = replies?.[2 * n] ?? [null, null];
      const [, pttl] = replies?.[2 * n + 1] ?? [null, -2];
      const ms = Number(pttl);
      // Gone, or not a string (WRONGTYPE: someone wrote a hash there): not a block.
      if (getErr || value === null || ms === -2) return undefined;
      return { expiresInMs: ms === -1 ? null : ms, by: String(value) };
    });
  }

  /** SADD; false when the entry was there already. */
  async add(list: SecfilterList, entry: string): Promise<boolean> {
    const value = normalizeListEntry(list, entry);
    return (await this.conn.call('SADD', this.conn.keys.sfList(list), value)) === 1;
  }

  /** SREM of the entry as given and as normalized; false when it was not on the list. */
  async remove(list: SecfilterList, entry: string): Promise<boolean> {
    let normalized = entry;
    try {
      normalized = normalizeListEntry(list, entry);
    } catch {
      // A malformed entry someone put there by hand can still be removed as written.
    }
    const removed = await this.conn.call(
      'SREM',
      this.conn.keys.sfList(list),
      ...new Set([entry, normalized]),
    );
    return Number(removed) > 0;
  }

  /** SMEMBERS, sorted. */
  async members(list: SecfilterList): Promise<string[]> {
    const members = (await this.conn.call('SMEMBERS', this.conn.keys.sfList(list))) as string[];
    return [...members].sort();
  }
}
