// Kamailio's pike and secfilter source checks for every datagram, before it is parsed.
//
// One Map lookup per message: the entry of a source address carries its verdict for the current
// lists (recomputed only after a list changed), its block expiry and its rate counters. Nothing is
// allocated per message once a source is known.
import {
  AddressSet,
  type AddressList,
  plainAddress,
  UserAgentSet,
  type UserAgentList,
} from './lists.js';

export type BlockReason = 'pike' | 'user-agent';

export interface SourceFilterOptions {
  /** Kamailio pike `sampling_time_unit`, in milliseconds. @default 2000 */
  samplingTimeUnitMs?: number;
  /**
   * Kamailio pike `reqs_density_per_unit`: requests a source may send per sampling unit; the
   * next one blocks it. @default 16 (Kamailio's default config, WITH_ANTIFLOOD)
   */
  reqsDensityPerUnit?: number;
  /** Kamailio pike `remove_latency`, in ms: how long an idle source stays remembered. @default 4000 */
  removeLatencyMs?: number;
  /**
   * How long a blocked source stays blocked, in ms (the `ipban` htable's autoexpire of Kamailio's
   * default config). @default 300000
   */
  banMs?: number;
  /** Addresses and CIDRs never rate-limited, blocked or checked (trunks, media servers). @default [] */
  trusted?: readonly string[];
  /**
   * Most sources remembered at once; a new source beyond that passes unmetered (counted as
   * `untracked`), so a flood of spoofed addresses cannot grow memory. @default 100000
   */
  maxSources?: number;
  /** The time source, in ms. @default Date.now */
  now?: () => number;
  /** This filter blocked a source (over the rate, or a denied User-Agent): publish it. @default none */
  onBlock?: (address: string, banMs: number, reason: BlockReason) => void;
}

export interface SourceFilterCounters {
  /** Messages dropped because their source was blocked (locally or by the fleet). */
  droppedBlocked: number;
  /** Messages dropped because their source is on the deny-ip list. */
  droppedDenied: number;
  /** Requests refused because their User-Agent is on the deny-ua list. */
  refusedUserAgent: number;
  /** Sources this filter blocked, by reason. */
  blocksPike: number;
  blocksUserAgent: number;
  /** Messages from new sources that passed unmetered because `maxSources` were remembered. */
  untracked: number;
}

class Source {
  /** The list generation `trusted`/`denied` were computed for. */
  gen = -1;
  trusted = false;
  denied = false;
  /** Blocked while now < blockedUntil; Infinity = until someone removes the block. */
  blockedUntil = 0;
  unitStart = 0;
  /** Requests in the current sampling unit and in the one before it. */
  count = 0;
  prev = 0;
  lastSeen = 0;
}

/** The first bytes of a response: responses are never metered (only requests are, as in pike). */
const SIP_ = [0x53, 0x49, 0x50, 0x2f];

/**
 * True when a datagram starts like a request (an upper-case method token), false for responses,
 * CRLF keepalives and junk.
 */
export function looksLikeRequest(data: Uint8Array): boolean {
  const first = data[0] ?? 0;
  if (first < 0x41 || first > 0x5a) return false;
  return !(data[1] === SIP_[1] && data[2] === SIP_[2] && data[3] === SIP_[3] && first === SIP_[0]);
}

export class SourceFilter {
  private readonly unitMs: number;
  private readonly density: number;
  private readonly removeLatencyMs: number;
  readonly banMs: number;
  private readonly maxSources: number;
  private readonly now: () => number;
  private readonly onBlock: SourceFilterOptions['onBlock'];
  private readonly trusted: AddressSet;
  private readonly sources = new Map<string, Source>();
  /** Every block this process knows of (its own and the fleet's): address -> until. */
  private readonly blocks = new Map<string, number>();
  private allowIp = new AddressSet([]);
  private denyIp = new AddressSet([]);
  private allowUa = new UserAgentSet([]);
  private denyUa = new UserAgentSet([]);
  private gen = 0;
  private lastSweep = -Infinity;
  readonly counters: SourceFilterCounters = {
    droppedBlocked: 0,
    droppedDenied: 0,
    refusedUserAgent: 0,
    blocksPike: 0,
    blocksUserAgent: 0,
    untracked: 0,
  };

