// SIP messages (RFC 3261 section 7): header fields kept as split lines, routing headers parsed on first
// read and cached, and a serialiser that copies untouched lines byte-for-byte.
import { SipErrorCode, SipParseError, fail } from './errors.js';
import { isBlank, listValueEnd, splitList } from './grammar.js';
import { headerKey, isListHeader, newField } from './headers.js';
import type { HeaderField } from './headers.js';
import { parseNameAddrLazy } from './name-addr.js';
import type { NameAddr } from './name-addr.js';
import { checkCallId, parseBoundedInt, parseCSeq, parseMaxForwards } from './scalars.js';
import type { CSeq } from './scalars.js';
import { parseUri } from './uri.js';
import type { SipUri } from './uri.js';
import { checkVia, parseVia, stampVia, viaWithBranch } from './via.js';
import type { Via } from './via.js';

declare module './errors.js' {
  interface SipParseError {
    /**
     * Set when the input is a request whose start line and header block could be split: the caller can
     * answer it with `status` over the path it came on. Its Via, From, To, Call-ID or CSeq may be
     * unreadable (that can be the fault): copy the readable ones (RFC 3261 section 8.2.6).
     */
    readonly request?: SipRequest;
  }
}

/** Where a parsed message came from; absent for messages built in code. */
export interface MessageSource {
  /** The whole input decoded as latin1 (one char per byte). */
  readonly text: string;
  /** The input itself when it came as a Buffer (same offsets as `text`): toBuffer copies from it. */
  readonly bytes?: Buffer;
  /** Range of the start line incl. its line terminator. */
  readonly startLineStart: number;
  readonly startLineEnd: number;
}

const EMPTY = Buffer.alloc(0);
const CRLF = '\r\n';

const CONTENT_LENGTH_PREFIX = 'Content-Length: ';
const NO_SOURCE: MessageSource = { text: '', startLineStart: 0, startLineEnd: 0 };

/**
 * Copies the input's bytes [from, to) to out at pos; returns the position after them. Like `body` (a view of
 * the input), this relies on the caller not reusing the input Buffer: transports hand over fresh ones.
 */
function copySource(
  src: MessageSource,
  out: Buffer,
  pos: number,
  from: number,
  to: number,
): number {
  const bytes = src.bytes;
  if (bytes === undefined) return pos + out.write(src.text.slice(from, to), pos, 'latin1');
  // Buffer#copy costs a native call and a view per call: a plain loop is cheaper for a line or two
  if (to - from > SHORT_COPY) return pos + bytes.copy(out, pos, from, to);
  for (let j = from; j < to; j++) out[pos++] = bytes[j] as number;
  return pos;
}

/** `fields.splice(at, 0, field)` without the array of removed elements splice returns. */
function insertAt(fields: HeaderField[], at: number, field: HeaderField): void {
  fields.push(field);
  for (let j = fields.length - 1; j > at; j--) fields[j] = fields[j - 1] as HeaderField;
  fields[at] = field;
}

/** `fields.splice(at, 1)` without the array splice returns. */
function removeAt(fields: HeaderField[], at: number): void {
  for (let j = at; j < fields.length - 1; j++) fields[j] = fields[j + 1] as HeaderField;
  fields.pop();
}

/** Up to this many bytes a JS loop beats Buffer#copy (Node 20, parse bench). */
const SHORT_COPY = 64;

/** Writes `name: value CRLF` (latin1, one byte per char as everywhere else) at pos. */
function writeLine(out: Buffer, pos: number, name: string, value: string): number {
  pos = writeLatin1(out, pos, name);
  out[pos++] = 58; // ':'
  out[pos++] = 32;
  pos = writeLatin1(out, pos, value);
  out[pos++] = 13;
  out[pos++] = 10;
  return pos;
}

