// The RFC 3263 resolver of a process (edge or prober) from its `dns` settings: servers, cache
// limits and refresh, the address family and transports of its listeners, a query metric, and one
// warning per name when it starts failing (and one line when it answers again), never one per call.
import net from 'node:net';
import { SipResolver } from '@sipfleet/transport';
import type { RecordType, TransportProtocol } from '@sipfleet/transport';
import { Counter } from 'prom-client';
import type { Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { DnsConfig } from './config.js';

export interface ResolverContext {
  /** The transports this process sends on (its listeners). */
  protocols: readonly TransportProtocol[];
  /** Its listening addresses: all IPv4 asks A only, all IPv6 AAAA only, a mix both. */
  addresses: readonly string[];
  log: Logger;
  /** `sipfleet_dns_queries_total{type,result}`. */
  queries: Counter<'type' | 'result'>;
}

/** `sipfleet_dns_queries_total`, the same in the edge's and the prober's registry. */
export function dnsQueryCounter(registry: Registry): Counter<'type' | 'result'> {
  return new Counter({
    name: 'sipfleet_dns_queries_total',
    help: 'DNS queries sent (cache misses and background refreshes), by record type (NAPTR, SRV, A, AAAA, ADDR = getaddrinfo) and result (ok, empty, error)',
    labelNames: ['type', 'result'],
    registers: [registry],
  });
}

/** The address family whose addresses a process with these listening addresses can reach. */
export function familyOf(addresses: readonly string[]): 0 | 4 | 6 {
  const families = new Set(addresses.map((a) => (net.isIPv6(a) ? 6 : 4)));
  if (families.size !== 1) return 0;
  return families.has(6) ? 6 : 4;
}

export function openResolver(dns: DnsConfig, ctx: ResolverContext): SipResolver {
  const failing = new Set<string>();
  const outcome = (type: RecordType, name: string, result: 'ok' | 'empty' | 'error') => {
    ctx.queries.inc({ type, result });
    const key = `${type} ${name}`;
    if (result === 'error') {
      if (failing.has(key)) return;
      failing.add(key);
      ctx.log.warn({ type, name }, 'DNS query failing: serving the last answer while it lasts');
    } else if (failing.delete(key)) {
      ctx.log.info({ type, name }, 'DNS query answers again');
    }
  };
  return new SipResolver({
    servers: dns.servers,
    family: familyOf(ctx.addresses),
    protocols: [...new Set(ctx.protocols)],
    minTtlMs: dns.minTtlSeconds * 1000,
    maxTtlMs: dns.maxTtlSeconds * 1000,
    defaultTtlMs: dns.defaultTtlSeconds * 1000,
    maxEntries: dns.maxEntries,
    refreshIntervalMs: dns.refreshIntervalSeconds * 1000,
    onQuery: outcome,
  });
}
