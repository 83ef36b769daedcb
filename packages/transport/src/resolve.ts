/**
 * RFC 3263 §4 (locating a SIP server): SIP URI -> the ordered list of SendTargets to try.
 *
 * - `maddr` else the URI host; an IP literal is used as it is (port default 5060, 5061 for TLS).
 * - A name with an explicit port: A/AAAA only (§4.2), transport from `transport=` else UDP (TLS
 *   for `sips:`).
 * - A name with `transport=` but no port: SRV for that transport, else A/AAAA on the default port.
 * - A name with neither: NAPTR (§4.1), keeping records with flag `S` whose service names a
 *   transport we listen on (`SIP+D2U` udp, `SIP+D2T` tcp, `SIPS+D2T` tls; for a `sips:` URI only
 *   `SIPS+D2T`), by order then preference; every kept record's SRV name is resolved and their
 *   targets follow each other in that order (so failover goes on with the next NAPTR record).
 *   No usable NAPTR: SRV for each transport we listen on (`_sip._udp`, `_sip._tcp`, `_sips._tcp`),
 *   the first that has records wins; no SRV either: A/AAAA on the default port.
 * - SRV targets are ordered as RFC 2782 says: priority ascending, and within a priority a weighted
 *   random order (each pick with probability weight/sum; weight 0 only once no weighted record is
 *   left), drawn per call from the cached records. Each target then expands to all its addresses (A before AAAA).
 *
 * - A TLS target whose host is a name carries that name as `serverName`: the certificate must name
 *   the URI host (RFC 5922 §4, §7.2), so an SRV target carries the URI host, not the SRV target name.
 * - `transport=ws`/`wss` (RFC 7118 §5.2) gives a WebSocket target on the URI host (A/AAAA only,
 *   never NAPTR/SRV): only an open connection from that address can take it. DNS never picks
 *   ws/wss, which are receive-only here.
 *
 * A URI the edge cannot send on fails with SIPFLEET_ERR_TRANSPORT_UNSUPPORTED_SCHEME (`sips:` when
 * we cannot send TLS, `tel:` ...) or _UNSUPPORTED_TRANSPORT (`transport=` naming a transport we do
 * not send on, or anything but `tls`/`wss` on a `sips:` URI: RFC 5630 §3.1.3); a name that yields
 * no address with SIPFLEET_ERR_TRANSPORT_RESOLVE.
 *
 * Caching (off the per-call path): every DNS answer (one per record type and name) is cached. A/AAAA
 * answers of the configured servers keep their record TTL, clamped to [minTtlMs, maxTtlMs]; Node's
 * resolver does not report the TTL of NAPTR and SRV answers, nor getaddrinfo that of system
 * lookups, so those are kept `defaultTtlMs` (also clamped). A name that does not exist is an empty
 * answer, cached the same way. An entry past its TTL is still answered at once while a background
 * query refreshes it, and a timer refreshes, every `refreshIntervalMs`, each entry that will
 * expire before the next tick and was used within `idleMs` (unused ones are dropped): names in use
 * are never looked up on a call's path after their first use. A failed refresh keeps serving the
 * last good answer (RFC 8767 "serve stale") and retries after minTtlMs; a failure with no answer
 * to fall back on is cached for minTtlMs, so a broken name costs one query per minTtlMs, not one
 * per call.
 */
import dns from 'node:dns';
import net from 'node:net';
import type { SipUri } from '@sipfleet/sip';
import { TransportError, TransportErrorCode } from './errors.js';
import type { SendTarget, TransportProtocol } from './types.js';
import { DEFAULT_SIP_PORT, DEFAULT_SIPS_PORT, stripBrackets } from './via-routing.js';

/** RFC 3263 §4.1 NAPTR services and the transport each stands for. */
const NAPTR_SERVICES: Readonly<Record<string, string>> = {
  'SIP+D2U': 'udp',
  'SIP+D2T': 'tcp',
  'SIPS+D2T': 'tls',
};
/** SRV service labels per transport (RFC 3263 §4.1: `_sips._tcp` is TLS). */
const SRV_PREFIX: Readonly<Record<string, string>> = {
  udp: '_sip._udp',
  tcp: '_sip._tcp',
  tls: '_sips._tcp',
};
/** RFC 7118: WebSocket transports, reached only over a connection the peer opened. */
const WEBSOCKET: ReadonlySet<string> = new Set(['ws', 'wss']);

