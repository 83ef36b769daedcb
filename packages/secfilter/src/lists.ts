// The shared lists (Kamailio secfilter's whitelist/blacklist types `ip` and `ua`): one Redis set
// each, written by `sipfleet ctl secfilter` or plain redis-cli SADD/SREM, mirrored by every edge.
import { BlockList, isIP } from 'node:net';
import { SecfilterError } from './errors.js';

export const SECFILTER_LISTS = ['allow-ip', 'deny-ip', 'allow-ua', 'deny-ua'] as const;
export type SecfilterList = (typeof SECFILTER_LISTS)[number];
export type AddressList = 'allow-ip' | 'deny-ip';
export type UserAgentList = 'allow-ua' | 'deny-ua';

export function isSecfilterList(name: string): name is SecfilterList {
  return (SECFILTER_LISTS as readonly string[]).includes(name);
}

export function checkList(name: string): SecfilterList {
  if (isSecfilterList(name)) return name;
  throw new SecfilterError(
    'SIPFLEET_ERR_SECFILTER_UNKNOWN_LIST',
    `unknown secfilter list '${name}' (one of ${SECFILTER_LISTS.join(', ')})`,
  );
}

/** A dual-stack socket reports IPv4 peers as `::ffff:a.b.c.d`; lists and keys use `a.b.c.d`. */
export function plainAddress(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/**
 * `a.b.c.d`, `a.b.c.d/n`, an IPv6 address or `v6/n`, in the form the lists store (lower case, no
 * `::ffff:`). Throws SIPFLEET_ERR_SECFILTER_BAD_ENTRY otherwise.
 */
export function normalizeAddressEntry(entry: string): string {
  const [address = '', bits, ...rest] = entry.trim().toLowerCase().split('/');
  const plain = plainAddress(address);
  const family = isIP(plain);
  const max = family === 4 ? 32 : 128;
  const ok =
    family !== 0 &&
    rest.length === 0 &&
    (bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= max));
  if (!ok) {
    throw new SecfilterError(
      'SIPFLEET_ERR_SECFILTER_BAD_ENTRY',
      `'${entry}' is not an IP address or CIDR (e.g. 203.0.113.7, 10.0.0.0/8, 2001:db8::/32)`,
    );
  }
  return bits === undefined ? plain : `${plain}/${Number(bits)}`;
}

/** Addresses and CIDRs matched with node's BlockList (IPv4 and IPv6). */
export class AddressSet {
  private readonly list = new BlockList();
  /** Entries that were not addresses (a hand-written typo in Redis): ignored, reported. */
  readonly malformed: string[] = [];
  readonly size: number;

  constructor(entries: Iterable<string>) {
    let size = 0;
    for (const entry of entries) {
      let normalized: string;
      try {
        normalized = normalizeAddressEntry(entry);
      } catch {
        this.malformed.push(entry);
        continue;
      }
      const [address = '', bits] = normalized.split('/');
      const type = isIP(address) === 4 ? 'ipv4' : 'ipv6';
      if (bits === undefined) this.list.addAddress(address, type);
      else this.list.addSubnet(address, Number(bits), type);
      size++;
    }
    this.size = size;
  }

  /** `address` as the socket reported it. Not for every message: the filter caches the answer. */
  has(address: string): boolean {
    if (this.size === 0) return false;
    const plain = plainAddress(address);
    const family = isIP(plain);
    if (family === 0) return false;
    return this.list.check(plain, family === 4 ? 'ipv4' : 'ipv6');
  }
}

/**
 * User-Agent patterns: case-insensitive substrings, like the `$ua =~ "friendly|scanner|sipcli"`
 * test of Kamailio's default config.
 */
export class UserAgentSet {
  private readonly patterns: string[];

  constructor(entries: Iterable<string>) {
    this.patterns = [...entries].map((e) => e.trim().toLowerCase()).filter((e) => e !== '');
  }

  get size(): number {
    return this.patterns.length;
  }

  matches(userAgent: string): boolean {
    if (this.patterns.length === 0) return false;
    const ua = userAgent.toLowerCase();
    return this.patterns.some((p) => ua.includes(p));
  }
}