/** Writes s as latin1 at pos: a plain loop up to SHORT_COPY chars, like copySource, else Buffer#write. */
function writeLatin1(out: Buffer, pos: number, s: string): number {
  if (s.length > SHORT_COPY) return pos + out.write(s, pos, 'latin1');
  for (let j = 0; j < s.length; j++) out[pos++] = s.charCodeAt(j) & 255;
  return pos;
}

/** RFC 3261 section 20.17: rfc1123-date = wkday "," SP date1 SP time SP "GMT" */
const RFC1123_DATE =
  /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$/;

export abstract class SipMessage {
  body: Buffer = EMPTY;
  /** @internal header fields in message order; fields are immutable, mutators replace them */
  protected fields: HeaderField[] = [];
  /** @internal */
  protected source: MessageSource | undefined;

  // Lazily parsed routing headers; `undefined` = not parsed yet. Mutators reset the ones they touch.
  protected cVias: Via[] | undefined;
  protected cTopVia: Via | null | undefined;
  private cCallId: string | undefined;
  private cCSeq: CSeq | undefined;
  private cFrom: NameAddr | undefined;
  private cTo: NameAddr | undefined;
  private cMaxForwards: number | null | undefined;
  private cRoutes: NameAddr[] | undefined;
  private cRecordRoutes: NameAddr[] | undefined;
  private cContacts: NameAddr[] | undefined;

  /** @internal used by the parser */
  static init(msg: SipMessage, fields: HeaderField[], source: MessageSource, body: Buffer): void {
    msg.fields = fields;
    msg.source = source;
    msg.body = body;
  }

  /** The start line without its line terminator. */
  protected abstract renderStartLine(): string;
  /** True if the start line differs from the parsed one (or there is none). */
  protected abstract startLineChanged(): boolean;

  // ---- raw header access (RFC 3261 section 7.3) ----

  /** Every header field in message order (for logging, tracing and tests); edit through the mutators. */
  headerFields(): readonly HeaderField[] {
    return this.fields;
  }

  /** Raw value of the first field with that name (case-insensitive, compact forms equivalent). */
  getHeader(name: string): string | undefined {
    const key = headerKey(name);
    for (const f of this.fields) if (f.key === key) return f.value;
    return undefined;
  }

  /** All values; comma-separated lists are split (respecting quotes and <>), empty elements dropped. */
  getHeaders(name: string): string[] {
    const key = headerKey(name);
    const list = isListHeader(key);
    const out: string[] = [];
    for (const f of this.fields) {
      if (f.key !== key) continue;
      if (!list || !f.value.includes(',')) {
        if (f.value !== '' || !list) out.push(f.value);
        continue;
      }
      for (const v of splitList(f.value)) if (v !== '') out.push(v);
    }
    return out;
  }

  /** How many values {@link getHeaders} returns, without building them. */
  valueCount(name: string): number {
    const key = headerKey(name);
    const list = isListHeader(key);
    let count = 0;
    for (const f of this.fields) {
      if (f.key !== key) continue;
      if (!list) {
        count++;
        continue;
      }
      const value = f.value;
      for (let at = 0; at <= value.length;) {
        const end = listValueEnd(value, at);
        if (!isBlank(value, at, end)) count++;
        at = end + 1;
      }
    }
    return count;
  }

  hasHeader(name: string): boolean {
    const key = headerKey(name);
    for (const f of this.fields) if (f.key === key) return true;
    return false;
  }

  /** Replaces every field of that name by one, at the position of the first (or at the end). */
  setHeader(name: string, value: string): void {
    const field = newField(name, value);
    const fields = this.fields;
    let at = -1;
    let count = 0;
    for (let j = 0; j < fields.length; j++) {
      if ((fields[j] as HeaderField).key !== field.key) continue;
      if (at < 0) at = j;
      count++;
    }
    // the usual case (Max-Forwards, Content-Type): one field replaced in place, no new array
    if (count === 1) fields[at] = field;
    else if (count === 0) fields.push(field);
    else {
      const kept = fields.filter((f, j) => j === at || f.key !== field.key);
      kept[at] = field;
      this.fields = kept;
    }
    this.invalidate(field.key);
  }

