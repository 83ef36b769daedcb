// ds_is_from_list(): does a request come from one of our destinations? Answered from the edge's
// snapshot (zero round trips) through a host index built once per snapshot and name resolution.
// Destinations listed by host name match the addresses the name resolved to: the view resolves
// every name of a list in the background when it reads the list (Kamailio resolves at load
// time), never per call.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { DS_NODNSARES_DST } from '../flags.js';
import type { Destination, Snapshot } from '../model.js';

interface HostEntry {
  readonly destination: Destination;
  /** Explicit URI port; undefined = any port matches (Kamailio: a port of 0 in the list). */
  readonly port: number | undefined;
}

/** Host name (lower-case) -> the addresses it resolved to (IPv6 without brackets). */
export type ResolvedNames = ReadonlyMap<string, readonly string[]>;

const NONE: ResolvedNames = new Map();
const indexes = new WeakMap<
  Snapshot,
  { resolved: ResolvedNames; index: Map<string, HostEntry[]> }
>();

/** Host (lower-case, IPv6 without brackets) and explicit port of a sip:/sips: URI. */
export function uriHostPort(uri: string): { host: string; port: number | undefined } | undefined {
  const m = /^sips?:(?:[^@;?]*@)?(\[[^\]]+\]|[^:;?>]+)(?::(\d{1,5}))?/i.exec(uri.trim());
  if (m === null || m[1] === undefined) return undefined;
  return { host: normalizeHost(m[1]), port: m[2] === undefined ? undefined : Number(m[2]) };
}

function normalizeHost(host: string): string {
  const h = host.toLowerCase();
  return h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
}

function indexOf(snapshot: Snapshot, resolved: ResolvedNames): Map<string, HostEntry[]> {
  const cached = indexes.get(snapshot);
  if (cached?.resolved === resolved) return cached.index;
  const index = new Map<string, HostEntry[]>();
  const add = (host: string, entry: HostEntry) => {
    const list = index.get(host) ?? [];
    list.push(entry);
    index.set(host, list);
  };
  for (const set of snapshot.sets.values()) {
    for (const destination of set.destinations) {
      const hp = uriHostPort(destination.uri);
      if (hp === undefined) continue;
      const entry = { destination, port: hp.port };
      add(hp.host, entry);
      for (const address of resolved.get(hp.host) ?? []) {
        if (address !== hp.host) add(address, entry);
      }
    }
  }
  indexes.set(snapshot, { resolved, index });
  return index;
}

/**
 * ds_is_from_list([group]): the first destination (ascending set id, then set order) whose host
 * is `host` and whose port is `port`; a destination listed without a port matches any port, and
 * so does a call without `port` (Kamailio's DS_MATCH_NOPORT). `host` is compared with each
 * destination's host as written and with the addresses its name resolved to (`resolved`, see
 * resolveNames): pass the source IP. Every destination counts, whatever its state, as in Kamailio.
 */
export function findFromList(
  snapshot: Snapshot,
  host: string,
  port?: number,
  setid?: number,
  resolved: ResolvedNames = NONE,
): Destination | undefined {
  const entries = indexOf(snapshot, resolved).get(normalizeHost(host.trim()));
  if (entries === undefined) return undefined;
  for (const e of entries) {
    if (setid !== undefined && e.destination.setid !== setid) continue;
    if (port !== undefined && e.port !== undefined && e.port !== port) continue;
    return e.destination;
  }
  return undefined;
}

/**
 * Resolves the host names of every destination of `snapshot` (A and AAAA, through the system
 * resolver as Kamailio's load does), skipping IP literals and destinations with the no-DNS flag
 * (16). Names that do not resolve are left out and listed in `failed`.
 */
export async function resolveNames(
  snapshot: Snapshot,
): Promise<{ resolved: ResolvedNames; failed: string[] }> {
  const names = new Set<string>();
  for (const set of snapshot.sets.values()) {
    for (const d of set.destinations) {
      const host = uriHostPort(d.uri)?.host;
      if (host !== undefined && isIP(host) === 0 && (d.flags & DS_NODNSARES_DST) === 0)
        names.add(host);
    }
  }
  const resolved = new Map<string, readonly string[]>();
  const failed: string[] = [];
  await Promise.all(
    [...names].map(async (name) => {
      try {
        const addresses = await lookup(name, { all: true });
        resolved.set(
          name,
          addresses.map((a) => a.address.toLowerCase()),
        );
      } catch {
        failed.push(name);
      }
    }),
  );
  return { resolved, failed: failed.sort() };
}
