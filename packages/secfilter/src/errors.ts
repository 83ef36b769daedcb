/** Errors of the secfilter API; Redis failures arrive as SipfleetRedisError (SIPFLEET_ERR_REDIS_*). */
export const SECFILTER_ERROR_CODES = [
  /** An address list entry is neither an IP address nor a CIDR (`10.0.0.0/8`, `2001:db8::/32`). */
  'SIPFLEET_ERR_SECFILTER_BAD_ENTRY',
  /** A list name other than allow-ip, deny-ip, allow-ua, deny-ua. */
  'SIPFLEET_ERR_SECFILTER_UNKNOWN_LIST',
] as const;

export type SecfilterErrorCode = (typeof SECFILTER_ERROR_CODES)[number];

export class SecfilterError extends Error {
  override readonly name = 'SecfilterError';
  constructor(
    readonly code: SecfilterErrorCode,
    message: string,
  ) {
    super(message);
  }
}
