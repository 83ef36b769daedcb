// Keepalive by registration (the path-module approach): destinations of a set in 'register' mode
// are not pinged; a destination is up while a REGISTER it sent is unexpired and down when it
// expires (or is removed with Expires: 0). The edge that answers the REGISTER calls
// registrationSeen(); the probers sweep expired registrations once per ping interval.
//
// State changes go through the dispatcher's own store (DispatcherFleet.setState, mode 'rpc':
// registration is authoritative, no thresholds), so edges see the same dst-up / dst-down events.

import type { Destination, DispatcherFleet, Transition } from '@sipfleet/dispatcher';
import type { RedisConnection } from '@sipfleet/redis';
import { parseNameAddr, type SipRequest } from '@sipfleet/sip';
import { keepaliveScripts, uriField } from './scripts.js';

export interface RegistrationSeenOptions {
  /** The destination's current flags as the caller's snapshot has them: skips the state write
   *  when it is already up (a refresh costs one ZADD). */
  readonly currentFlags?: number;
  /** @default Date.now() */
  readonly now?: number;
}

/**
 * A REGISTER from `uri` (a destination of the register-mode set `setid`) was accepted for
 * `expiresSec` seconds; 0 removes it (down at once). Returns the state transition, or undefined
 * when nothing had to change. Throws the dispatcher's typed errors (unknown destination, ...).
 */
export async function registrationSeen(
  conn: RedisConnection,
  fleet: DispatcherFleet,
  setid: number,
  uri: string,
  expiresSec: number,
  options: RegistrationSeenOptions = {},
): Promise<Transition | undefined> {
  const key = conn.keys.dsRegistrations(String(setid));
  const field = uriField(uri);
  if (!Number.isFinite(expiresSec) || expiresSec <= 0) {
    await conn.call('ZREM', key, field);
    return fleet.setState(setid, field, 'i', { mode: 'rpc', reason: 'registration' });
  }
  const now = options.now ?? Date.now();
  await conn.call('ZADD', key, now + Math.round(expiresSec * 1000), field);
  // Already selectable (no inactive bit 1), or admin-disabled (bit 4, stays so): nothing to write.
  // Without currentFlags the state is set to active unconditionally (clearing a disabled bit).
  const flags = options.currentFlags;
  if (flags !== undefined && ((flags & 4) !== 0 || (flags & 1) === 0)) return undefined;
  const t = await fleet.setState(setid, field, 'a', { mode: 'rpc', reason: 'registration' });
  return t.changed ? t : undefined;
}

/**
 * Marks down every destination of `setid` whose registration expired by `now`. Returns the
 * destinations whose state changed. Called by the prober's `reg` jobs; safe to run on several probers at once (each
 * expired entry is taken by exactly one).
 */
export async function expireRegistrations(
  conn: RedisConnection,
  fleet: DispatcherFleet,
  setid: number,
  now = Date.now(),
): Promise<{ uri: string; transition: Transition }[]> {
  const [, ...expired] = await keepaliveScripts(conn).run(
    'reg-expire',
    [conn.keys.dsRegistrations(String(setid))],
    [now, 1000],
  );
  const down: { uri: string; transition: Transition }[] = [];
  for (const uri of expired.map(String)) {
    try {
      const transition = await fleet.setState(setid, uri, 'i', {
        mode: 'rpc',
        reason: 'registration-expired',
      });
      if (transition.changed) down.push({ uri, transition });
    } catch {
      // removed from the list meanwhile: nothing to take down
    }
  }
  return down;
}

/** RFC 3261 §10.2.1.1: without an Expires header or contact param, a registrar picks; so do we. */
export const DEFAULT_REGISTER_EXPIRES = 3600;

/** Attributes (dispatcher attrs column) of a destination that a REGISTER added to its set. */
export const REGISTERED_ATTR = { marker: 'reg', aor: 'aor', path: 'path' } as const;

/** One Contact of a REGISTER, as the registration keepalive stores it. */
export interface ContactBinding {
  /** The Contact URI, without a `q` URI parameter a server put inside the angle brackets. */
  readonly uri: string;
  /** Seconds; 0 removes the binding. */
  readonly expires: number;
  /** The q-value in thousandths (0-1000), or undefined when the Contact has none. */
  readonly q: number | undefined;
}

export type RegisterBindings =
  | { readonly kind: 'bindings'; readonly bindings: readonly ContactBinding[] }
  /** `Contact: *` with `Expires: 0`: every binding of the AOR goes (RFC 3261 §10.2.2). */
  | { readonly kind: 'remove-all' }
  /** No Contact: a query for the current bindings (RFC 3261 §10.2.3). */
  | { readonly kind: 'query' }
  | { readonly kind: 'error'; readonly reason: string };

/** RFC 3261 §25.1 qvalue: `0[.ddd]` or `1[.000]`, in thousandths; undefined when malformed. */
export function parseQ(text: string): number | undefined {
  const m = /^(?:0(?:\.(\d{0,3}))?|1(?:\.0{0,3})?)$/.exec(text.trim());
  if (m === null) return undefined;
  if (text.trim().startsWith('1')) return 1000;
  return Number((m[1] ?? '').padEnd(3, '0'));
}

/**
 * Every Contact of a REGISTER with its expiry (contact `expires` param, else the Expires header,
 * else `defaultExpires`) and q. The q is read after the `>` as RFC 3261 §20.10 has it, and also
 * from inside the brackets (a URI parameter), where some media servers put it.
 */
