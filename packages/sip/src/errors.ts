import type { SipRequest } from './message.js';

/**
 * Error codes of the SIP grammar layer. Each maps to the SIP status a server answers a broken request with
 * (RFC 3261 section 21.4, RFC 4475 section 3.1.2). Codes are never reused.
 */
export const SipErrorCode = {
  /** Nothing but CRLFs (or nothing at all). */
  EMPTY: 'SIPFLEET_ERR_PARSE_EMPTY',
  /** Request-Line / Status-Line does not match RFC 3261 section 25.1 (extra SP, bad method token, bad code). */
  START_LINE: 'SIPFLEET_ERR_PARSE_START_LINE',
  /** SIP-Version other than SIP/2.0 (answer 505, RFC 3261 section 8.2.2.3 does not apply; 21.5.6). */
  VERSION: 'SIPFLEET_ERR_PARSE_VERSION',
  /** The header block has no terminating empty line. */
  TRUNCATED: 'SIPFLEET_ERR_PARSE_TRUNCATED',
  /** A header line or a structured header value (Via, From, To, CSeq, ...) is malformed. */
  HEADER: 'SIPFLEET_ERR_PARSE_HEADER',
  /** One of Via, From, To, Call-ID, CSeq is missing or repeated (RFC 3261 section 8.1.1). */
  MISSING_HEADER: 'SIPFLEET_ERR_PARSE_MISSING_HEADER',
  /** Content-Length is not a number, negative, contradictory, or larger than the bytes received. */
  CONTENT_LENGTH: 'SIPFLEET_ERR_PARSE_CONTENT_LENGTH',
  /** CSeq method differs from the Request-Line method (RFC 4475 section 3.1.2.17). */
  CSEQ_MISMATCH: 'SIPFLEET_ERR_PARSE_CSEQ_MISMATCH',
  /** A SIP, SIPS or tel URI is malformed. */
  URI: 'SIPFLEET_ERR_PARSE_URI',
  /** The URI scheme is not sip, sips or tel (answer 416, RFC 3261 section 8.2.2.1). */
  URI_SCHEME: 'SIPFLEET_ERR_PARSE_URI_SCHEME',
  /** The message or its body is larger than the caller's limit (answer 413). */
  TOO_LARGE: 'SIPFLEET_ERR_PARSE_TOO_LARGE',
  /**
   * Over a count or size limit of `ParseOptions`: header fields, header field bytes, Via values (answer
   * 400), Request-URI bytes (answer 414).
   */
  LIMIT: 'SIPFLEET_ERR_PARSE_LIMIT',
} as const;
export type SipErrorCode = (typeof SipErrorCode)[keyof typeof SipErrorCode];

/** The only error the grammar layer throws. */
export class SipParseError extends Error {
  readonly code: string;
  /**
   * SIP status to answer with: 400 normally, 505 bad version, 413 too large, 414 Request-URI too long, 416
   * bad URI scheme.
   */
  readonly status: number;
  /**
   * Set when the input is a request whose start line and header block could be split: the caller can
   * answer it with `status` over the path it came on. Its Via, From, To, Call-ID or CSeq may be unreadable
   * (that can be the fault): copy the readable ones (RFC 3261 section 8.2.6).
   */
  readonly request?: SipRequest;

  constructor(code: SipErrorCode, message: string, status = 400, request?: SipRequest) {
    super(message);
    this.name = 'SipParseError';
    this.code = code;
    this.status = status;
    if (request !== undefined) this.request = request;
  }
}

/** Internal shorthand: a 400 with code HEADER or URI. */
export function fail(code: SipErrorCode, message: string, status = 400): never {
  throw new SipParseError(code, message, status);
}
