// Message framing and start line (RFC 3261 sections 7.1, 7.2, 7.3, 7.4, 7.5, 18.3; torture cases of
// RFC 4475 section 3.1). The header block is split in one indexOf/charCodeAt pass; values stay raw until a
// getter needs them.
import { SipErrorCode, SipParseError } from './errors.js';
import { ALPHANUM_SCHEME, TOKEN, isTrimmed, isWs, scan } from './grammar.js';
import { headerKey, knownHeader, knownMatch } from './headers.js';
import type { HeaderField } from './headers.js';
import { SipMessage, SipRequest, SipResponse } from './message.js';
import { parseContentLength } from './scalars.js';

/**
 * Bounds on what a peer controls. A message over one is still split into its header lines (the input is
 * bounded by `maxBytes` and the transport's frame limit) so the request can be answered; then it is
 * rejected with `SIPFLEET_ERR_PARSE_LIMIT` (400; 414 for the Request-URI) or, for the body,
 * `SIPFLEET_ERR_PARSE_TOO_LARGE` (413). `parseMessage` applies none unless asked; a receiving endpoint
 * applies {@link DEFAULT_PARSE_LIMITS}.
 */
export interface ParseOptions {
  /**
   * Larger inputs are rejected with status 413 before any parsing.
   * @default Infinity
   */
  maxBytes?: number;
  /** Header fields (lines, folded continuations included in their field). @default Infinity */
  maxHeaders?: number;
  /** Bytes of one header field, folded continuation lines included. @default Infinity */
  maxHeaderLineBytes?: number;
  /** Bytes of the Request-URI (answer 414, RFC 3261 section 21.4.12). @default Infinity */
  maxRequestUriBytes?: number;
  /** Via values, all Via fields together (a legitimate request has at most one per hop). @default Infinity */
  maxVias?: number;
  /** Body bytes, as declared by Content-Length or as received (answer 413). @default Infinity */
  maxBodyBytes?: number;
}

/**
 * The limits an endpoint applies to what it receives. 70 Vias: a request starts with Max-Forwards 70
 * (RFC 3261 section 8.1.1.6), so a legitimate one never collects more. The others leave a wide margin
 * over the largest RFC 4475 messages (longreq: 46 fields, lines of ~450 bytes).
 */
export const DEFAULT_PARSE_LIMITS = {
  maxHeaders: 128,
  maxHeaderLineBytes: 8192,
  maxRequestUriBytes: 2048,
  maxVias: 70,
  maxBodyBytes: 32_768,
} as const satisfies ParseOptions;

const FOLD = /\r?\n[ \t]/g;

/** 'SIP/2.0' compared case-insensitively ("SIP" is a case-insensitive literal in ABNF). */
function isSip20(s: string, from: number, to: number): boolean {
  return to - from === 7 && s.slice(from, to).toUpperCase() === 'SIP/2.0';
}

/** SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT */
function looksLikeVersion(v: string): boolean {
  if (v.length < 7 || v.slice(0, 4).toUpperCase() !== 'SIP/') return false;
  const dot = v.indexOf('.', 4);
  if (dot < 5 || dot === v.length - 1) return false;
  for (let j = 4; j < v.length; j++) {
    const c = v.charCodeAt(j);
    if (j !== dot && (c < 48 || c > 57)) return false;
  }
  return true;
}

/** Request-URI shape: `scheme ":" ...` with no whitespace or controls (RFC 4475 3.1.2.7, 3.1.2.8). */
function badRequestUri(uri: string): string | undefined {
  const colon = uri.indexOf(':');
  if (colon <= 0 || scan(uri, 0, ALPHANUM_SCHEME) !== colon) return 'Request-URI has no scheme';
  for (let j = 0; j < uri.length; j++) {
    const c = uri.charCodeAt(j);
    if (c <= 32 || c === 127 || c === 60 || c === 62) return 'invalid character in Request-URI';
  }
  return undefined;
}