/** DNS answer codes that mean "no such record": an empty answer, not a failure. */
const EMPTY_ANSWER: ReadonlySet<string> = new Set([dns.NODATA, dns.NOTFOUND]);

export interface ResolverOptions {
  /**
   * DNS servers (`ip` or `ip:port`, `[v6]:port`). Empty: the system's: NAPTR/SRV go to the servers
   * of /etc/resolv.conf and addresses through getaddrinfo (so /etc/hosts names such as `localhost`
   * resolve); otherwise every query goes to these servers.
   * @default []
   */
  servers?: readonly string[];
  /**
   * Address family of the addresses wanted: 4 or 6 to match the listeners, 0 for both (A first).
   * @default 0
   */
  family?: 0 | 4 | 6;
  /**
   * Transports we can send on; NAPTR records and SRV queries for others are skipped, and a URI
   * that demands another (`transport=`, `sips:` without `tls`) is refused.
   * @default ['udp', 'tcp']
   */
  protocols?: readonly TransportProtocol[];
  /** Shortest time an answer is kept (also how long a failure is). @default 5000 */
  minTtlMs?: number;
  /** Longest time an answer is kept, whatever its TTL. @default 300000 */
  maxTtlMs?: number;
  /** How long answers without a reported TTL are kept (NAPTR, SRV, getaddrinfo). @default 60000 */
  defaultTtlMs?: number;
  /** Cached answers at most; past it the oldest entry is dropped. @default 1000 */
  maxEntries?: number;
  /** Background refresh tick (0: refresh only when an expired entry is used). @default 10000 */
  refreshIntervalMs?: number;
  /** An entry unused this long is dropped by the refresh tick instead of refreshed. @default 600000 */
  idleMs?: number;
  /** Per query try (c-ares `timeout`). @default 2000 */
  timeoutMs?: number;
  /** Tries per server (c-ares `tries`). @default 2 */
  tries?: number;
  /** Random source in [0, 1) for the SRV weight order. @default Math.random */
  random?: () => number;
  /** Clock for the cache. @default Date.now */
  now?: () => number;
  /**
   * Each query's outcome (for a metric, and a log line when a name starts failing). An `error`
   * while an older answer exists means that answer is still being served.
   */
  onQuery?: (type: RecordType, name: string, result: 'ok' | 'empty' | 'error') => void;
}

export type RecordType = 'NAPTR' | 'SRV' | 'A' | 'AAAA' | 'ADDR';

interface Answer<T> {
  records: T[];
  /** Record TTL in seconds when the server reported one. */
  ttl?: number;
}

interface Entry {
  type: RecordType;
  name: string;
  records?: unknown[];
  error?: Error;
  expires: number;
  usedAt: number;
  pending?: Promise<unknown[]>;
}

/** An RFC 3263 resolver with its own cache and refresh timer (see the module comment). */
export class SipResolver {
  readonly #dns: dns.promises.Resolver;
  readonly #system: boolean;
  readonly #family: 0 | 4 | 6;
  readonly #protocols: ReadonlySet<string>;
  readonly #minTtl: number;
  readonly #maxTtl: number;
  readonly #defaultTtl: number;
  readonly #maxEntries: number;
  readonly #idleMs: number;
  readonly #refreshMs: number;
  readonly #random: () => number;
  readonly #now: () => number;
  readonly #opts: ResolverOptions;
  readonly #cache = new Map<string, Entry>();
  readonly #timer: NodeJS.Timeout | undefined;