  constructor(options: SourceFilterOptions = {}) {
    this.unitMs = options.samplingTimeUnitMs ?? 2000;
    this.density = options.reqsDensityPerUnit ?? 16;
    this.removeLatencyMs = options.removeLatencyMs ?? 4000;
    this.banMs = options.banMs ?? 300_000;
    this.maxSources = options.maxSources ?? 100_000;
    this.now = options.now ?? Date.now;
    this.onBlock = options.onBlock;
    this.trusted = new AddressSet(options.trusted ?? []);
    if (this.trusted.malformed.length > 0) {
      throw new RangeError(`trusted: not an address or CIDR: ${this.trusted.malformed.join(', ')}`);
    }
  }

  /**
   * Every received message, before parsing: false means drop it silently. `request` says whether
   * it counts against the source's rate (see looksLikeRequest).
   */
  admit(address: string, request: boolean): boolean {
    let s = this.sources.get(address);
    if (s === undefined) {
      s = this.remember(address);
      if (s === undefined) return this.admitUntracked(address);
    }
    if (s.gen !== this.gen) this.classify(address, s);
    if (s.trusted) return true;
    const now = this.now();
    s.lastSeen = now;
    if (s.denied) {
      this.counters.droppedDenied++;
      return false;
    }
    if (s.blockedUntil > now) {
      this.counters.droppedBlocked++;
      return false;
    }
    if (!request || !this.overRate(s, now)) return true;
    this.counters.blocksPike++;
    this.block(address, s, now, 'pike');
    this.counters.droppedBlocked++;
    return false;
  }

  private remember(address: string): Source | undefined {
    if (this.sources.size >= this.maxSources) {
      // At most one sweep a second here: under a flood of spoofed sources, a sweep per message
      // would cost O(maxSources) each.
      const now = this.now();
      if (now - this.lastSweep >= 1000) this.sweep();
      if (this.sources.size >= this.maxSources) return undefined;
    }
    const s = new Source();
    s.blockedUntil = this.blocks.get(plainAddress(address)) ?? 0;
    this.sources.set(address, s);
    return s;
  }

  private admitUntracked(address: string): boolean {
    this.counters.untracked++;
    if (this.trusted.has(address) || this.allowIp.has(address)) return true;
    if (this.denyIp.has(address)) {
      this.counters.droppedDenied++;
      return false;
    }
    if ((this.blocks.get(plainAddress(address)) ?? 0) > this.now()) {
      this.counters.droppedBlocked++;
      return false;
    }
    return true;
  }

  private classify(address: string, s: Source): void {
    s.gen = this.gen;
    // Kamailio secfilter: the allow list wins over the deny list.
    s.trusted = this.trusted.has(address) || this.allowIp.has(address);
    s.denied = !s.trusted && this.denyIp.has(address);
  }

  /**
   * Pike's density test as a sliding window: the previous unit's count, weighted by how much of
   * it still lies within one unit of now, plus the current unit's count.
   */
  private overRate(s: Source, now: number): boolean {
    const unit = this.unitMs;
    let elapsed = now - s.unitStart;
    if (elapsed >= unit) {
      const next = elapsed < 2 * unit;
      s.prev = next ? s.count : 0;
      s.unitStart = next ? s.unitStart + unit : now;
      s.count = 0;
      elapsed = now - s.unitStart;
    }
    s.count++;
    return s.prev * ((unit - elapsed) / unit) + s.count > this.density;
  }

  private block(address: string, s: Source, now: number, reason: BlockReason): void {
    s.blockedUntil = now + this.banMs;
    const plain = plainAddress(address);
    this.blocks.set(plain, s.blockedUntil);
    this.onBlock?.(plain, this.banMs, reason);
  }

  /** True when `address` is trusted (config or allow-ip): no checks apply to it. */
  isTrusted(address: string): boolean {
    const s = this.sources.get(address);
    if (s === undefined) return this.trusted.has(address) || this.allowIp.has(address);
    if (s.gen !== this.gen) this.classify(address, s);
    return s.trusted;
  }

