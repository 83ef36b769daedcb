// Keepalive by registration (the path-module approach): destinations of a set in 'register' mode
// are not pinged; a destination is up while a REGISTER it sent is unexpired and down when it
// expires (or is removed with Expires: 0). The edge that answers the REGISTER calls
// registrationSeen(); the probers sweep expired registrations once per ping interval.
//
// State changes go through the dispatcher's own store (DispatcherFleet.setState, mode 'rpc':
// registration is authoritative, no thresholds), so edges see the same dst-up / dst-down events.

import type { DispatcherFleet, Transition } from '@sipfleet/dispatcher';
import type { RedisConnection } from '@sipfleet/redis';
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