/**
 * Parses one SIP message: a UDP datagram or one framed TCP message. The start line, the header split,
 * Content-Length and the headers every element needs (Via, From, To, Call-ID, CSeq, Max-Forwards) are
 * checked here; other headers are parsed on first read.
 *
 * Body: Content-Length bytes after the empty line; extra trailing bytes are ignored (RFC 4475 3.1.1.8),
 * fewer bytes are an error (RFC 3261 section 18.3, RFC 4475 3.1.2.2); without Content-Length the body is the
 * rest of the input (RFC 3261 section 18.3 allows that for UDP).
 *
 * @throws SipParseError only; `.request` is set when the input is a request whose start line and header
 * block could be split, so that it can be answered with `.status` (its Via, From, To, Call-ID or CSeq may
 * still be unreadable: copy what reads, RFC 3261 section 8.2.6).
 */
export function parseMessage(data: Buffer | string, opts?: ParseOptions): SipRequest | SipResponse {
  const max = opts?.maxBytes ?? Infinity;
  const maxUri = opts?.maxRequestUriBytes ?? Infinity;
  const maxHeaders = opts?.maxHeaders ?? Infinity;
  const maxLine = opts?.maxHeaderLineBytes ?? Infinity;
  const maxVias = opts?.maxVias ?? Infinity;
  const maxBody = opts?.maxBodyBytes ?? Infinity;
  if (data.length > max) {
    throw new SipParseError(
      SipErrorCode.TOO_LARGE,
      `message of ${data.length} bytes exceeds ${max}`,
      413,
    );
  }
  const text = typeof data === 'string' ? data : data.toString('latin1');
  const n = text.length;

  // RFC 3261 section 7.5: "ignore any CRLF appearing before the start-line"
  let pos = 0;
  while (pos < n && (text.charCodeAt(pos) === 13 || text.charCodeAt(pos) === 10)) pos++;
  if (pos >= n) throw new SipParseError(SipErrorCode.EMPTY, 'empty message');
  const lf = text.indexOf('\n', pos);
  if (lf < 0) throw new SipParseError(SipErrorCode.TRUNCATED, 'no end of start line');
  const lineEnd = text.charCodeAt(lf - 1) === 13 ? lf - 1 : lf;

  // ---- start line (RFC 3261 sections 7.1, 7.2) ----
  let msg: SipRequest | SipResponse;
  let deferred: SipParseError | undefined; // request start-line faults: still parse headers to answer them
  const sp1 = text.indexOf(' ', pos);
  if (sp1 < 0 || sp1 >= lineEnd) {
    throw new SipParseError(SipErrorCode.START_LINE, 'start line has no SP');
  }
  if (text.startsWith('SIP/', pos) && looksLikeVersion(text.slice(pos, sp1))) {
    // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase; RFC 4475 3.1.1.13 asks to accept an
    // empty Reason-Phrase, and we also accept the missing SP before it.
    if (!isSip20(text, pos, sp1)) {
      throw new SipParseError(
        SipErrorCode.VERSION,
        `unsupported version ${text.slice(pos, sp1)}`,
        505,
      );
    }
    const cs = sp1 + 1;
    const ce = scan(text, cs, DIGIT_TABLE);
    const code = Number(text.slice(cs, ce));
    if (ce - cs !== 3 || code < 100 || code > 699 || (ce < lineEnd && text.charCodeAt(ce) !== 32)) {
      throw new SipParseError(SipErrorCode.START_LINE, 'bad Status-Code');
    }
    msg = new SipResponse(code, ce < lineEnd ? text.slice(ce + 1, lineEnd) : '');
  } else {
    // Request-Line = Method SP Request-URI SP SIP-Version CRLF: exactly two single SPs (RFC 4475 3.1.2.9,
    // 3.1.2.10)
    const method = text.slice(pos, sp1);
    if (scan(method, 0, TOKEN) !== method.length) {
      throw new SipParseError(SipErrorCode.START_LINE, 'bad method');
    }
    const sp2 = text.lastIndexOf(' ', lineEnd - 1);
    const uri = text.slice(sp1 + 1, sp2 > sp1 ? sp2 : lineEnd);
    const version = sp2 > sp1 ? text.slice(sp2 + 1, lineEnd) : '';
    msg = new SipRequest(method, uri);
    if (uri.length > maxUri) {
      deferred = new SipParseError(
        SipErrorCode.LIMIT,
        `Request-URI of ${uri.length} bytes exceeds ${maxUri}`,
        414,
      );
    } else if (!looksLikeVersion(version)) {
      deferred = new SipParseError(SipErrorCode.START_LINE, 'bad Request-Line');
    } else if (!isSip20(version, 0, version.length)) {
      deferred = new SipParseError(SipErrorCode.VERSION, `unsupported version ${version}`, 505);
    } else {
      const why = badRequestUri(uri);
      if (why !== undefined) deferred = new SipParseError(SipErrorCode.START_LINE, why);
    }
  }
  msg.markParsed();

  // ---- header fields (RFC 3261 section 7.3) ----
  const fields: HeaderField[] = [];
  let i = lf + 1;
  let bodyStart = -1;
  let contentLength = -1;
  let vias = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 10) {
      bodyStart = i + 1;
      break;
    }
    if (c === 13 && text.charCodeAt(i + 1) === 10) {
      bodyStart = i + 2;
      break;
    }
    let e = text.indexOf('\n', i);
    if (e < 0) break;
    // continuation lines (header folding): LWS = [*WSP CRLF] 1*WSP
    let folded = false;
    while (e + 1 < n && isWs(text.charCodeAt(e + 1))) {
      folded = true;
      e = text.indexOf('\n', e + 1);
      if (e < 0) break;
    }
    if (e < 0) break;
    if (e + 1 - i > maxLine) {
      deferred ??= new SipParseError(
        SipErrorCode.LIMIT,
        `a header field of ${e + 1 - i} bytes exceeds ${maxLine}`,
      );
    }
    const ne = scan(text, i, TOKEN);
    if (ne === i) throw new SipParseError(SipErrorCode.HEADER, 'malformed header line');
    // HCOLON = *( SP / HTAB ) ":" SWS: whitespace never crosses the line end, so the colon is in it
    let colon = ne;
    while (isWs(text.charCodeAt(colon))) colon++;
    if (text.charCodeAt(colon) !== 58) {
      throw new SipParseError(
        SipErrorCode.HEADER,
        colon < e && text.indexOf(':', colon) < e
          ? 'malformed header name'
          : 'malformed header line',
      );
    }
    let value: string;
    if (folded)
      value = text
        .slice(colon + 1, e + 1)
        .replace(FOLD, ' ')
        .trim();
    else {
      // trim by index and slice once: slice + trim() would allocate two strings per header line
      let vs = colon + 1;
      let ve = e;
      while (vs < ve && isTrimmed(text.charCodeAt(vs))) vs++;
      while (ve > vs && isTrimmed(text.charCodeAt(ve - 1))) ve--;
      value = text.slice(vs, ve);
    }
    // RFC 3261 section 7.3.1: CR only ends a line or folds one. A bare CR kept in a value would make the
    // request unanswerable (builders refuse CR/LF) and could split a line at a lenient next hop.
    if (value.includes('\r'))
      throw new SipParseError(SipErrorCode.HEADER, 'bare CR in a header field');
    // the common header names map to interned strings without slicing or lower-casing (headers.ts)
    let name: string;
    let key: string;
    if (knownHeader(text, i, ne)) {
      key = knownMatch.key;
      name = knownMatch.name !== '' ? knownMatch.name : text.slice(i, ne);
    } else {
      name = text.slice(i, ne);
      key = headerKey(name);
    }
    if (key === 'content-length') {
      let cl: number;
      try {
        cl = parseContentLength(value);
      } catch (err) {
        deferred ??= err as SipParseError;
        cl = 0;
      }
      // RFC 4475 3.3.9: two different Content-Length values leave the framing undecidable
      if (contentLength >= 0 && cl !== contentLength) {
        deferred ??= new SipParseError(SipErrorCode.CONTENT_LENGTH, 'conflicting Content-Length');
      }
      contentLength = cl;
    }
    // a native indexOf first: most Via fields hold one value
    if (key === 'via' && (vias += value.includes(',') ? countListValues(value) : 1) > maxVias) {
      deferred ??= new SipParseError(SipErrorCode.LIMIT, `more than ${maxVias} Via values`);
    }
    fields.push({ key, name, value, start: i, end: e + 1 });
    if (fields.length > maxHeaders) {
      deferred ??= new SipParseError(SipErrorCode.LIMIT, `more than ${maxHeaders} header fields`);
    }
    i = e + 1;
  }
  if (bodyStart < 0) throw new SipParseError(SipErrorCode.TRUNCATED, 'no empty line after headers');

  // ---- body (RFC 3261 sections 7.4, 18.3) ----
  const available = n - bodyStart;
  let bodyEnd = n;
  if (contentLength >= 0) {
    if (contentLength > available) {
      deferred ??= new SipParseError(
        SipErrorCode.CONTENT_LENGTH,
        `Content-Length ${contentLength} exceeds the ${available} bytes received`,
      );
      bodyEnd = bodyStart;
    } else bodyEnd = bodyStart + contentLength;
  }
  const bodyLength = contentLength >= 0 ? contentLength : bodyEnd - bodyStart;
  if (bodyLength > maxBody) {
    // Wins over any earlier fault: a declared length over the limit is answered 413 whether or not the
    // bytes came, so a peer announcing a huge body learns why.
    deferred = new SipParseError(
      SipErrorCode.TOO_LARGE,
      `body of ${bodyLength} bytes exceeds ${maxBody}`,
      413,
    );
  }
  // most messages of a call have no body: they share one empty Buffer instead of a view each
  const body =
    bodyEnd === bodyStart
      ? NO_BODY
      : typeof data === 'string'
        ? Buffer.from(text.slice(bodyStart, bodyEnd), 'latin1')
        : data.subarray(bodyStart, bodyEnd);
  const source =
    typeof data === 'string'
      ? { text, startLineStart: pos, startLineEnd: lf + 1 }
      : { text, bytes: data, startLineStart: pos, startLineEnd: lf + 1 };
  SipMessage.init(msg, fields, source, body);

  // ---- headers every element relies on (RFC 3261 section 8.1.1, 8.2.2) ----
  try {
    if (deferred !== undefined) throw deferred;
    checkCore(msg);
  } catch (err) {
    // RFC 3261 section 8.2.6: even when Via, From, To, Call-ID or CSeq is unusable the request can be
    // answered over the path it came on, copying what is readable: hand it to the caller.
    if (err instanceof SipParseError && err.request === undefined && msg instanceof SipRequest) {
      throw Object.assign(new SipParseError(err.code as SipErrorCode, err.message, err.status), {
        request: msg,
      });
    }
    throw err;
  }
  return msg;
}

