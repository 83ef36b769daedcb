// Typed errors of the Redis layer. Callers branch on `code`, never on ioredis' message text.

/** Every error code this package can produce (a catalogue: never reuse a code for something else). */
export const REDIS_ERROR_CODES = [
  /** The connection setting (URL or object) is malformed. */
  'SIPFLEET_ERR_REDIS_CONFIG',
  /** A name segment (table, set id, ...) cannot be used inside a key (empty, or holds `{` / `}`). */
  'SIPFLEET_ERR_REDIS_BAD_KEY',
  /** Redis is not connected: the command was rejected at once instead of being queued. */
  'SIPFLEET_ERR_REDIS_UNAVAILABLE',
  /** Redis did not answer within `commandTimeoutMs`. */
  'SIPFLEET_ERR_REDIS_TIMEOUT',
  /** Redis answered with an error reply (WRONGTYPE, NOAUTH, CROSSSLOT, ...). */
  'SIPFLEET_ERR_REDIS_COMMAND',
  /** A Lua script found a key holding the wrong kind of value. */
  'SIPFLEET_ERR_REDIS_SCRIPT_WRONG_TYPE',
  /** A Lua script rejected one of its ARGV. */
  'SIPFLEET_ERR_REDIS_SCRIPT_BAD_ARGUMENT',
  /** A Lua script needed a key that does not exist. */
  'SIPFLEET_ERR_REDIS_SCRIPT_NOT_FOUND',
  /** A Lua script refused to go past a limit (integer overflow, capacity). */
  'SIPFLEET_ERR_REDIS_SCRIPT_LIMIT',
  /** A Lua script returned something outside the `{code, ...}` convention. */
  'SIPFLEET_ERR_REDIS_SCRIPT_REPLY',
  /** A pub/sub message was not the JSON event it should be (logged and dropped, never thrown). */
  'SIPFLEET_ERR_REDIS_BAD_EVENT',
] as const;

export type RedisErrorCode = (typeof REDIS_ERROR_CODES)[number];

export class SipfleetRedisError extends Error {
  override readonly name = 'SipfleetRedisError';
  constructor(
    readonly code: RedisErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Scripts return `{code, ...}`: code >= 0 is success, a negative code is looked up here.
 * One table for every script, so the same failure reads the same everywhere.
 */
export const SCRIPT_ERROR_CODES: Readonly<Record<number, RedisErrorCode>> = {
  [-1]: 'SIPFLEET_ERR_REDIS_SCRIPT_WRONG_TYPE',
  [-2]: 'SIPFLEET_ERR_REDIS_SCRIPT_BAD_ARGUMENT',
  [-3]: 'SIPFLEET_ERR_REDIS_SCRIPT_NOT_FOUND',
  [-4]: 'SIPFLEET_ERR_REDIS_SCRIPT_LIMIT',
};

/** Maps anything ioredis rejects with to a SipfleetRedisError (idempotent). */
export function toRedisError(err: unknown): SipfleetRedisError {
  if (err instanceof SipfleetRedisError) return err;
  const message = err instanceof Error ? err.message : String(err);
  // ioredis' fail-fast and closed-connection rejections (enableOfflineQueue: false).
  if (
    /enableOfflineQueue|Connection is closed|Stream isn't writeable|isn't ready|ECONNREFUSED|Failed to refresh slots cache|None of the sentinels|All sentinels are unreachable|MaxRetriesPerRequest/i.test(
      message,
    )
  ) {
    return new SipfleetRedisError('SIPFLEET_ERR_REDIS_UNAVAILABLE', message, { cause: err });
  }
  if (/Command timed out/i.test(message)) {
    return new SipfleetRedisError('SIPFLEET_ERR_REDIS_TIMEOUT', message, { cause: err });
  }
  return new SipfleetRedisError('SIPFLEET_ERR_REDIS_COMMAND', message, { cause: err });
}