  /** Adds a field before the first field of that name, or before the first header line if none. */
  prependHeader(name: string, value: string): void {
    const field = newField(name, value);
    const fields = this.fields;
    let at = 0;
    for (let j = 0; j < fields.length; j++) {
      if ((fields[j] as HeaderField).key === field.key) {
        at = j;
        break;
      }
    }
    insertAt(fields, at, field);
    this.invalidate(field.key);
  }

  /** Adds a field after the last field of that name, or at the end. */
  appendHeader(name: string, value: string): void {
    const field = newField(name, value);
    let at = this.fields.length;
    for (let j = this.fields.length - 1; j >= 0; j--) {
      if (this.fields[j]?.key === field.key) {
        at = j + 1;
        break;
      }
    }
    insertAt(this.fields, at, field);
    this.invalidate(field.key);
  }

  /** Removes all fields of that name; returns how many there were. */
  removeHeader(name: string): number {
    const key = headerKey(name);
    const before = this.fields.length;
    this.fields = this.fields.filter((f) => f.key !== key);
    const removed = before - this.fields.length;
    if (removed > 0) this.invalidate(key);
    return removed;
  }

  /**
   * Pops the first value of a possibly comma-listed header (Via pop in RFC 3261 section 16.7 step 3, Route
   * pop in 16.4): the field is removed if it held one value, else re-rendered with the remaining ones.
   */
  removeFirstValue(name: string): string | undefined {
    const key = headerKey(name);
    const fields = this.fields;
    let at = 0;
    while (at < fields.length && (fields[at] as HeaderField).key !== key) at++;
    const field = fields[at];
    if (field === undefined) return undefined;
    this.invalidate(key);
    // the usual case (our Via on a response, one Route per field): the field goes, nothing is split
    const value = field.value;
    const end = isListHeader(key) ? listValueEnd(value, 0) : value.length;
    if (end === value.length) {
      removeAt(fields, at);
      return value;
    }
    // a list written on one line (sipp's [last_Via:] echoes it so): the first element comes off
    const kept = splitList(value.slice(end + 1)).filter((p) => p !== '');
    if (kept.length === 0) removeAt(fields, at);
    else fields[at] = { ...newField(field.name, kept.join(', ')), name: field.name };
    return value.slice(0, end).trim();
  }

  private invalidate(key: string): void {
    switch (key) {
      case 'via':
        this.cVias = undefined;
        this.cTopVia = undefined;
        break;
      case 'call-id':
        this.cCallId = undefined;
        break;
      case 'cseq':
        this.cCSeq = undefined;
        break;
      case 'from':
        this.cFrom = undefined;
        break;
      case 'to':
        this.cTo = undefined;
        break;
      case 'max-forwards':
        this.cMaxForwards = undefined;
        break;
      case 'route':
        this.cRoutes = undefined;
        break;
      case 'record-route':
        this.cRecordRoutes = undefined;
        break;
      case 'contact':
        this.cContacts = undefined;
        break;
    }
  }

  // ---- routing headers, parsed lazily and cached ----
  // Parsed values are snapshots: edit the message through the mutators above, e.g.
  // `msg.removeFirstValue('via'); msg.prependHeader('via', via.toString())`.

  /** Value of the only field with that key; RFC 3261 section 8.1.1 makes these mandatory and single. */
  private single(key: string, what: string): string {
    let found: string | undefined;
    for (const f of this.fields) {
      if (f.key !== key) continue;
      if (found !== undefined) fail(SipErrorCode.MISSING_HEADER, `more than one ${what} header`);
      found = f.value;
    }
    if (found === undefined) fail(SipErrorCode.MISSING_HEADER, `missing ${what} header`);
    return found;
  }

  get vias(): Via[] {
    if (this.cVias === undefined) {
      const vias: Via[] = [];
      for (const f of this.fields) {
        if (f.key !== 'via') continue;
        if (!f.value.includes(',')) vias.push(this.viaAt(vias.length, f.value));
        else for (const v of splitList(f.value)) vias.push(this.viaAt(vias.length, v));
      }
      this.cVias = vias;
      this.cTopVia = vias[0] ?? null;
    }
    return this.cVias;
  }

