// Typed errors of the fleet (Redis-backed) dispatcher. Redis failures themselves arrive as
// SipfleetRedisError (SIPFLEET_ERR_REDIS_*, e.g. _UNAVAILABLE while Redis is down).

/** Every error code of the fleet layer (a catalogue: never reuse a code for something else). */
export const DISPATCHER_FLEET_ERROR_CODES = [
  /** A set id, URI, Call-ID or option is not usable (empty Call-ID, set id not 0-2^31-1, ...). */
  'SIPFLEET_ERR_DISPATCHER_BAD_ARGUMENT',
  /** setState / probeResult / remove named a destination the fleet's list does not hold. */
  'SIPFLEET_ERR_DISPATCHER_UNKNOWN_DESTINATION',
  /** A state update kept losing its compare-and-set to concurrent writers (retries exhausted). */
  'SIPFLEET_ERR_DISPATCHER_CONFLICT',
  /** A destination stored in Redis could not be read (hand-edited); it is skipped (reported, not thrown). */
  'SIPFLEET_ERR_DISPATCHER_BAD_ENTRY',
  /** The list's index vanished from Redis (data loss); edges keep their snapshot (reported, not thrown). */
  'SIPFLEET_ERR_DISPATCHER_LIST_MISSING',
  /** Call-load releases/confirms waited out a Redis outage (one report per outage, with counts). */
  'SIPFLEET_ERR_DISPATCHER_CALL_LOAD_DEFERRED',
  /** Destination host names ds_is_from_list could not resolve (one report per list read, naming them). */
  'SIPFLEET_ERR_DISPATCHER_RESOLVE',
] as const;

export type DispatcherFleetErrorCode = (typeof DISPATCHER_FLEET_ERROR_CODES)[number];

export class DispatcherFleetError extends Error {
  override readonly name = 'DispatcherFleetError';
  constructor(
    readonly code: DispatcherFleetErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** A set id as Kamailio takes it (non-negative int32), or a typed error. */
export function checkSetId(setid: number): string {
  if (!Number.isInteger(setid) || setid < 0 || setid > 0x7fffffff) {
    throw new DispatcherFleetError(
      'SIPFLEET_ERR_DISPATCHER_BAD_ARGUMENT',
      `dispatcher set id must be an integer 0-2147483647, got ${String(setid)}`,
    );
  }
  return String(setid);
}