  /** False while the deny-ua list is empty: callers need not read the User-Agent at all. */
  get checksUserAgents(): boolean {
    return this.denyUa.size > 0;
  }

  /**
   * Kamailio `secf_check_ua()` for a request that passed admit(): true when its User-Agent is on
   * the deny-ua list and not on the allow-ua list. The source is then blocked like a flooder.
   */
  refuseUserAgent(address: string, userAgent: string | undefined): boolean {
    if (userAgent === undefined || this.denyUa.size === 0) return false;
    if (!this.denyUa.matches(userAgent) || this.allowUa.matches(userAgent)) return false;
    if (this.isTrusted(address)) return false;
    this.counters.refusedUserAgent++;
    const now = this.now();
    const s = this.sources.get(address);
    const plain = plainAddress(address);
    if ((s?.blockedUntil ?? this.blocks.get(plain) ?? 0) > now) return true;
    this.counters.blocksUserAgent++;
    if (s !== undefined) this.block(address, s, now, 'user-agent');
    else {
      this.blocks.set(plain, now + this.banMs);
      this.onBlock?.(plain, this.banMs, 'user-agent');
    }
    return true;
  }

  // ---- the fleet's view, fed by the Redis mirror ----------------------------------------------

  /**
   * A block from the fleet (or an operator) for a plain address (`a.b.c.d`, never `::ffff:`):
   * `until` in ms of `now()`, Infinity for no expiry.
   */
  setBlock(address: string, until: number): void {
    this.blocks.set(address, until);
    for (const s of this.entriesOf(address)) s.blockedUntil = until;
  }

  /** The entries of a plain address: as itself and, for IPv4, as a dual-stack socket names it. */
  private entriesOf(address: string): Source[] {
    const out: Source[] = [];
    const s = this.sources.get(address);
    if (s !== undefined) out.push(s);
    const mapped = this.sources.get(`::ffff:${address}`);
    if (mapped !== undefined) out.push(mapped);
    return out;
  }

  /** The block is gone (expired in Redis, or removed by an operator): the source starts afresh. */
  clearBlock(address: string): void {
    this.blocks.delete(address);
    for (const s of this.entriesOf(address)) {
      s.blockedUntil = 0;
      s.count = 0;
      s.prev = 0;
    }
  }

  /** The full set of blocks after a re-read; blocks missing from it are cleared. */
  replaceBlocks(blocks: ReadonlyMap<string, number>): void {
    for (const address of [...this.blocks.keys()]) {
      if (!blocks.has(address)) this.clearBlock(address);
    }
    for (const [address, until] of blocks) this.setBlock(address, until);
  }

  /** Replaces an address list; returns its entries that are not addresses (ignored). */
  setAddressList(list: AddressList, entries: Iterable<string>): string[] {
    const set = new AddressSet(entries);
    if (list === 'allow-ip') this.allowIp = set;
    else this.denyIp = set;
    this.gen++;
    return set.malformed;
  }

  setUserAgentList(list: UserAgentList, entries: Iterable<string>): void {
    if (list === 'allow-ua') this.allowUa = new UserAgentSet(entries);
    else this.denyUa = new UserAgentSet(entries);
  }

  /** Blocked sources with their expiry (ms of `now()`; Infinity = none), expired ones left out. */
  blocked(): Map<string, number> {
    const now = this.now();
    const out = new Map<string, number>();
    for (const [address, until] of this.blocks) if (until > now) out.set(address, until);
    return out;
  }

  get trackedSources(): number {
    return this.sources.size;
  }

  /** Forgets sources idle for `removeLatencyMs` (pike's remove_latency) and expired blocks. */
  sweep(): void {
    const now = this.now();
    this.lastSweep = now;
    for (const [address, until] of this.blocks) if (until <= now) this.blocks.delete(address);
    const idleSince = now - this.removeLatencyMs;
    for (const [address, s] of this.sources) {
      if (s.lastSeen <= idleSince && s.blockedUntil <= now) this.sources.delete(address);
    }
  }
}
