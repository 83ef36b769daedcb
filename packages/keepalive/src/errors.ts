// Typed errors of the keepalive prober. Callers branch on `code`, never on message text.

/** Every error code this package can produce (a catalogue: never reuse a code for something else). */
export const KEEPALIVE_ERROR_CODES = [
  /** A prober setting is out of range or malformed (the message names the setting). */
  'SIPFLEET_ERR_KEEPALIVE_SETTINGS',
  /** A `ds_ping_reply_codes` string is not `class=N;code=NNN;...`. */
  'SIPFLEET_ERR_KEEPALIVE_REPLY_CODES',
  /** A destination URI cannot be pinged (not sip:, no host, unsupported transport). */
  'SIPFLEET_ERR_KEEPALIVE_BAD_URI',
  /** The prober or monitor was used after close(). */
  'SIPFLEET_ERR_KEEPALIVE_CLOSED',
] as const;

export type KeepaliveErrorCode = (typeof KEEPALIVE_ERROR_CODES)[number];

export class SipfleetKeepaliveError extends Error {
  override readonly name = 'SipfleetKeepaliveError';
  constructor(
    readonly code: KeepaliveErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
