// The one place that builds Redis key and channel names. docs/redis-keys.md lists the same
// catalogue for operators and a test keeps the two identical.
//
// Every key sits under the prefix (default `sipfleet`) and carries a {hash tag}: all keys of one
// htable, or of one dispatcher set, hash to the same Cluster slot, so a multi-key Lua script or
// MULTI over them is legal on Redis Cluster (CROSSSLOT otherwise).
import { SipfleetRedisError } from './errors.js';

/** `bullmq`: a BullMQ key prefix; BullMQ owns the keys under it (`<pattern>:<queue>:*`). */
export type KeyType = 'string' | 'hash' | 'set' | 'zset' | 'channel' | 'bullmq';

export interface KeyCatalogueEntry {
  /** The KeyBuilder method that builds it. */
  name: keyof KeyBuilderMethods;
  /** `<prefix>` and the method's arguments as `<placeholders>`, in argument order. */
  pattern: string;
  type: KeyType;
  writer: string;
  reader: string;
}

type KeyBuilderMethods = Omit<KeyBuilder, 'prefix'>;

export const DEFAULT_KEY_PREFIX = 'sipfleet';

export const KEY_CATALOGUE: readonly KeyCatalogueEntry[] = [
  {
    name: 'htEntry',
    pattern: '<prefix>:{ht:<table>}:<key>',
    type: 'hash',
    writer: 'htable (sets, seti, inc, dec, delete, flush); operators with redis-cli HSET',
    reader: 'htable cache in every process',
  },
  {
    name: 'dsDestinations',
    pattern: '<prefix>:{ds:<setid>}:dst',
    type: 'hash',
    writer: 'sipfleet ctl dispatcher, edge (Contacts of REGISTERs to register-mode sets)',
    reader: 'edge dispatcher cache, prober',
  },
  {
    name: 'dsState',
    pattern: '<prefix>:{ds:<setid>}:state',
    type: 'hash',
    writer: 'prober, sipfleet ctl dispatcher',
    reader: 'edge dispatcher cache',
  },
  {
    name: 'dsRoundRobin',
    pattern: '<prefix>:{ds:<setid>}:rr',
    type: 'string',
    writer: 'edge (INCRBY per leased block, or INCR per call; round-robin algorithm)',
    reader: 'edge',
  },
  {
    name: 'dsLoad',
    pattern: '<prefix>:{ds:<setid>}:load',
    type: 'hash',
    writer: 'edge (call-load algorithm: INVITE, 2xx, BYE, CANCEL)',
    reader: 'edge, sipfleet ctl dispatcher',
  },
  {
    name: 'dsIndex',
    pattern: '<prefix>:{ds}:index',
    type: 'hash',
    writer: 'sipfleet ctl dispatcher (load, add, remove: fields version and sets)',
    reader: 'edge dispatcher cache (full re-read on reload events and reconnects)',
  },
  {
    name: 'dsCalls',
    pattern: '<prefix>:{ds:<setid>}:calls',
    type: 'hash',
    writer: 'edge (call-load: Call-ID -> state, load key, URI; INVITE, 2xx, BYE, CANCEL)',
    reader: 'edge (release, reconcile), sipfleet ctl dispatcher',
  },
  {
    name: 'dsExpiry',
    pattern: '<prefix>:{ds:<setid>}:expiry',
    type: 'zset',
    writer: 'edge (call-load: Call-ID scored by its expiry time in ms)',
    reader: 'edge (reserve and reconcile drop expired calls)',
  },
  {
    name: 'dsVoid',
    pattern: '<prefix>:{ds:<setid>}:void',
    type: 'zset',
    writer:
      'edge (call-load: tokens of reserves and assigns released before they ran, and `c <Call-ID>` for 10 s after a release found no slot, scored by expiry in ms)',
    reader:
      'edge (a reserve or assign carrying a listed token takes no slot, nor an assign of a listed Call-ID)',
  },
  {
    name: 'dsLatency',
    pattern: '<prefix>:{ds:<setid>}:latency',
    type: 'hash',
    writer: 'prober (per URI: "<est> <avg> <n> <std> <max> <timeouts> <m2>", RTT statistics in ms)',
    reader:
      'edge (algorithms 11 with cc=1 and 13, every latencyRefreshMs), sipfleet ctl dispatcher',
  },
  {
    name: 'dsRegistrations',
    pattern: '<prefix>:{ds:<setid>}:reg',
    type: 'zset',
    writer: 'edge (keepalive by REGISTER: URI scored by its expiry time in ms)',
    reader: 'prober (sets in register mode: expired registrations mark the destination down)',
  },
  {
    name: 'dsPingActive',
    pattern: '<prefix>:{ds}:ping-active',
    type: 'string',
    writer: 'sipfleet ctl dispatcher ping-active; operators (0 = probing off, absent or 1 = on)',
    reader: 'prober (before every batch of pings)',
  },
  {
    name: 'probeQueue',
    pattern: '<prefix>:{probe}',
    type: 'bullmq',
    writer:
      'prober (BullMQ queue ping: one job scheduler per shard of destinations, probe-now jobs)',
    reader: 'prober',
  },
  {
    name: 'kaDestinations',
    pattern: '<prefix>:{ka}:dst',
    type: 'hash',
    writer: 'prober (config), routing modules (addDestination), sipfleet ctl keepalive',
    reader: 'prober',
  },
  {
    name: 'kaState',
    pattern: '<prefix>:{ka}:state',
    type: 'hash',
    writer: 'prober (keepalive results: "<flags> <count>" as dispatcher state)',
    reader: 'edge keepalive monitor (isAlive snapshot), sipfleet ctl',
  },
  {
    name: 'routeRules',
    pattern: '<prefix>:{rt}:rules',
    type: 'hash',
    writer: 'sipfleet route-api (PUT/DELETE /rules): rule id -> rule JSON',
    reader: 'sipfleet route-api (POST /route)',
  },
  {
    name: 'fleetMembers',
    pattern: '<prefix>:{fleet}:members',
    type: 'zset',
    writer: 'edge (membership heartbeat: instance scored by when its record expires, in ms)',
    reader: 'edge (dead members: reclaim their unanswered call-load slots), sipfleet ctl fleet',
  },
  {
    name: 'fleetMember',
    pattern: '<prefix>:{fleet}:member:<instance>',
    type: 'string',
    writer: 'edge (membership heartbeat: JSON record with a short TTL)',
    reader: 'sipfleet ctl fleet',
  },
  {
    name: 'sfBlock',
    pattern: '<prefix>:{sf}:block:<address>',
    type: 'string',
    writer: 'edge (a source over the secfilter rate, TTL = ban), sipfleet ctl secfilter, redis-cli',
    reader: 'edge secfilter mirror (every edge drops the source until the key expires)',
  },
  {
    name: 'sfList',
    pattern: '<prefix>:{sf}:list:<list>',
    type: 'set',
    writer: 'sipfleet ctl secfilter, redis-cli SADD/SREM (allow-ip, deny-ip, allow-ua, deny-ua)',
    reader: 'edge secfilter mirror',
  },
  {
    name: 'channel',
    pattern: '<prefix>:ev:<name>',
    type: 'channel',
    writer: 'event bus publishers (prober, ctl)',
    reader: 'event bus subscribers (edges)',
  },
  {
    name: 'nodeChannel',
    pattern: '<prefix>:ev:node:<nodeid>',
    type: 'channel',
    writer: 'any edge handing a request to its owner',
    reader: 'the edge with that node id',
  },
];

