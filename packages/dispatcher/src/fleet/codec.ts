// How the fleet's list sits in Redis, and reading it back into immutable sets.
//
// Per set (hash tag {ds:<setid>}): `dst` maps the lower-cased URI (state and lookups are
// case-insensitive, as Kamailio's ds_update_state) to a JSON destination; `state` maps the same
// field to "<flags> <count>" (the runtime flags and Kamailio's probing counter, state.ts). The
// index `{ds}:index` names the sets and carries the list version.
import type { RedisConnection } from '@sipfleet/redis';
import type { LatencyStats } from '../algorithms.js';
import { formatAttrs, parseList } from '../list-file.js';
import { buildSet, type Destination, type DestinationSet } from '../model.js';
import type { DestinationState } from '../state.js';

/** One destination as stored in the `dst` hash. `duid`/`maxload` repeat attrs for the Lua side. */
export interface StoredDestination {
  /** The URI as listed. */
  readonly u: string;
  /** File order: later lines have higher numbers (ties in priority sort reverse file order). */
  readonly o: number;
  /** Flags from the list file (the state hash holds the current ones). */
  readonly f: number;
  readonly p: number;
  /** attrs column text (list-file format). */
  readonly a: string;
  readonly d?: string;
  readonly duid?: string;
  readonly maxload?: number;
}

export function encodeDestination(dst: Destination, order: number): string {
  const stored: StoredDestination = {
    u: dst.uri,
    o: order,
    f: dst.flags,
    p: dst.priority,
    a: formatAttrs(dst.attrs),
    ...(dst.description !== undefined ? { d: dst.description } : {}),
    ...(dst.attrs.duid !== undefined && dst.attrs.duid !== '' ? { duid: dst.attrs.duid } : {}),
    ...(dst.attrs.maxload ? { maxload: dst.attrs.maxload } : {}),
  };
  return JSON.stringify(stored);
}

export function encodeState(state: DestinationState): string {
  return `${state.flags} ${state.count}`;
}

export function decodeState(value: string | undefined): DestinationState | undefined {
  const m = value === undefined ? null : /^(\d+) (\d+)$/.exec(value);
  return m ? { flags: Number(m[1]), count: Number(m[2]) } : undefined;
}

/** The field name of a destination in the `dst`, `state` hashes and call slots. */
export function uriField(uri: string): string {
  return uri.toLowerCase();
}

/**
 * One destination from its list-file fields, validated by the list parser itself (so the fleet
 * accepts exactly what a dispatcher.list accepts). Returns the destination or the parser's message.
 */