export function registerBindings(
  req: Pick<SipRequest, 'getHeader' | 'getHeaders'>,
  defaultExpires = DEFAULT_REGISTER_EXPIRES,
): RegisterBindings {
  const header = req.getHeader('expires');
  const headerExpires = header === undefined ? defaultExpires : parseExpires(header);
  if (headerExpires === undefined) return { kind: 'error', reason: 'Bad Expires' };
  const values = req.getHeaders('contact');
  if (values.length === 0) return { kind: 'query' };
  if (values.some((v) => v.trim() === '*')) {
    // §10.3 step 6: `*` only alone and with Expires: 0.
    return values.length === 1 && headerExpires === 0
      ? { kind: 'remove-all' }
      : { kind: 'error', reason: 'Invalid Wildcard Contact' };
  }
  const bindings: ContactBinding[] = [];
  for (const value of values) {
    let contact;
    try {
      contact = parseNameAddr(value);
    } catch {
      return { kind: 'error', reason: 'Bad Contact' };
    }
    const uri = contact.uri;
    const qText = contact.params.get('q') ?? uri.params.get('q');
    uri.params.delete('q');
    const q = qText === undefined || qText === null ? undefined : parseQ(qText);
    if (q === undefined && qText !== undefined) return { kind: 'error', reason: 'Bad q-value' };
    const param = contact.params.get('expires');
    const expires = param === undefined || param === null ? headerExpires : parseExpires(param);
    if (expires === undefined) return { kind: 'error', reason: 'Bad Expires' };
    bindings.push({ uri: uri.toString(), expires, q });
  }
  return { kind: 'bindings', bindings };
}

function parseExpires(text: string): number | undefined {
  const t = text.trim();
  return /^\d{1,10}$/.test(t) ? Number(t) : undefined;
}

/** True for a destination a REGISTER added (not one from the list file or `ctl dispatcher add`). */
export function isRegisteredDestination(dst: Destination): boolean {
  return dst.attrs.extra.has(REGISTERED_ATTR.marker);
}

/**
 * The route set towards a destination registered through proxies: its stored Path header values
 * (RFC 3327 §5.3: the registrar keeps them and uses them as a preloaded route set), in order, or
 * undefined when it registered directly.
 */
export function registeredPath(dst: Destination): string[] | undefined {
  const text = dst.attrs.extra.get(REGISTERED_ATTR.path);
  if (text === undefined || text === '') return undefined;
  return decodeURIComponent(text)
    .split('\n')
    .filter((v) => v !== '');
}

/** The AOR (To URI) a registered destination registered under. */
export function registeredAor(dst: Destination): string | undefined {
  const text = dst.attrs.extra.get(REGISTERED_ATTR.aor);
  return text === undefined ? undefined : decodeURIComponent(text);
}

/**
 * The attrs column of a registered destination: the marker, its AOR and Path, URI-encoded so that
 * `;`, `,` and `<>` of the values cannot break the `k=v;k=v` column.
 */
export function registeredAttrs(aor: string, path: readonly string[]): string {
  const parts = [
    `${REGISTERED_ATTR.marker}=1`,
    `${REGISTERED_ATTR.aor}=${encodeURIComponent(aor)}`,
  ];
  if (path.length > 0) parts.push(`${REGISTERED_ATTR.path}=${encodeURIComponent(path.join('\n'))}`);
  return parts.join(';');
}

export interface BindingUpdate {
  readonly setid: number;
  /** The destination as the caller's snapshot has it (same URI, case-insensitive), if any. */
  readonly current: Destination | undefined;
  readonly binding: ContactBinding;
  /** The REGISTER's AOR (To URI) and Path header values (RFC 3327). */
  readonly aor: string;
  readonly path: readonly string[];
  /** @default Date.now() */
  readonly now?: number;
}

/** What one binding did to its set. */
export type BindingOutcome = 'added' | 'updated' | 'refreshed' | 'removed' | 'down' | 'none';

/**
 * One Contact of a REGISTER into a register-mode set. A destination listed in advance keeps its
 * list entry (priority and attrs are the operator's) and is only kept up or taken down. Any other
 * contact becomes a destination of the set (`ctl dispatcher add`), priority = q x 1000 (no q: 0),
 * attrs from registeredAttrs(); it is rewritten only when q, AOR or Path changed, so a refresh
 * costs one ZADD. `expires` 0 removes an added destination and takes a listed one down.
 */
export async function applyBinding(
  conn: RedisConnection,
  fleet: DispatcherFleet,
  update: BindingUpdate,
): Promise<BindingOutcome> {
  const { setid, current, binding } = update;
  const now = update.now ?? Date.now();
  const added = current !== undefined && isRegisteredDestination(current);
  if (binding.expires === 0) {
    if (current === undefined) return 'none';
    if (!added) {
      await registrationSeen(conn, fleet, setid, current.uri, 0, { now });
      return 'down';
    }
    await conn.call('ZREM', conn.keys.dsRegistrations(String(setid)), uriField(current.uri));
    await fleet.remove(setid, current.uri);
    return 'removed';
  }
  const priority = binding.q ?? 0;
  const attrs = registeredAttrs(update.aor, update.path);
  if (
    current !== undefined &&
    (!added || (current.priority === priority && sameRegisteredAttrs(current, attrs)))
  ) {
    await registrationSeen(conn, fleet, setid, current.uri, binding.expires, {
      currentFlags: current.flags,
      now,
    });
    return 'refreshed';
  }
  // Active from the start (flags 0); the ZADD after it makes the prober's sweep see it.
  await fleet.add(setid, binding.uri, 0, priority, attrs);
  await conn.call(
    'ZADD',
    conn.keys.dsRegistrations(String(setid)),
    now + binding.expires * 1000,
    uriField(binding.uri),
  );
  return current === undefined ? 'added' : 'updated';
}

function sameRegisteredAttrs(dst: Destination, attrs: string): boolean {
  return registeredAttrs(registeredAor(dst) ?? '', registeredPath(dst) ?? []) === attrs;
}