/** A name segment must not carry a hash-tag brace (it would move the key to another slot). */
function segment(what: string, value: string): string {
  if (value === '' || value.includes('{') || value.includes('}')) {
    throw new SipfleetRedisError(
      'SIPFLEET_ERR_REDIS_BAD_KEY',
      `${what} "${value}" cannot be used in a Redis key (empty or contains { or })`,
    );
  }
  return value;
}

/** Escapes glob metacharacters for SCAN MATCH / PSUBSCRIBE. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

export class KeyBuilder {
  /** @param prefix every key starts with `<prefix>:` @default 'sipfleet' */
  constructor(readonly prefix: string = DEFAULT_KEY_PREFIX) {
    segment('key prefix', prefix);
  }

  /** Everything before the entry key of one htable: also the client-side tracking prefix. */
  htTablePrefix(table: string): string {
    return `${this.prefix}:{ht:${segment('htable name', table)}}:`;
  }

  /** One htable item: a hash with one field, `i` (integer) or `s` (string), holding the value. */
  htEntry(table: string, key: string): string {
    return this.htTablePrefix(table) + key;
  }

  /** SCAN MATCH pattern for every item of one htable. */
  htEntryPattern(table: string): string {
    return `${escapeGlob(this.htTablePrefix(table))}*`;
  }

  /** SCAN MATCH pattern for every item of every htable (`htEntryOf` tells them apart). */
  htAnyEntryPattern(): string {
    return `${escapeGlob(`${this.prefix}:{ht:`)}*`;
  }

  /** The table and item key of an `htEntry` key; undefined for a key that is not one. */
  htEntryOf(fullKey: string): { table: string; key: string } | undefined {
    const start = `${this.prefix}:{ht:`;
    if (!fullKey.startsWith(start)) return undefined;
    const close = fullKey.indexOf('}:', start.length);
    if (close < 0) return undefined;
    const table = fullKey.slice(start.length, close);
    if (table === '' || table.includes('{')) return undefined;
    return { table, key: fullKey.slice(close + 2) };
  }

  dsDestinations(setid: string): string {
    return `${this.prefix}:{ds:${segment('dispatcher set id', setid)}}:dst`;
  }

  dsState(setid: string): string {
    return `${this.prefix}:{ds:${segment('dispatcher set id', setid)}}:state`;
  }

  dsRoundRobin(setid: string): string {
    return `${this.prefix}:{ds:${segment('dispatcher set id', setid)}}:rr`;
  }

  dsLoad(setid: string): string {
    return `${this.prefix}:{ds:${segment('dispatcher set id', setid)}}:load`;
  }

  /** The fleet's dispatcher list: `version` (bumped per change) and `sets` (space-separated ids). */
  dsIndex(): string {
    return `${this.prefix}:{ds}:index`;
  }

  dsCalls(setid: string): string {
    return `${this.prefix}:{ds:${segment('dispatcher set id', setid)}}:calls`;
  }

  dsExpiry(setid: string): string {
    return `${this.prefix}:{ds:${segment('dispatcher set id', setid)}}:expiry`;
  }

  dsVoid(setid: string): string {
    return `${this.prefix}:{ds:${segment('dispatcher set id', setid)}}:void`;
  }

  /** Per URI: the prober's RTT estimate for alg 13 (same slot as the set's state). */
  dsLatency(setid: string): string {
    return `${this.prefix}:{ds:${segment('dispatcher set id', setid)}}:latency`;
  }

  /** Registrations keeping destinations of a register-mode set alive, scored by expiry (ms). */
  dsRegistrations(setid: string): string {
    return `${this.prefix}:{ds:${segment('dispatcher set id', setid)}}:reg`;
  }

  /** The fleet-wide probing switch (kamcmd dispatcher.ping_active): `0` stops all pings. */
  dsPingActive(): string {
    return `${this.prefix}:{ds}:ping-active`;
  }

  /** BullMQ prefix of the prober's queue; the hash tag keeps every queue key in one slot. */
  probeQueue(): string {
    return `${this.prefix}:{probe}`;
  }

  /** Keepalive-module destinations: URI -> JSON (owner, ping_from). */
  kaDestinations(): string {
    return `${this.prefix}:{ka}:dst`;
  }

  /** Keepalive-module state: URI -> "<flags> <count>"; no field = not probed yet (unknown). */
  kaState(): string {
    return `${this.prefix}:{ka}:state`;
  }

  /** The reference routing API's rules: one hash, field = rule id, value = the rule as JSON. */
  routeRules(): string {
    return `${this.prefix}:{rt}:rules`;
  }

  /** The fleet's live edges: membership instance -> when its heartbeat record expires (ms). */
  fleetMembers(): string {
    return `${this.prefix}:{fleet}:members`;
  }

  /** One edge's membership record (JSON, short TTL), in the same slot as the index. */
  fleetMember(instance: string): string {
    return `${this.prefix}:{fleet}:member:${segment('member instance', instance)}`;
  }

  /** Everything secfilter keeps: the client-side tracking prefix of the edges' mirror. */
  sfPrefix(): string {
    return `${this.prefix}:{sf}:`;
  }

  /** Everything before the address of a blocked source. */
  sfBlockPrefix(): string {
    return `${this.sfPrefix()}block:`;
  }

  /** A blocked source address (IPv4 or IPv6); the key's TTL is the block's remaining time. */
  sfBlock(address: string): string {
    return this.sfBlockPrefix() + segment('source address', address);
  }

  /** SCAN MATCH pattern for every blocked source. */
  sfBlockPattern(): string {
    return `${escapeGlob(this.sfBlockPrefix())}*`;
  }

  /** One secfilter list (a set): `allow-ip`, `deny-ip` (addresses, CIDRs), `allow-ua`, `deny-ua`. */
  sfList(list: string): string {
    return `${this.sfPrefix()}list:${segment('secfilter list', list)}`;
  }

  /** Pub/sub channel names need no hash tag: PUBLISH reaches every Cluster node. */
  channel(name: string): string {
    return `${this.prefix}:ev:${segment('channel name', name)}`;
  }

  nodeChannel(nodeid: string): string {
    return `${this.prefix}:ev:node:${segment('node id', nodeid)}`;
  }
}
