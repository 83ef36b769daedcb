// Single-valued header fields with scalar grammar: CSeq, Max-Forwards, Content-Length, Call-ID, Expires
// (RFC 3261 sections 20.16, 20.22, 20.14, 20.8, 20.19).
import { SipErrorCode, fail } from './errors.js';
import { DIGITS, TOKEN, isWs, scan, skipWs } from './grammar.js';

export interface CSeq {
  seq: number;
  method: string;
}

/** Parses 1*DIGIT that must fit `max`; leading zeros are allowed (RFC 4475 section 3.1.1.1: "0009"). */
export function parseBoundedInt(s: string, max: number, what: string): number {
  const end = scan(s, 0, DIGITS);
  if (end === 0 || end !== s.length) fail(SipErrorCode.HEADER, `${what}: not a number`);
  // beyond 10 significant digits the value cannot fit any bound used here (RFC 4475 section 3.1.2.4)
  let i = 0;
  while (i < end - 1 && s.charCodeAt(i) === 48) i++;
  const n = end - i > 10 ? Infinity : Number(s.slice(i));
  if (n > max) fail(SipErrorCode.HEADER, `${what}: value too large`);
  return n;
}

/**
 * CSeq = 1*DIGIT LWS Method. RFC 3261 section 8.1.1.5: "The sequence number value MUST be expressible as a
 * 32-bit unsigned integer".
 */
export function parseCSeq(value: string): CSeq {
  const de = scan(value, 0, DIGITS);
  const ms = skipWs(value, de);
  if (de === 0 || ms === de) fail(SipErrorCode.HEADER, 'CSeq: expected "number method"');
  const me = scan(value, ms, TOKEN);
  if (me === ms || me !== value.length) fail(SipErrorCode.HEADER, 'CSeq: bad method');
  return {
    seq: parseBoundedInt(value.slice(0, de), 0xffffffff, 'CSeq'),
    method: value.slice(ms),
  };
}

/** RFC 3261 section 20.22: "The Max-Forwards value is an integer in the range 0-255". */
export function parseMaxForwards(value: string): number {
  return parseBoundedInt(value, 255, 'Max-Forwards');
}

/** Content-Length = 1*DIGIT (a '-' sign is not a DIGIT: RFC 4475 section 3.1.2.3). */
export function parseContentLength(value: string): number {
  const end = scan(value, 0, DIGITS);
  if (end === 0 || end !== value.length) {
    fail(SipErrorCode.CONTENT_LENGTH, `Content-Length ${JSON.stringify(value)} is not a number`);
  }
  if (end > 15) fail(SipErrorCode.CONTENT_LENGTH, 'Content-Length too large');
  return Number(value);
}

/** callid = word [ "@" word ]: non-empty, no whitespace. */
export function checkCallId(value: string): string {
  if (value.length === 0) fail(SipErrorCode.HEADER, 'Call-ID is empty');
  for (let j = 0; j < value.length; j++) {
    const c = value.charCodeAt(j);
    if (isWs(c) || c < 32 || c === 127) fail(SipErrorCode.HEADER, 'Call-ID contains whitespace');
  }
  return value;
}
