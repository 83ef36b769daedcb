// ds_is_from_list(): does a request come from one of our destinations? Answered from the edge's
// snapshot (zero round trips) through a host index built once per snapshot.
import type { Destination, Snapshot } from '../model.js';

interface HostEntry {
  readonly destination: Destination;
  /** Explicit URI port; undefined = any port matches (Kamailio: a port of 0 in the list). */
  readonly port: number | undefined;
}

const indexes = new WeakMap<Snapshot, Map<string, HostEntry[]>>();

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

function indexOf(snapshot: Snapshot): Map<string, HostEntry[]> {
  let index = indexes.get(snapshot);
  if (index === undefined) {
    index = new Map();
    for (const set of snapshot.sets.values()) {
      for (const destination of set.destinations) {
        const hp = uriHostPort(destination.uri);
        if (hp === undefined) continue;
        const list = index.get(hp.host) ?? [];
        list.push({ destination, port: hp.port });
        index.set(hp.host, list);
      }
    }
    indexes.set(snapshot, index);
  }
  return index;
}

/**
 * ds_is_from_list([group]): the first destination (ascending set id, then set order) whose host
 * is `host` and whose port is `port`; a destination listed without a port matches any port, and
 * so does a call without `port` (Kamailio's DS_MATCH_NOPORT). Hosts compare as text, without DNS:
 * pass the source IP, and list destinations you expect requests from by IP (Kamailio resolves
 * names at load time; we do not). Every destination counts, whatever its state, as in Kamailio.
 */
export function findFromList(
  snapshot: Snapshot,
  host: string,
  port?: number,
  setid?: number,
): Destination | undefined {
  const entries = indexOf(snapshot).get(normalizeHost(host.trim()));
  if (entries === undefined) return undefined;
  for (const e of entries) {
    if (setid !== undefined && e.destination.setid !== setid) continue;
    if (port !== undefined && e.port !== undefined && e.port !== port) continue;
    return e.destination;
  }
  return undefined;
}
