/**
 * Stream framing for SIP over TCP (RFC 3261 section 18.3, RFC 5626 section 3.5.1).
 *
 * Deliberately independent of the SIP parser: it only scans for the end of the header section and the
 * Content-Length (or compact `l`) header, case-insensitively, so a frame can be cut before any parsing.
 */
import { TransportErrorCode } from './errors.js';

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;
const HEADER_END = Buffer.from('\r\n\r\n', 'latin1');
/** "content-length" in lower case, compared byte-wise with `| 0x20` folding. */
const CONTENT_LENGTH = Buffer.from('content-length', 'latin1');
/** The double-CRLF keep-alive "ping" (RFC 5626 section 3.5.1), matched byte by byte. */
const PING = [CR, LF, CR, LF] as const;

export type FramingError =
  | typeof TransportErrorCode.FramingNoContentLength
  | typeof TransportErrorCode.FramingBadContentLength
  | typeof TransportErrorCode.MessageTooLarge;

export interface FramerEvents {
  /** One complete message: start line, headers, empty line and exactly Content-Length body bytes. */
  message(frame: Buffer): void;
  /** A double-CRLF ping arrived between messages; the owner answers with a single CRLF "pong". */
  ping(): void;
}

/**
 * Cuts a byte stream into SIP messages. One instance per connection; once `push` has returned an error
 * the stream is unusable (the owner drops it and closes the connection).
 */
export class StreamFramer {
  /** Unconsumed bytes (a partial message); undefined when the last chunk ended on a message boundary. */
  private pending: Buffer | undefined;
  /** Offset in `pending` from which to resume the header-end search (avoids rescanning a slow sender). */
  private scanFrom = 0;
  /** Total frame length once the headers of the pending message were parsed, else -1. */
  private frameLength = -1;
  /** How many bytes of PING matched so far among the CR/LF bytes between messages. */
  private pingMatched = 0;
  private failed = false;

  constructor(
    private readonly maxMessageBytes: number,
    private readonly events: FramerEvents,
  ) {}

  /** True while part of a message is buffered (the last chunk did not end on a message boundary). */
  get partial(): boolean {
    return this.pending !== undefined;
  }

  /** Feeds one chunk; returns the framing error that makes the rest of the stream unusable, if any. */
  push(chunk: Buffer): FramingError | undefined {
    if (this.failed) return undefined;
    let buf = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    let pos = 0;
    while (pos < buf.length) {
      if (this.frameLength < 0) {
        // RFC 3261 section 7.5: "Implementations processing SIP messages over stream-oriented
        // transports MUST ignore any CRLF appearing before the start-line".
        if (this.scanFrom === 0) {
          pos = this.skipCrlf(buf, pos);
          if (pos === buf.length) break;
        }
        const end = buf.indexOf(HEADER_END, Math.max(pos, pos + this.scanFrom - 3));
        if (end < 0) {
          if (buf.length - pos > this.maxMessageBytes)
            return this.fail(TransportErrorCode.MessageTooLarge);
          this.scanFrom = buf.length - pos;
          break;
        }
        const bodyLength = contentLength(buf, pos, end);
        if (typeof bodyLength === 'string') return this.fail(bodyLength);
        this.frameLength = end + HEADER_END.length - pos + bodyLength;
        this.scanFrom = 0;
        if (this.frameLength > this.maxMessageBytes) {
          return this.fail(TransportErrorCode.MessageTooLarge);
        }
      }
      if (buf.length - pos < this.frameLength) break;
      const frame = buf.subarray(pos, pos + this.frameLength);
      pos += this.frameLength;
      this.frameLength = -1;
      this.events.message(frame);
      if (this.failed) return undefined; // the message handler closed the connection
    }
    if (pos >= buf.length) {
      this.pending = undefined;
    } else {
      buf = pos === 0 ? buf : buf.subarray(pos);
      this.pending = buf;
    }
    return undefined;
  }

  /** Marks the stream dead (also used by the owner when it closes the connection mid-message). */
  stop(): void {
    this.failed = true;
    this.pending = undefined;
  }