const DIGIT_TABLE = new Uint8Array(256).fill(1, 48, 58);
const NO_BODY = Buffer.alloc(0);

/** Parses (and caches) the routing headers; throws the first fault. */
function checkCore(msg: SipRequest | SipResponse): void {
  void msg.topVia;
  if (msg.topVia === undefined)
    throw new SipParseError(SipErrorCode.MISSING_HEADER, 'missing Via header');
  void msg.from;
  void msg.to;
  void msg.callId;
  const cseq = msg.cseq;
  msg.checkVias(); // every Via must parse; only the top one is built
  void msg.maxForwards;
  if (msg instanceof SipRequest) {
    // RFC 4475 3.1.2.17/18: the CSeq method must match the Request-Line method
    if (cseq.method !== msg.method) {
      throw new SipParseError(
        SipErrorCode.CSEQ_MISMATCH,
        'CSeq method differs from the request method',
      );
    }
    // RFC 3261 section 19.1.1 table 1: headers are not allowed in a Request-URI (RFC 4475 3.1.2.11). A '?'
    // after the userinfo starts them ('?' is a legal user char); the full URI parse stays lazy.
    const uri = msg.uri;
    const scheme = uri.slice(0, 5).toLowerCase();
    const sip = scheme.startsWith('sip:') || scheme === 'sips:';
    if (sip && uri.indexOf('?', uri.indexOf('@') + 1) >= 0) {
      throw new SipParseError(SipErrorCode.URI, 'headers are not allowed in a Request-URI');
    }
  }
}

/** Values in one comma-separated header value: commas outside double quotes, plus one. */
function countListValues(value: string): number {
  let count = 1;
  if (!value.includes('"')) {
    for (let j = value.indexOf(','); j >= 0; j = value.indexOf(',', j + 1)) count++;
    return count;
  }
  let quoted = false;
  for (let j = 0; j < value.length; j++) {
    const c = value.charCodeAt(j);
    if (c === 34) quoted = !quoted;
    else if (c === 92 && quoted) j++;
    else if (c === 44 && !quoted) count++;
  }
  return count;
}
