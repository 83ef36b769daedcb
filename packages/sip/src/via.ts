// Via header field values (RFC 3261 sections 18.2, 20.42; grammar in 25.1; rport from RFC 3581).
import { SipErrorCode, fail } from './errors.js';
import {
  DIGITS,
  HOST,
  IPV6,
  PARAM_ABSENT,
  PARAM_FLAG,
  PICKED,
  TOKEN,
  isWs,
  parseGenericParams,
  pickedValue,
  renderParams,
  scanGenericParams,
  scan,
  skipWs,
} from './grammar.js';

export interface Via {
  /** 'SIP/2.0' */
  protocol: string;
  /** Upper case: 'UDP' | 'TCP' | 'TLS' | 'SCTP' | 'WS' | ... */
  transport: string;
  host: string;
  port?: number;
  branch?: string;
  received?: string;
  /** null = present without value (RFC 3581 request for symmetric response routing). */
  rport?: number | null;
  /** All params including branch/received/rport, keys lower-cased, values as written. */
  params: Map<string, string | null>;
  toString(): string;
}

class ViaValue implements Via {
  declare port?: number;
  declare branch?: string;
  declare received?: string;
  declare rport?: number | null;
  /** Built on first read of `params` from via-params text that parseVia already checked. */
  #params: Map<string, string | null> | undefined;
  #paramsText = '';
  #paramsAt = 0;
  constructor(
    public protocol: string,
    public transport: string,
    public host: string,
  ) {}

  /** @internal where the via-params start, for the lazy `params` map. */
  setParamsSource(text: string, at: number): void {
    this.#paramsText = text;
    this.#paramsAt = at;
  }

  /** @internal where the via-params start in `text`, or -1 when this Via was not parsed from it. */
  paramsAtIn(text: string): number {
    return this.#paramsText === text ? this.#paramsAt : -1;
  }

  /** @internal where the via-params start in the text this Via was parsed from. */
  paramsAt(): number {
    return this.#paramsAt;
  }