  private fail(error: FramingError): FramingError {
    this.stop();
    return error;
  }

  /** Skips CR/LF between messages and answers each complete double-CRLF ping (even split over chunks). */
  private skipCrlf(buf: Buffer, pos: number): number {
    while (pos < buf.length) {
      const byte = buf[pos];
      if (byte !== CR && byte !== LF) {
        this.pingMatched = 0;
        return pos;
      }
      if (byte === PING[this.pingMatched]) {
        this.pingMatched++;
        if (this.pingMatched === PING.length) {
          this.pingMatched = 0;
          this.events.ping();
        }
      } else {
        this.pingMatched = byte === CR ? 1 : 0;
      }
      pos++;
    }
    return pos;
  }
}

/**
 * Finds the Content-Length (or compact `l`) value in the header section `buf[start, end)` (`end` is the
 * index of the CRLFCRLF). Returns the body length or the framing error. RFC 3261 section 18.3: on a
 * stream-oriented transport "the Content-Length header field MUST be used"; a missing one is an error
 * because the end of the message cannot be found.
 */
export function contentLength(buf: Buffer, start: number, end: number): number | FramingError {
  let found = -1;
  // The first line is the start line; header lines begin after each CRLF up to `end` (inclusive: the
  // CRLF at `end` ends the last header line).
  let line = buf.indexOf(LF, start) + 1;
  while (line > 0 && line <= end) {
    const valueAt = headerValueStart(buf, line, end);
    if (valueAt >= 0) {
      const value = parseDecimal(buf, valueAt, end);
      if (value < 0 || (found >= 0 && found !== value)) {
        return TransportErrorCode.FramingBadContentLength;
      }
      found = value;
    }
    line = buf.indexOf(LF, line) + 1;
  }
  return found < 0 ? TransportErrorCode.FramingNoContentLength : found;
}

/** If the line at `line` is a Content-Length / `l` header, the index just after its colon, else -1. */
function headerValueStart(buf: Buffer, line: number, end: number): number {
  let i = line;
  const first = buf[i];
  if (first === undefined) return -1;
  if ((first | 0x20) === 0x6c /* l */ && !isTokenAfterL(buf[i + 1])) {
    i += 1;
  } else {
    if (i + CONTENT_LENGTH.length > end) return -1;
    for (let k = 0; k < CONTENT_LENGTH.length; k++) {
      if (((buf[i + k] as number) | 0x20) !== CONTENT_LENGTH[k]) return -1;
    }
    i += CONTENT_LENGTH.length;
  }
  // RFC 3261 section 7.3.1: "any amount of whitespace" may precede the colon.
  while (buf[i] === SP || buf[i] === HTAB) i++;
  return buf[i] === COLON ? i + 1 : -1;
}

/** After a leading `l`, is the next byte still part of a longer header name (e.g. "Location")? */
function isTokenAfterL(byte: number | undefined): boolean {
  return byte !== undefined && byte !== SP && byte !== HTAB && byte !== COLON;
}

/** Parses `LWS 1*DIGIT LWS` up to the CRLF; -1 when malformed. Caps at 10 digits (no overflow). */
function parseDecimal(buf: Buffer, from: number, end: number): number {
  let i = skipLws(buf, from);
  let value = 0;
  let digits = 0;
  for (; i < end + 2; i++) {
    const byte = buf[i] as number;
    if (byte < 0x30 || byte > 0x39) break;
    value = value * 10 + (byte - 0x30);
    if (++digits > 10) return -1;
  }
  i = skipLws(buf, i);
  return digits > 0 && buf[i] === CR ? value : -1;
}

/** RFC 3261 section 7.3.1 linear whitespace, including a folded line (CRLF followed by SP / HTAB). */
function skipLws(buf: Buffer, from: number): number {
  let i = from;
  for (;;) {
    if (buf[i] === SP || buf[i] === HTAB) i++;
    else if (buf[i] === CR && buf[i + 1] === LF && (buf[i + 2] === SP || buf[i + 2] === HTAB))
      i += 3;
    else return i;
  }
}