  constructor(opts: ResolverOptions = {}) {
    this.#opts = opts;
    this.#dns = new dns.promises.Resolver({
      timeout: opts.timeoutMs ?? 2000,
      tries: opts.tries ?? 2,
    });
    const servers = opts.servers ?? [];
    this.#system = servers.length === 0;
    if (!this.#system) this.#dns.setServers([...servers]);
    this.#family = opts.family ?? 0;
    this.#protocols = new Set(opts.protocols ?? ['udp', 'tcp']);
    this.#minTtl = opts.minTtlMs ?? 5000;
    this.#maxTtl = Math.max(this.#minTtl, opts.maxTtlMs ?? 300_000);
    this.#defaultTtl = opts.defaultTtlMs ?? 60_000;
    this.#maxEntries = opts.maxEntries ?? 1000;
    this.#idleMs = opts.idleMs ?? 600_000;
    this.#random = opts.random ?? Math.random;
    this.#now = opts.now ?? Date.now;
    this.#refreshMs = opts.refreshIntervalMs ?? 10_000;
    if (this.#refreshMs > 0) {
      this.#timer = setInterval(() => this.#sweep(), this.#refreshMs);
      this.#timer.unref();
    }
  }

  /** Stops the refresh timer (the cache stays usable, refreshed only on use). */
  close(): void {
    clearInterval(this.#timer);
  }

  /** The first target to try (see {@link targets}). */
  async resolve(uri: SipUri): Promise<SendTarget> {
    const [first] = await this.targets(uri);
    // targets() never returns an empty list; this keeps the types honest.
    if (first === undefined) throw new TransportError(TransportErrorCode.Resolve, 'no target');
    return first;
  }

  /**
   * The target of a URI whose host (or `maddr`) is an IP address, found without DNS and without a
   * promise: for a given URI it never changes. Undefined when the host is a name. Throws the
   * TransportError targets() rejects with.
   */
  literalTargets(uri: SipUri): SendTarget[] | undefined {
    const hop = this.#hop(uri);
    return net.isIP(hop.host) === 0 ? undefined : literalTarget(hop, uri.port);
  }

  /**
   * Every target to try for `uri`, in order (RFC 3263 §4.3: the next one after a transport error,
   * a timeout or a 503). Rejects with a TransportError; never resolves to an empty list.
   */
  async targets(uri: SipUri): Promise<SendTarget[]> {
    const hop = this.#hop(uri);
    if (net.isIP(hop.host) !== 0) return literalTarget(hop, uri.port);
    const { secure, protocol, host, fallback } = hop;
    const port = uri.port;
    if (port !== undefined || WEBSOCKET.has(fallback)) {
      return this.#hostTargets(host, fallback, port ?? defaultPort(fallback));
    }
    const srv = await this.#srvSets(host, protocol, secure);
    if (srv.length === 0) return this.#hostTargets(host, fallback, defaultPort(fallback));
    const ordered = srv.flatMap(({ protocol: p, records }) =>
      orderSrv(records, this.#random).map((r) => ({ p, r })),
    );
    const expanded = await Promise.all(
      ordered.map(({ p, r }) =>
        this.#addresses(r.name).then(
          (addresses) => addresses.map((address) => target(p, address, r.port, host)),
          // One SRV target that does not resolve is skipped; the others still serve.
          () => [],
        ),
      ),
    );
    const targets = expanded.flat();
    if (targets.length === 0) {
      throw new TransportError(
        TransportErrorCode.Resolve,
        `cannot resolve ${host}: no SRV target has an address`,
      );
    }
    return targets;
  }

  /**
   * Resolves `uri` into the cache without using the answer (dispatcher destinations at load, and
   * on their timer): the first call to it then finds everything cached. Never rejects.
   */
  warm(uri: SipUri): Promise<void> {
    return this.targets(uri).then(
      () => undefined,
      () => undefined,
    );
  }

  /** What a URI asks for before any DNS: scheme, transport, the host to resolve (maddr wins). */
  #hop(uri: SipUri): Hop {
    const secure = this.#checkScheme(uri);
    const protocol = this.#transportOf(uri, secure);
    const host = stripBrackets(uri.params.get('maddr') ?? uri.host);
    // §4.1: without NAPTR/SRV, UDP for sip: and TLS for sips:.
    return { secure, protocol, host, fallback: protocol ?? (secure ? 'tls' : 'udp') };
  }

  #checkScheme(uri: SipUri): boolean {
    if (uri.scheme === 'sips') {
      if (!this.#protocols.has('tls')) {
        throw new TransportError(
          TransportErrorCode.UnsupportedScheme,
          'cannot send to a sips: URI (no TLS listener)',
        );
      }
    } else if (uri.scheme !== 'sip') {
      throw new TransportError(
        TransportErrorCode.UnsupportedScheme,
        `cannot send to a ${uri.scheme}: URI (not a SIP URI)`,
      );
    }
    if (uri.host === '') throw new TransportError(TransportErrorCode.Resolve, 'URI has no host');
    return uri.scheme === 'sips';
  }

  /** The `transport` parameter, checked against what we listen on; undefined when absent. */
  #transportOf(uri: SipUri, secure: boolean): TransportProtocol | undefined {
    const transport = uri.params.get('transport');
    if (transport === undefined || transport === null) return undefined;
    const lower = transport.toLowerCase();
    // RFC 5630 §3.1.3: a sips: URI is reached over TLS whatever `transport` says; anything but
    // transport=tls (or wss, TLS underneath) would break its promise.
    if (secure && lower !== 'tls' && lower !== 'wss') {
      throw new TransportError(
        TransportErrorCode.UnsupportedTransport,
        `transport=${transport} cannot carry a sips: URI (TLS or WSS only)`,
      );
    }
    // ws/wss (RFC 7118 §5.2): an open connection from that address:port can take it.
    if (this.#protocols.has(lower) || WEBSOCKET.has(lower)) return lower as TransportProtocol;
    throw new TransportError(
      TransportErrorCode.UnsupportedTransport,
      `transport=${transport} is not supported (${[...this.#protocols, 'ws', 'wss'].join(', ')} only)`,
    );
  }

  /** The SRV record sets to use, in order; empty when the name has none (then A/AAAA). */
  async #srvSets(
    host: string,
    protocol: TransportProtocol | undefined,
    secure: boolean,
  ): Promise<{ protocol: TransportProtocol; records: dns.SrvRecord[] }[]> {
    const srvOf = async (p: string, name: string) => ({
      protocol: p as TransportProtocol,
      records: (await this.#query('SRV', name)) as dns.SrvRecord[],
    });
    if (protocol !== undefined) {
      const set = await srvOf(protocol, `${SRV_PREFIX[protocol]}.${host}`);
      return set.records.length > 0 ? [set] : [];
    }
    const naptr = ((await this.#query('NAPTR', host)) as dns.NaptrRecord[])
      .filter((r) => {
        const p = NAPTR_SERVICES[r.service.toUpperCase()];
        return (
          r.flags.toLowerCase() === 's' &&
          p !== undefined &&
          this.#protocols.has(p) &&
          (!secure || p === 'tls')
        );
      })
      .sort((a, b) => a.order - b.order || a.preference - b.preference);
    if (naptr.length > 0) {
      const sets = await Promise.all(
        naptr.map((r) => srvOf(NAPTR_SERVICES[r.service.toUpperCase()] ?? '', r.replacement)),
      );
      return sets.filter((s) => s.records.length > 0);
    }
    // §4.1: no NAPTR: an SRV query per transport we support; the first that answers wins.
    const candidates = secure ? ['tls'] : ['udp', 'tcp', 'tls'];
    const sets = await Promise.all(
      candidates
        .filter((p) => this.#protocols.has(p))
        .map((p) => srvOf(p, `${SRV_PREFIX[p]}.${host}`)),
    );
    const first = sets.find((s) => s.records.length > 0);
    return first === undefined ? [] : [first];
  }

  async #hostTargets(host: string, protocol: string, port: number): Promise<SendTarget[]> {
    const addresses = await this.#addresses(host);
    return addresses.map((address) => target(protocol as TransportProtocol, address, port, host));
  }

  /** A/AAAA of `name` (IP literal as it is); rejects with RESOLVE when there is none. */
  async #addresses(name: string): Promise<string[]> {
    if (net.isIP(name) !== 0) return [name];
    let addresses: string[];
    if (this.#system) {
      addresses = (await this.#query('ADDR', name)) as string[];
    } else {
      const [v4, v6] = await Promise.all([
        this.#family === 6 ? [] : this.#query('A', name),
        this.#family === 4 ? [] : this.#query('AAAA', name),
      ]);
      addresses = [...(v4 as string[]), ...(v6 as string[])];
    }
    if (addresses.length === 0) {
      throw new TransportError(TransportErrorCode.Resolve, `cannot resolve ${name}: no address`);
    }
    return addresses;
  }

  /** One cached DNS answer (see the module comment for the policy). */
  #query(type: RecordType, rawName: string): Promise<unknown[]> {
    const name = rawName.toLowerCase();
    const key = `${type} ${name}`;
    const now = this.#now();
    const entry = this.#cache.get(key);
    if (entry !== undefined) {
      entry.usedAt = now;
      const fresh = entry.expires > now;
      if (entry.records !== undefined) {
        if (!fresh) void this.#refresh(entry);
        return Promise.resolve(entry.records);
      }
      if (entry.pending !== undefined) return entry.pending;
      if (fresh && entry.error !== undefined) return Promise.reject(entry.error);
    }
    const created: Entry = entry ?? { type, name, expires: 0, usedAt: now };
    if (entry === undefined) {
      if (this.#cache.size >= this.#maxEntries) {
        const oldest = this.#cache.keys().next();
        if (oldest.done !== true) this.#cache.delete(oldest.value);
      }
      this.#cache.set(key, created);
    }
    return this.#refresh(created);
  }

  /** Queries again; one query per entry at a time. */
  #refresh(entry: Entry): Promise<unknown[]> {
    if (entry.pending !== undefined) return entry.pending;
    const pending = this.#ask(entry.type, entry.name).then(
      (answer) => {
        entry.pending = undefined;
        entry.records = answer.records;
        entry.error = undefined;
        const ttlMs = answer.ttl === undefined ? this.#defaultTtl : answer.ttl * 1000;
        entry.expires = this.#now() + Math.min(this.#maxTtl, Math.max(this.#minTtl, ttlMs));
        return answer.records;
      },
      (err: unknown) => {
        entry.pending = undefined;
        entry.expires = this.#now() + this.#minTtl;
        const error = new TransportError(
          TransportErrorCode.Resolve,
          `cannot resolve ${entry.type} ${entry.name}: ${err instanceof Error ? err.message : String(err)}`,
          { cause: err },
        );
        if (entry.records !== undefined) return entry.records;
        entry.error = error;
        throw error;
      },
    );
    entry.pending = pending;
    // A background refresh has nobody awaiting it: its failure is reported above, not thrown.
    pending.catch(() => undefined);
    return pending;
  }

  /** The timer: refresh entries in use that expire before the next tick, drop idle ones. */
  #sweep(): void {
    const now = this.#now();
    for (const [key, entry] of this.#cache) {
      if (now - entry.usedAt > this.#idleMs) this.#cache.delete(key);
      else if (entry.expires <= now + this.#refreshMs) void this.#refresh(entry);
    }
  }

  /** One query on the wire (or getaddrinfo); NXDOMAIN and NODATA are an empty answer. */
  async #ask(type: RecordType, name: string): Promise<Answer<unknown>> {
    try {
      const answer = await this.#send(type, name);
      this.#opts.onQuery?.(type, name, answer.records.length > 0 ? 'ok' : 'empty');
      return answer;
    } catch (err) {
      if (EMPTY_ANSWER.has((err as NodeJS.ErrnoException).code ?? '')) {
        this.#opts.onQuery?.(type, name, 'empty');
        return { records: [] };
      }
      this.#opts.onQuery?.(type, name, 'error');
      throw err;
    }
  }

  async #send(type: RecordType, name: string): Promise<Answer<unknown>> {
    switch (type) {
      case 'NAPTR':
        return { records: await this.#dns.resolveNaptr(name) };
      case 'SRV':
        // RFC 2782: a single "." target means the service is not offered here.
        return { records: (await this.#dns.resolveSrv(name)).filter((r) => r.name !== '') };
      case 'A':
      case 'AAAA': {
        const records =
          type === 'A'
            ? await this.#dns.resolve4(name, { ttl: true })
            : await this.#dns.resolve6(name, { ttl: true });
        const ttl = records.length > 0 ? Math.min(...records.map((r) => r.ttl)) : undefined;
        return { records: records.map((r) => r.address), ...(ttl === undefined ? {} : { ttl }) };
      }
      case 'ADDR': {
        const found = await dns.promises.lookup(name, { all: true, family: this.#family });
        // A before AAAA, whatever order getaddrinfo chose.
        const sorted = [...found].sort((a, b) => a.family - b.family);
        return { records: sorted.map((r) => r.address) };
      }
    }
  }
}

function defaultPort(protocol: string): number {
  return protocol === 'tls' ? DEFAULT_SIPS_PORT : DEFAULT_SIP_PORT;
}

/**
 * A target for one resolved address of the name `host`; a TLS one names `host` as the server to
 * check the certificate against (RFC 5922 §4: the URI host, also for SRV targets).
 */
function target(
  protocol: TransportProtocol,
  address: string,
  port: number,
  host: string,
): SendTarget {
  return protocol === 'tls'
    ? { protocol, address, port, serverName: host }
    : { protocol, address, port };
}

/**
 * RFC 2782's selection order: priority ascending; within one priority, repeatedly pick among the
 * remaining records with probability weight/sum of their weights. A weight-0 record is picked only
 * once no weighted one is left (the RFC gives it a "very small chance"; we give it none).
 */
export function orderSrv(records: readonly dns.SrvRecord[], random: () => number): dns.SrvRecord[] {
  const byPriority = new Map<number, dns.SrvRecord[]>();
  for (const r of records) {
    const list = byPriority.get(r.priority) ?? [];
    list.push(r);
    byPriority.set(r.priority, list);
  }
  const out: dns.SrvRecord[] = [];
  for (const priority of [...byPriority.keys()].sort((a, b) => a - b)) {
    const remaining = [...(byPriority.get(priority) ?? [])];
    while (remaining.length > 0) {
      const total = remaining.reduce((s, r) => s + r.weight, 0);
      const pick = total === 0 ? 0 : random() * total;
      let running = 0;
      let index = remaining.length - 1;
      for (let i = 0; i < remaining.length; i++) {
        running += remaining[i]?.weight ?? 0;
        if (running > pick) {
          index = i;
          break;
        }
      }
      out.push(...remaining.splice(index, 1));
    }
  }
  return out;
}

/** A resolver with its own cache (the module-level {@link resolveTarget} uses the defaults). */
/** A hop's fields, from SipResolver's #hop. */
interface Hop {
  secure: boolean;
  protocol: TransportProtocol | undefined;
  host: string;
  fallback: TransportProtocol;
}

/** The one target of a hop whose host is an IP address. */
function literalTarget(hop: Hop, port: number | undefined): SendTarget[] {
  return [
    {
      protocol: hop.fallback,
      address: hop.host,
      port: port ?? defaultPort(hop.fallback),
    },
  ];
}

export function createResolver(opts: ResolverOptions = {}): SipResolver {
  return new SipResolver(opts);
}

let shared: SipResolver | undefined;

/**
 * One process-wide resolver with the default options (system DNS), made on first use; it sends TLS
 * too (the transport layer opens TLS connections without a TLS listener).
 */
export function sharedResolver(): SipResolver {
  shared ??= new SipResolver({ protocols: ['udp', 'tcp', 'tls'] });
  return shared;
}

/**
 * The first target for a URI, through {@link sharedResolver}. Rejects with a TransportError
 * (UNSUPPORTED_SCHEME, UNSUPPORTED_TRANSPORT, RESOLVE).
 */
export function resolveTarget(uri: SipUri): Promise<SendTarget> {
  return sharedResolver().resolve(uri);
}