  /** The top one is usually parsed already (hot path): reuse it. */
  private viaAt(index: number, value: string): Via {
    return index === 0 && this.cTopVia ? this.cTopVia : parseVia(value);
  }

  /**
   * @internal used by the parser: checks every Via value like `vias` does, without building (or caching)
   * Via objects for the ones below the top: a response relayed upstream only ever needs the top Via.
   */
  checkVias(): void {
    if (this.cVias !== undefined) return;
    let top = true;
    for (const f of this.fields) {
      if (f.key !== 'via') continue;
      const value = f.value;
      for (let at = 0; ;) {
        const end = listValueEnd(value, at);
        if (!top) checkVia(at === 0 && end === value.length ? value : value.slice(at, end).trim());
        top = false;
        if (end >= value.length) break;
        at = end + 1;
      }
    }
  }

  /** The top Via; parses only the first via-parm unless `vias` was read. */
  get topVia(): Via | undefined {
    if (this.cTopVia === undefined) {
      const value = this.getHeader('via');
      if (value === undefined) this.cTopVia = null;
      else {
        const end = listValueEnd(value, 0);
        this.cTopVia = parseVia(end === value.length ? value : value.slice(0, end).trim());
      }
    }
    return this.cTopVia ?? undefined;
  }

  get callId(): string {
    return (this.cCallId ??= checkCallId(this.single('call-id', 'Call-ID')));
  }

  get cseq(): CSeq {
    return (this.cCSeq ??= parseCSeq(this.single('cseq', 'CSeq')));
  }

  get from(): NameAddr {
    return (this.cFrom ??= parseNameAddrLazy(this.single('from', 'From')));
  }

  get to(): NameAddr {
    return (this.cTo ??= parseNameAddrLazy(this.single('to', 'To')));
  }

  /** undefined when absent (a proxy then adds one, RFC 3261 section 16.6 step 3). */
  get maxForwards(): number | undefined {
    if (this.cMaxForwards === undefined) {
      const value = this.getHeader('max-forwards');
      this.cMaxForwards = value === undefined ? null : parseMaxForwards(value);
    }
    return this.cMaxForwards ?? undefined;
  }

  get routes(): NameAddr[] {
    return (this.cRoutes ??= this.getHeaders('route').map(parseNameAddrLazy));
  }

  get recordRoutes(): NameAddr[] {
    return (this.cRecordRoutes ??= this.getHeaders('record-route').map(parseNameAddrLazy));
  }

  /** Contact values; the REGISTER wildcard `Contact: *` yields no entry (read it with getHeader). */
  get contacts(): NameAddr[] {
    return (this.cContacts ??= this.getHeaders('contact')
      .filter((v) => v !== '*')
      .map(parseNameAddrLazy));
  }

  /**
   * Strict check of the headers the lazy parser leaves alone: Route, Record-Route, Contact (with their
   * URIs), Date (RFC 4475 section 3.1.2.12) and Expires. parseMessage does not call it; a registrar or UA
   * that consumes those headers should.
   * @throws SipParseError
   */
  validate(): void {
    for (const a of [...this.routes, ...this.recordRoutes, ...this.contacts]) void a.uri;
    const date = this.getHeader('date');
    if (date !== undefined && !RFC1123_DATE.test(date))
      fail(SipErrorCode.HEADER, 'Date: bad format');
    const expires = this.getHeader('expires');
    if (expires !== undefined) parseBoundedInt(expires, 0xffffffff, 'Expires');
  }

  // ---- body ----