  get params(): Map<string, string | null> {
    if (this.#params === undefined) {
      this.#params = new Map();
      parseGenericParams(this.#paramsText, this.#paramsAt, this.#params, 'Via');
    }
    return this.#params;
  }
  set params(map: Map<string, string | null>) {
    this.#params = map;
  }

  /** Renders with the typed fields written back into `params` (so setting `received` is enough). */
  toString(): string {
    sync(this.params, 'branch', this.branch);
    sync(this.params, 'received', this.received);
    sync(
      this.params,
      'rport',
      this.rport === undefined ? undefined : this.rport === null ? null : String(this.rport),
    );
    const port = this.port === undefined ? '' : ':' + this.port;
    return `${this.protocol}/${this.transport} ${this.host}${port}${renderParams(this.params)}`;
  }
}

function sync(
  params: Map<string, string | null>,
  key: string,
  value: string | null | undefined,
): void {
  if (value === undefined) params.delete(key);
  else if (params.get(key) !== value) params.set(key, value);
}

/**
 * `text`, one via-parm that parsed as `via`, with `received` and/or the `rport` value set and every other
 * byte kept: a parameter present is set in place (the last one, which is the one parseVia reads), a new
 * one goes last, rport before received. The Via of the new text is built from `via`, not parsed again.
 */
export function stampVia(
  text: string,
  via: Via,
  received: string | undefined,
  rport: number | undefined,
): { text: string; via: Via } {
  let at = via instanceof ViaValue ? via.paramsAtIn(text) : -1;
  if (at < 0) at = (readVia(text, true) as ViaValue).paramsAtIn(text);
  scanGenericParams(text, at, 'Via', null, STAMP_PICK);
  const edits: Edit[] = [];
  let tail = '';
  if (received !== undefined && !stampParam(text, 0, received, edits))
    tail = ';received=' + received;
  if (rport !== undefined && !stampParam(text, 1, String(rport), edits)) {
    tail = ';rport=' + rport + tail;
  }
  if (edits.length === 2 && (edits[0] as Edit).from > (edits[1] as Edit).from) edits.reverse();
  let out = '';
  let from = 0;
  for (const edit of edits) {
    out += text.slice(from, edit.from) + edit.text;
    from = edit.to;
  }
  out += text.slice(from) + tail;

  const stamped = new ViaValue(via.protocol, via.transport, via.host);
  if (via.port !== undefined) stamped.port = via.port;
  if (via.branch !== undefined) stamped.branch = via.branch;
  const stampedReceived = received ?? via.received;
  if (stampedReceived !== undefined) stamped.received = stampedReceived;
  const stampedRport = rport ?? via.rport;
  if (stampedRport !== undefined) stamped.rport = stampedRport;
  stamped.setParamsSource(out, at);
  return { text: out, via: stamped };
}

interface Edit {
  from: number;
  to: number;
  text: string;
}

/**
 * After scanGenericParams with STAMP_PICK: an edit setting pick[k]'s value (its value replaced, or
 * `=value` after a flag) goes to `edits`; false when the parameter is absent.
 */
function stampParam(text: string, k: number, value: string, edits: Edit[]): boolean {
  const vs = PICKED[2 * k] as number;
  if (vs === PARAM_ABSENT) return false;
  if (vs >= 0) edits.push({ from: vs, to: PICKED[2 * k + 1] as number, text: value });
  else {
    let ke = PICKED[2 * k + 1] as number; // after the name and the whitespace after it
    while (isWs(text.charCodeAt(ke - 1))) ke--;
    edits.push({ from: ke, to: ke, text: '=' + value });
  }
  return true;
}

/** Parsed Via prefixes of viaWithBranch (a proxy has one per listener); cleared when it grows past 64. */
const TEMPLATES = new Map<string, ViaValue>();
const BRANCH_PARAM = ';branch=';

/**
 * `prefix + branch` and its Via, the prefix parsed once: a proxy's own Via (RFC 3261 section 16.6 step
 * 8), `SIP/2.0/UDP host:port;branch=` and a new branch for each request.
 * @throws SipParseError when `prefix` does not end with `;branch=` or `branch` is not a token
 */
export function viaWithBranch(prefix: string, branch: string): { text: string; via: Via } {
  let template = TEMPLATES.get(prefix);
  if (template === undefined) {
    if (!prefix.endsWith(BRANCH_PARAM))
      fail(SipErrorCode.HEADER, 'Via prefix must end with ;branch=');
    template = readVia(prefix + 'z9hG4bK', true) as ViaValue;
    if (TEMPLATES.size >= 64) TEMPLATES.clear();
    TEMPLATES.set(prefix, template);
  }
  if (branch.length === 0 || scan(branch, 0, TOKEN) !== branch.length) {
    fail(SipErrorCode.HEADER, 'Via branch must be a token');
  }
  const text = prefix + branch;
  const via = new ViaValue(template.protocol, template.transport, template.host);
  if (template.port !== undefined) via.port = template.port;
  via.branch = branch;
  via.setParamsSource(text, template.paramsAt());
  return { text, via };
}

/** The via-params stampVia sets (pickedValue slots 0, 1). */
const STAMP_PICK = ['received', 'rport'] as const;

/** The via-params parseVia types (pickedValue slots 0, 1, 2). */
const VIA_PICK = ['branch', 'received', 'rport'] as const;

function readToken(s: string, i: number, what: string): number {
  const end = scan(s, i, TOKEN);
  if (end === i) fail(SipErrorCode.HEADER, `Via: missing ${what}`);
  return end;
}

/** SLASH = SWS "/" SWS */
function slash(s: string, i: number): number {
  i = skipWs(s, i);
  if (s.charCodeAt(i) !== 47) fail(SipErrorCode.HEADER, 'Via: expected "/" in sent-protocol');
  return skipWs(s, i + 1);
}

/**
 * Parses one via-parm: `sent-protocol LWS sent-by *( SEMI via-params )`. Whitespace is allowed around
 * every separator (RFC 4475 section 3.1.1.1 folds a Via across three lines).
 */
export function parseVia(text: string): Via {
  return readVia(text, true) as ViaValue;
}

/**
 * Checks one via-parm like parseVia, building nothing: parseMessage rejects a message with any malformed
 * Via, but a proxy reads only the top one of a response, so the others are checked without allocating.
 * @throws SipParseError
 */
export function checkVia(text: string): void {
  readVia(text, false);
}

/** Numeric value of the digits s[from, to) (at most 5, checked by the caller's length test). */
function digitsValue(s: string, from: number, to: number): number {
  let n = 0;
  for (let j = from; j < to; j++) n = n * 10 + s.charCodeAt(j) - 48;
  return n;
}

/** The grammar of parseVia; with `build` false it only validates (no slices, no ViaValue). */
function readVia(s: string, build: boolean): ViaValue | undefined {
  let i = skipWs(s, 0);
  const ns = i;
  let e = readToken(s, i, 'protocol name');
  const ne = e;
  i = slash(s, e);
  const vs = i;
  e = readToken(s, i, 'protocol version');
  const ve = e;
  i = slash(s, e);
  const ts = i;
  e = readToken(s, i, 'transport');
  const te = e;
  i = skipWs(s, e);
  if (i === e) fail(SipErrorCode.HEADER, 'Via: expected LWS before sent-by');
  const hs = i;
  if (s.charCodeAt(i) === 91 /* [ */) {
    i = scan(s, i + 1, IPV6);
    if (s.charCodeAt(i) !== 93) fail(SipErrorCode.HEADER, 'Via: bad IPv6 reference');
    i++;
  } else {
    i = scan(s, i, HOST);
  }
  if (i === hs) fail(SipErrorCode.HEADER, 'Via: missing sent-by host');
  const he = i;
  let port = -1;
  i = skipWs(s, i);
  if (s.charCodeAt(i) === 58 /* : */) {
    const ps = skipWs(s, i + 1);
    i = scan(s, ps, DIGITS);
    port = digitsValue(s, ps, i);
    if (i === ps || i - ps > 5 || port > 65535) fail(SipErrorCode.HEADER, 'Via: bad port');
  }
  scanGenericParams(s, i, 'Via', null, VIA_PICK);
  // rport = "rport" [EQUAL 1*DIGIT] (RFC 3581 section 3), checked in place from the picked range
  const rs = PICKED[4] as number;
  const re = PICKED[5] as number;
  if (rs >= 0 && (re - rs > 5 || scan(s, rs, DIGITS) !== re || digitsValue(s, rs, re) > 65535)) {
    fail(SipErrorCode.HEADER, 'Via: bad rport');
  }
  if (!build) return undefined;

  const name = s.slice(ns, ne);
  const version = s.slice(vs, ve);
  const via = new ViaValue(
    name === 'SIP' && version === '2.0' ? 'SIP/2.0' : `${name}/${version}`,
    s.slice(ts, te).toUpperCase(),
    s.slice(hs, he),
  );
  if (port >= 0) via.port = port;
  via.setParamsSource(s, i);
  const branch = pickedValue(s, 0);
  if (typeof branch === 'string') via.branch = branch;
  const received = pickedValue(s, 1);
  if (typeof received === 'string') via.received = received;
  if (rs === PARAM_FLAG) via.rport = null;
  else if (rs >= 0) via.rport = digitsValue(s, rs, re);
  return via;
}
