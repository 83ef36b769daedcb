/**
 * RFC 3263-lite: SIP URI -> SendTarget. Transport from the `transport` parameter (`sips:` is always
 * TLS, RFC 5630 section 3.1.3), host from `maddr` else the URI host, port default 5060 (5061 for
 * TLS), IP literals used directly and names through dns.lookup with a small TTL cache. A TLS target
 * carries the URI host as `serverName`: the certificate must name it (RFC 5922 section 7.2).
 *
 * Departures from RFC 3263: no NAPTR and no SRV (a name without port goes to A/AAAA on 5060, section
 * 4.2's last resort), and no failover across several addresses of one name (dns.lookup returns one).
 * `sips:` with `transport=udp`/`tcp` is refused with SIPFLEET_ERR_TRANSPORT_UNSUPPORTED_TRANSPORT:
 * sending a sips request without TLS would break its promise.
 */
import dns from 'node:dns';
import net from 'node:net';
import type { SipUri } from '@sipfleet/sip';
import { TransportError, TransportErrorCode } from './errors.js';
import type { SendTarget, TransportProtocol } from './types.js';
import { DEFAULT_SIP_PORT, DEFAULT_SIPS_PORT, stripBrackets } from './via-routing.js';

export type LookupFn = (
  hostname: string,
  family: 0 | 4 | 6,
) => Promise<{ address: string; family: number }>;

export interface ResolverOptions {
  /**
   * How long a resolved name is reused. dns.lookup does not expose the record TTL, so this is fixed.
   * @default 30000
   */
  ttlMs?: number;
  /**
   * Cached names at most; the oldest entry is evicted first.
   * @default 1000
   */
  maxEntries?: number;
  /**
   * Address family asked of dns.lookup for names: 4 or 6 to match the listeners, 0 for the resolver's
   * first answer.
   * @default 0
   */
  family?: 0 | 4 | 6;
  /** Name lookup. @default dns.promises.lookup */
  lookup?: LookupFn;
  /** Clock for the cache. @default Date.now */
  now?: () => number;
}

export type Resolver = (uri: SipUri) => Promise<SendTarget>;

interface CacheEntry {
  expires: number;
  address: Promise<string>;
}

/** A resolver with its own cache (the module-level {@link resolveTarget} uses the defaults). */
export function createResolver(opts: ResolverOptions = {}): Resolver {
  const ttlMs = opts.ttlMs ?? 30_000;
  const maxEntries = opts.maxEntries ?? 1000;
  const family = opts.family ?? 0;
  const lookup: LookupFn =
    opts.lookup ?? ((name, fam) => dns.promises.lookup(name, { family: fam }));
  const now = opts.now ?? Date.now;
  const cache = new Map<string, CacheEntry>();

  const resolveName = (name: string): Promise<string> => {
    const key = name.toLowerCase();
    const hit = cache.get(key);
    if (hit !== undefined && hit.expires > now()) return hit.address;
    cache.delete(key);
    if (cache.size >= maxEntries) {
      const oldest = cache.keys().next();
      if (oldest.done !== true) cache.delete(oldest.value);
    }
    // The promise is cached so concurrent requests for one name share a lookup; failures are not kept.
    const address = lookup(key, family).then(
      (r) => r.address,
      (err: unknown) => {
        if (cache.get(key)?.address === address) cache.delete(key);
        throw new TransportError(
          TransportErrorCode.Resolve,
          `cannot resolve ${name}: ${err instanceof Error ? err.message : String(err)}`,
          { cause: err },
        );
      },
    );
    cache.set(key, { expires: now() + ttlMs, address });
    return address;
  };

  return async (uri: SipUri): Promise<SendTarget> => {
    const protocol = transportOf(uri);
    const maddr = uri.params.get('maddr');
    const host = stripBrackets(maddr ?? uri.host);
    const port = uri.port ?? (protocol === 'tls' ? DEFAULT_SIPS_PORT : DEFAULT_SIP_PORT);
    const address = net.isIP(host) !== 0 ? host : await resolveName(host);
    return protocol === 'tls' && address !== host
      ? { protocol, address, port, serverName: host }
      : { protocol, address, port };
  };
}

/**
 * RFC 3263 section 4.1 without NAPTR: the transport parameter, else UDP for `sip:` and TLS for
 * `sips:` (RFC 5630 section 3.1.3: a sips URI is reached over TLS whatever `transport` says, so
 * only `transport=tls` or none is accepted with it).
 */
function transportOf(uri: SipUri): TransportProtocol {
  if (uri.scheme !== 'sip' && uri.scheme !== 'sips') {
    throw new TransportError(
      TransportErrorCode.UnsupportedScheme,
      `cannot send to a ${uri.scheme}: URI (not a SIP URI)`,
    );
  }
  if (uri.host === '') {
    throw new TransportError(TransportErrorCode.Resolve, 'URI has no host');
  }
  const transport = uri.params.get('transport');
  const lower = transport === undefined || transport === null ? undefined : transport.toLowerCase();
  if (uri.scheme === 'sips') {
    if (lower === undefined || lower === 'tls' || lower === 'wss') return lower ?? 'tls';
    throw new TransportError(
      TransportErrorCode.UnsupportedTransport,
      `transport=${transport} cannot carry a sips: URI (TLS or WSS only)`,
    );
  }
  if (lower === undefined) return 'udp';
  // ws/wss (RFC 7118 section 5.2): only an open connection from that address:port can take it.
  if (lower === 'udp' || lower === 'tcp' || lower === 'tls' || lower === 'ws' || lower === 'wss') {
    return lower;
  }
  throw new TransportError(
    TransportErrorCode.UnsupportedTransport,
    `transport=${transport} is not supported (udp, tcp, tls, ws and wss)`,
  );
}

/**
 * RFC 3263-lite: SIP URI -> SendTarget (transport param, maddr, port default 5060; IP literals direct,
 * names via dns.lookup with a 30 s cache). Rejects with a TransportError (UNSUPPORTED_SCHEME,
 * UNSUPPORTED_TRANSPORT, RESOLVE).
 */
export const resolveTarget: Resolver = createResolver();