  /**
   * Replaces the body (strings are taken as latin1: pass a Buffer for UTF-8) and Content-Length; sets
   * Content-Type when given, and drops it when the body becomes empty without one.
   */
  setBody(body: Buffer | string, contentType?: string): void {
    this.body = typeof body === 'string' ? Buffer.from(body, 'latin1') : body;
    if (contentType !== undefined) this.setHeader('Content-Type', contentType);
    else if (this.body.length === 0) this.removeHeader('content-type');
    if (this.hasHeader('content-length'))
      this.setHeader('Content-Length', String(this.body.length));
  }

  // ---- serialisation ----

  /**
   * Untouched start line and header lines are copied byte-for-byte from the input; changed or new fields
   * are rendered as `Name: value`. Content-Length always matches the body (RFC 3261 section 18.3: it MUST
   * be present on stream transports), so it is added when missing.
   * @param keep the caller holds the bytes for longer than this tick (a transaction's copy for
   *   retransmissions): they get an allocation of their own. Otherwise they are a slice of Node's
   *   shared 8 KiB pool, which one kept slice pins whole.
   */
  toBuffer(keep = false): Buffer {
    // fields with a byte range (start >= 0) only exist when there is a source
    const src = this.source ?? NO_SOURCE;
    const startLine =
      this.source !== undefined && !this.startLineChanged()
        ? undefined
        : this.renderStartLine() + CRLF;
    const bodyLength = String(this.body.length);
    const fields = this.fields;
    // Pass 1: the exact size, so the output is one pooled allocation. Untouched lines are then copied
    // as byte ranges of the input instead of being concatenated into a string and re-encoded: that
    // string (flattened, ~the message size) was most of the garbage of a relayed message.
    let size = startLine === undefined ? src.startLineEnd - src.startLineStart : startLine.length;
    let clDone = false;
    for (const f of fields) {
      if (f.key === 'content-length') {
        if (clDone) continue; // a duplicate (equal values only get past the parser)
        clDone = true;
        size +=
          f.start >= 0 && f.value === bodyLength
            ? f.end - f.start
            : f.name.length + 4 + bodyLength.length;
      } else size += f.start >= 0 ? f.end - f.start : f.name.length + f.value.length + 4;
    }
    if (!clDone) size += CONTENT_LENGTH_PREFIX.length + bodyLength.length + 2;
    size += 2 + this.body.length;

    // Pass 2: write, one copy per run of adjacent untouched lines.
    const out = keep ? Buffer.allocUnsafeSlow(size) : Buffer.allocUnsafe(size);
    let pos = 0;
    let runStart = -1;
    let runEnd = -1;
    if (startLine === undefined) {
      runStart = src.startLineStart;
      runEnd = src.startLineEnd;
    } else pos = out.write(startLine, 0, 'latin1');
    clDone = false;
    for (const f of fields) {
      let value = f.value;
      if (f.key === 'content-length') {
        if (clDone) continue;
        clDone = true;
        value = bodyLength;
      }
      if (f.start >= 0 && value === f.value) {
        if (f.start !== runEnd) {
          if (runStart >= 0) pos = copySource(src, out, pos, runStart, runEnd);
          runStart = f.start;
        }
        runEnd = f.end;
        continue;
      }
      if (runStart >= 0) {
        pos = copySource(src, out, pos, runStart, runEnd);
        runStart = runEnd = -1;
      }
      pos = writeLine(out, pos, f.name, value);
    }
    if (runStart >= 0) pos = copySource(src, out, pos, runStart, runEnd);
    if (!clDone) pos = writeLine(out, pos, 'Content-Length', bodyLength);
    out[pos++] = 13;
    out[pos++] = 10;
    this.body.copy(out, pos);
    return out;
  }

  toString(): string {
    return this.toBuffer().toString('latin1');
  }

  /** Independent deep copy (for forking): own header list and body, parsed caches rebuilt on demand. */
  clone(): this {
    const copy = Object.create(Object.getPrototypeOf(this) as object) as this;
    Object.assign(copy, this);
    copy.fields = this.fields.slice();
    if (this.body.length > 0) copy.body = Buffer.from(this.body);
    copy.cVias = copy.cTopVia = undefined;
    copy.cCallId = undefined;
    copy.cCSeq = undefined;
    copy.cFrom = copy.cTo = undefined;
    copy.cMaxForwards = undefined;
    copy.cRoutes = copy.cRecordRoutes = copy.cContacts = undefined;
    copy.afterClone();
    return copy;
  }

