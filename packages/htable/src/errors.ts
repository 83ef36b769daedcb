/** Errors of the htable API itself; Redis failures arrive as SipfleetRedisError (SIPFLEET_ERR_REDIS_*). */
export const HTABLE_ERROR_CODES = [
  /** A table definition is invalid (name, autoexpire, duplicate, initial values). */
  'SIPFLEET_ERR_HTABLE_CONFIG',
  /** The table was not declared. */
  'SIPFLEET_ERR_HTABLE_UNKNOWN_TABLE',
  /** A value or expire is not what the function takes (seti with 1.5, negative expire, ...). */
  'SIPFLEET_ERR_HTABLE_BAD_VALUE',
] as const;

export type HtableErrorCode = (typeof HTABLE_ERROR_CODES)[number];

export class HtableError extends Error {
  override readonly name = 'HtableError';
  constructor(
    readonly code: HtableErrorCode,
    message: string,
  ) {
    super(message);
  }
}