export function parseDestination(
  setid: number,
  uri: string,
  flags: number,
  priority: number,
  attrs: string,
  description?: string,
): Destination | string {
  const fields = [String(setid), uri, String(flags), String(priority), attrs === '' ? ';' : attrs];
  if (description !== undefined && description !== '') {
    fields.push(description.replace(/[\r\n]+/g, ' '));
  }
  if (fields.some((f, i) => i < 5 && /[\s#]/.test(f))) {
    return `destination fields may not contain whitespace or '#': ${fields.slice(1, 5).join(' ')}`;
  }
  try {
    const dst = parseList(fields.join(' '))[0]?.destinations[0];
    return dst ?? 'not a destination';
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** Flat [field, value, field, value, ...] reply to a Map. */
export function pairs(reply: unknown): Map<string, string> {
  const map = new Map<string, string>();
  if (!Array.isArray(reply)) return map;
  for (let i = 0; i + 1 < reply.length; i += 2) map.set(String(reply[i]), String(reply[i + 1]));
  return map;
}

export interface FleetRead {
  /** The list version (dsIndex `version`); 0 when nothing was ever loaded. */
  readonly version: number;
  readonly sets: DestinationSet[];
  /** Current state (flags + probing counter) per set id and lower-cased URI. */
  readonly states: Map<number, Map<string, DestinationState>>;
  /** Entries that could not be read (hand-edited garbage), skipped. */
  readonly issues: string[];
}

async function readIndex(conn: RedisConnection): Promise<{ version: number; ids: number[] }> {
  const reply = await conn.call('HMGET', conn.keys.dsIndex(), 'version', 'sets');
  const [version, sets] = Array.isArray(reply) ? reply : [];
  const ids = String(sets ?? '')
    .split(' ')
    .filter((s) => /^\d+$/.test(s))
    .map(Number);
  return { version: Number(version ?? 0) || 0, ids };
}

async function readSet(
  conn: RedisConnection,
  setid: number,
  issues: string[],
): Promise<{ set: DestinationSet; states: Map<string, DestinationState> }> {
  const id = String(setid);
  const [dstReply, stateReply] = await Promise.all([
    conn.call('HGETALL', conn.keys.dsDestinations(id)),
    conn.call('HGETALL', conn.keys.dsState(id)),
  ]);
  const stateFields = pairs(stateReply);
  const entries: { order: number; dst: Destination }[] = [];
  const states = new Map<string, DestinationState>();
  for (const [field, json] of pairs(dstReply)) {
    let stored: StoredDestination;
    try {
      stored = JSON.parse(json) as StoredDestination;
    } catch {
      issues.push(`set ${setid} ${field}: destination is not JSON`);
      continue;
    }
    const state = decodeState(stateFields.get(field)) ?? { flags: Number(stored.f) || 0, count: 0 };
    const dst = parseDestination(
      setid,
      String(stored.u ?? field),
      state.flags,
      Number(stored.p) || 0,
      String(stored.a ?? ''),
      typeof stored.d === 'string' ? stored.d : undefined,
    );
    if (typeof dst === 'string') {
      issues.push(`set ${setid} ${field}: ${dst}`);
      continue;
    }
    states.set(field, state);
    entries.push({ order: Number(stored.o) || 0, dst });
  }
  entries.sort((a, b) => a.order - b.order);
  return {
    set: buildSet(
      setid,
      entries.map((e) => e.dst),
    ),
    states,
  };
}

/**
 * Reads every set. Sets are written one by one (each atomically) and the version is bumped last,
 * so a read that saw the same version before and after is consistent; otherwise it is retried.
 * After `attempts` the last read is returned: the reload event that follows re-reads anyway.
 */
export async function readFleet(conn: RedisConnection, attempts = 5): Promise<FleetRead> {
  for (let attempt = 1; ; attempt++) {
    const { version, ids } = await readIndex(conn);
    const issues: string[] = [];
    const read = await Promise.all(ids.map((id) => readSet(conn, id, issues)));
    const after = await readIndex(conn);
    if (after.version === version || attempt >= attempts) {
      const states = new Map<number, Map<string, DestinationState>>();
      read.forEach((r, i) => states.set(ids[i] ?? r.set.id, r.states));
      return {
        version,
        sets: read.map((r) => r.set).filter((s) => s.destinations.length > 0),
        states,
        issues,
      };
    }
  }
}

/**
 * The field of a destination in the prober's `latency` hash: the lower-cased URI with `sip:` in
 * front when the list gave none (the prober pings the URI Kamailio would, scheme included).
 */
export function latencyField(uri: string): string {
  return (/^sips?:/i.test(uri) ? uri : `sip:${uri}`).toLowerCase();
}

/**
 * One destination's latency statistics as the prober stores them:
 * "<estimate> <average> <samples> <std> <max> <timeouts> <m2>" (m2, Welford's sum of squares, is
 * the prober's own). The three-field form of earlier releases reads with std, max and timeouts 0.
 */
export function decodeLatency(value: string): LatencyStats | undefined {
  const f = value.split(' ');
  if (f.length !== 3 && f.length < 6) return undefined;
  const [estimate, average, samples, std = 0, max = 0, timeouts = 0] = f.map(Number);
  const all = [estimate, average, samples, std, max, timeouts];
  if (!all.every((n) => n !== undefined && Number.isFinite(n))) return undefined;
  return {
    estimate: estimate as number,
    average: average as number,
    samples: samples as number,
    std,
    max,
    timeouts,
  };
}

/**
 * The latency hash of one set, keyed by the lower-cased URI of each destination of `set` that has
 * statistics (the key select() looks up). One HGETALL.
 */
export async function readSetLatency(
  conn: RedisConnection,
  set: DestinationSet,
): Promise<Map<string, LatencyStats>> {
  const stored = pairs(await conn.call('HGETALL', conn.keys.dsLatency(String(set.id))));
  const out = new Map<string, LatencyStats>();
  for (const d of set.destinations) {
    const value = stored.get(latencyField(d.uri));
    const stats = value === undefined ? undefined : decodeLatency(value);
    if (stats !== undefined) out.set(d.uri.toLowerCase(), stats);
  }
  return out;
}