  /** Lets subclasses drop their own caches in a clone. */
  protected afterClone(): void {}
}

export class SipRequest extends SipMessage {
  private origMethod: string | undefined;
  private origUri: string | undefined;
  private cUri: { text: string; uri: SipUri } | undefined;

  constructor(
    public method: string,
    public uri: string,
  ) {
    super();
  }

  /**
   * Pushes `prefix + branch` as the top Via (RFC 3261 section 16.6 step 8): `prefix` is a proxy's own
   * `SIP/2.0/UDP host:port;branch=`, parsed once for all the requests it goes on, so `topVia` is ready
   * without parsing the new value. Throws SipParseError for a prefix not ending with `;branch=` or a
   * branch that is not a token.
   */
  pushVia(prefix: string, branch: string): void {
    const { text, via } = viaWithBranch(prefix, branch);
    this.prependHeader('Via', text);
    this.cTopVia = via;
  }

  /**
   * Sets `received` and/or the `rport` value of the top Via (RFC 3261 section 18.2.1, RFC 3581 section
   * 4), keeping every other byte of it: a parameter present is set in place, a new one goes last. The
   * other Via values stay as received, and the top Via is not parsed again. No-op without a Via.
   */
  stampTopVia(received: string | undefined, rport: number | undefined): void {
    const via = this.topVia;
    if (via === undefined) return;
    const fields = this.fields;
    let at = 0;
    while ((fields[at] as HeaderField).key !== 'via') at++;
    const value = (fields[at] as HeaderField).value;
    const end = listValueEnd(value, 0);
    const stamped = stampVia(
      end === value.length ? value : value.slice(0, end).trim(),
      via,
      received,
      rport,
    );
    if (end === value.length) fields[at] = newField('Via', stamped.text);
    else {
      this.removeFirstValue('via');
      this.prependHeader('Via', stamped.text);
    }
    this.cVias = undefined;
    this.cTopVia = stamped.via;
  }

  /** @internal used by the parser: remember the start line as parsed, for verbatim output */
  markParsed(): void {
    this.origMethod = this.method;
    this.origUri = this.uri;
  }

  /**
   * The Request-URI, parsed on first read (re-parsed if `uri` changed).
   * @throws SipParseError 416 for schemes other than sip/sips/tel, 400 for malformed URIs
   */
  get parsedUri(): SipUri {
    if (this.cUri === undefined || this.cUri.text !== this.uri) {
      this.cUri = { text: this.uri, uri: parseUri(this.uri) };
    }
    return this.cUri.uri;
  }

  setUri(uri: string): void {
    if (uri.length === 0 || /[\s<>]/.test(uri)) {
      throw new SipParseError(SipErrorCode.URI, `invalid Request-URI ${JSON.stringify(uri)}`);
    }
    this.uri = uri;
  }

  protected renderStartLine(): string {
    return `${this.method} ${this.uri} SIP/2.0`;
  }

  protected startLineChanged(): boolean {
    return this.method !== this.origMethod || this.uri !== this.origUri;
  }

  protected override afterClone(): void {
    this.cUri = undefined;
  }
}

export class SipResponse extends SipMessage {
  private origStatus: number | undefined;
  private origReason: string | undefined;

  constructor(
    public status: number,
    public reason: string,
  ) {
    super();
  }

  /** @internal used by the parser */
  markParsed(): void {
    this.origStatus = this.status;
    this.origReason = this.reason;
  }

  protected renderStartLine(): string {
    return `SIP/2.0 ${this.status} ${this.reason}`;
  }

  protected startLineChanged(): boolean {
    return this.status !== this.origStatus || this.reason !== this.origReason;
  }
}
