// Lexical rules shared by every SIP value parser: RFC 3261 section 25.1 (basic rules) and 19.1.2 (URI
// character classes). Tables are indexed by latin1 char code; everything scans with charCodeAt, no regex.
import { SipErrorCode, fail } from './errors.js';

function table(extra: string, base?: Uint8Array): Uint8Array {
  const t = base ? Uint8Array.from(base) : new Uint8Array(256);
  for (let c = 0; c < extra.length; c++) t[extra.charCodeAt(c)] = 1;
  return t;
}
const ALPHANUM = table('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789');
/** token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~") */
export const TOKEN = table("-.!%*_+`'~", ALPHANUM);
/** unreserved = alphanum / mark; mark = "-" / "_" / "." / "!" / "~" / "*" / "'" / "(" / ")" */
export const UNRESERVED = table("-_.!~*'()", ALPHANUM);
/** user = 1*( unreserved / escaped / user-unreserved ) */
export const USER = table('&=+$,;?/', UNRESERVED);
/** password = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," ) */
export const PASSWORD = table('&=+$,', UNRESERVED);
/** paramchar = param-unreserved / unreserved / escaped */
export const PARAM = table('[]/:&+$', UNRESERVED);
/** hname / hvalue = *( hnv-unreserved / unreserved / escaped ) */
export const HNV = table('[]/?:+$', UNRESERVED);
/** Host names, IPv4 and (inside brackets) IPv6; "_" is tolerated because real deployments use it. */
export const HOST = table('-._', ALPHANUM);
export const IPV6 = table('0123456789abcdefABCDEF:.');

export function isWs(c: number): boolean {
  return c === 32 || c === 9;
}

/** Index of the first non-SP/HTAB char at or after i. */
export function skipWs(s: string, i: number): number {
  while (i < s.length && isWs(s.charCodeAt(i))) i++;
  return i;
}

/** Index just after the run of chars in `t` starting at i. */
export function scan(s: string, i: number, t: Uint8Array): number {
  while (i < s.length && t[s.charCodeAt(i)] === 1) i++;
  return i;
}

export function isToken(s: string): boolean {
  return s.length > 0 && scan(s, 0, TOKEN) === s.length;
}

/**
 * Reads a quoted-string starting at s[i] === '"' (RFC 3261 section 25.1: quoted-pair = "\" any char but
 * CR/LF). Returns the unescaped content and the index after the closing quote.
 */
export function readQuoted(s: string, i: number, what: string): { value: string; end: number } {
  let out = '';
  let from = i + 1;
  for (let j = from; j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (c === 92 /* \ */) {
      out += s.slice(from, j);
      j++;
      if (j >= s.length) break;
      from = j; // the escaped char starts the next literal run
    } else if (c === 34 /* " */) {
      return { value: out + s.slice(from, j), end: j + 1 };
    }
  }
  return fail(SipErrorCode.HEADER, `unterminated quoted string in ${what}`);
}

/** Quotes a display name or parameter value, escaping '"' and '\'. */
export function quote(s: string): string {
  let out = '"';
  let from = 0;
  for (let j = 0; j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (c === 34 || c === 92) {
      out += s.slice(from, j) + '\\';
      from = j;
    }
  }
  return out + s.slice(from) + '"';
}

function hex(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/**
 * Checks that s[from, to) only holds chars of `allowed` or `%HH` escapes, and returns it unescaped
 * (RFC 3261 section 19.1.2: escaped = "%" HEXDIG HEXDIG).
 */
export function unescapeChecked(
  s: string,
  from: number,
  to: number,
  allowed: Uint8Array,
  what: string,
): string {
  let out = '';
  let run = from;
  for (let j = from; j < to; j++) {
    const c = s.charCodeAt(j);
    if (allowed[c] === 1) continue;
    if (c === 37 /* % */ && j + 2 < to) {
      const h = hex(s.charCodeAt(j + 1));
      const l = hex(s.charCodeAt(j + 2));
      if (h >= 0 && l >= 0) {
        out += s.slice(run, j) + String.fromCharCode(h * 16 + l);
        j += 2;
        run = j + 1;
        continue;
      }
    }
    fail(SipErrorCode.URI, `invalid character ${JSON.stringify(s[j])} in ${what}`);
  }
  return run === from ? s.slice(from, to) : out + s.slice(run, to);
}

const HEX = '0123456789ABCDEF';
/** Escapes every char not in `allowed` as %HH. */
export function escape(s: string, allowed: Uint8Array): string {
  let out = '';
  let run = 0;
  for (let j = 0; j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (allowed[c] === 1) continue;
    out += s.slice(run, j) + '%' + HEX[(c >> 4) & 15] + HEX[c & 15];
    run = j + 1;
  }
  return run === 0 ? s : out + s.slice(run);
}

/**
 * Where the list element starting at `from` ends: the next top-level comma (RFC 3261 section 7.3.1),
 * ignoring commas inside quoted strings and inside <...>, or the end of the value. Allocates nothing.
 */
export function listValueEnd(value: string, from: number): number {
  // Native searches settle the usual cases: one element, or a list with no quoted string or <...>
  // before its next comma (a Via list on one line). The walk below handles the rest.
  const comma = value.indexOf(',', from);
  if (comma < 0) return value.length;
  const quote = value.indexOf('"', from);
  const open = value.indexOf('<', from);
  if ((quote < 0 || quote > comma) && (open < 0 || open > comma)) return comma;
  let angle = false;
  for (let j = from; j < value.length; j++) {
    const c = value.charCodeAt(j);
    if (c === 34 /* " */) {
      // skip the quoted string; an unterminated one runs to the end and the value parser reports it
      for (j++; j < value.length; j++) {
        const q = value.charCodeAt(j);
        if (q === 92) j++;
        else if (q === 34) break;
      }
    } else if (c === 60 /* < */) angle = true;
    else if (c === 62 /* > */) angle = false;
    else if (c === 44 /* , */ && !angle) return j;
  }
  return value.length;
}

/** The latin1 chars String.prototype.trim() removes (HTAB, LF, VT, FF, CR, SP, NBSP). */
export function isTrimmed(c: number): boolean {
  return (c >= 9 && c <= 13) || c === 32 || c === 160;
}

/** Whether s[from, to) holds only what String.prototype.trim() removes. */
export function isBlank(s: string, from: number, to: number): boolean {
  for (let j = from; j < to; j++) if (!isTrimmed(s.charCodeAt(j))) return false;
  return true;
}

/**
 * Splits a header value at top-level commas ({@link listValueEnd}). Parts are trimmed; empty parts are
 * kept so strict callers (Via) can reject them.
 */
export function splitList(value: string): string[] {
  const parts: string[] = [];
  for (let start = 0; ;) {
    const end = listValueEnd(value, start);
    parts.push(value.slice(start, end).trim());
    if (end >= value.length) return parts;
    start = end + 1;
  }
}

/**
 * Where {@link scanGenericParams} found each picked parameter: slots 2k and 2k+1 hold the value range of
 * pick[k], or {@link PARAM_ABSENT} / {@link PARAM_FLAG} in slot 2k. Parsing is synchronous, so one shared
 * scratch array is enough and a scan allocates nothing.
 */
export const PICKED = new Int32Array(8);
export const PARAM_ABSENT = -2;
export const PARAM_FLAG = -1;

/** Whether s[from, to) is `key` (lower case letters) in any case. Token chars only: see knownHeader. */
function isKey(s: string, from: number, to: number, key: string): boolean {
  if (to - from !== key.length) return false;
  for (let j = 0; j < key.length; j++) {
    if ((s.charCodeAt(from + j) | 0x20) !== key.charCodeAt(j)) return false;
  }
  return true;
}

/**
 * Parses `*( SEMI generic-param )` starting at s[i] (which must be ';' or the end), as used after a Via
 * sent-by, a name-addr and an addr-spec (RFC 3261 section 25.1: generic-param = token [ EQUAL gen-value ],
 * gen-value = token / host / quoted-string, SEMI and EQUAL allow surrounding whitespace). Fails on anything
 * left over.
 *
 * With `into`, every parameter is stored (keys lower-cased, values as written, quoted strings keep their
 * quotes). With `pick`, only the positions of those keys go to {@link PICKED} (the last one wins, as in the
 * map): the value parsers read branch, received, rport or tag this way and build the map only when a caller
 * reads `params`, since a Map and its key strings cost more than the rest of a Via.
 */
export function scanGenericParams(
  s: string,
  i: number,
  what: string,
  into: Map<string, string | null> | null,
  pick: readonly string[] | null,
): void {
  if (pick !== null) PICKED.fill(PARAM_ABSENT, 0, 2 * pick.length);
  const n = s.length;
  for (;;) {
    i = skipWs(s, i);
    if (i >= n) return;
    if (s.charCodeAt(i) !== 59 /* ; */) fail(SipErrorCode.HEADER, `unexpected text in ${what}`);
    i = skipWs(s, i + 1);
    const ns = i;
    i = scan(s, i, TOKEN);
    const ke = i;
    if (i === ns) fail(SipErrorCode.HEADER, `empty parameter in ${what}`);
    i = skipWs(s, i);
    let vs = PARAM_FLAG;
    if (i < n && s.charCodeAt(i) === 61 /* = */) {
      i = skipWs(s, i + 1);
      vs = i;
      if (s.charCodeAt(i) === 34) {
        i = readQuoted(s, i, what).end;
      } else if (s.charCodeAt(i) === 91 /* [ */) {
        i = scan(s, i + 1, IPV6);
        if (s.charCodeAt(i) !== 93) fail(SipErrorCode.HEADER, `bad IPv6 reference in ${what}`);
        i++;
      } else {
        i = scan(s, i, TOKEN);
        // RFC 3261 section 25.1: via-received = "received" EQUAL (IPv4address / IPv6address) - a bare
        // IPv6 address, which is not a token (':'). RFC 5118 section 4.5: accept it bare or bracketed.
        if (
          s.charCodeAt(i) === 58 /* : */ &&
          isKey(s, ns, ke, 'received') &&
          scan(s, vs, IPV6) >= i
        ) {
          i = scan(s, i, IPV6);
        }
      }
      if (i === vs) fail(SipErrorCode.HEADER, `empty parameter value in ${what}`);
    }
    if (into !== null) {
      into.set(s.slice(ns, ke).toLowerCase(), vs === PARAM_FLAG ? null : s.slice(vs, i));
    }
    if (pick !== null) {
      for (let k = 0; k < pick.length; k++) {
        if (isKey(s, ns, ke, pick[k] as string)) {
          PICKED[2 * k] = vs;
          PICKED[2 * k + 1] = i;
        }
      }
    }
  }
}

/** {@link scanGenericParams} into a map. */
export function parseGenericParams(
  s: string,
  i: number,
  into: Map<string, string | null>,
  what: string,
): void {
  scanGenericParams(s, i, what, into, null);
}

/** The value of pick[k] after {@link scanGenericParams}: undefined when absent, null for a flag. */
export function pickedValue(s: string, k: number): string | null | undefined {
  const vs = PICKED[2 * k] as number;
  if (vs === PARAM_ABSENT) return undefined;
  return vs === PARAM_FLAG ? null : s.slice(vs, PICKED[2 * k + 1]);
}

/** Renders a params map back to `;k=v;flag`. */
export function renderParams(params: Map<string, string | null>): string {
  let out = '';
  for (const [k, v] of params) out += v === null ? ';' + k : ';' + k + '=' + v;
  return out;
}

/** scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (checked loosely: first char is not special-cased) */
export const ALPHANUM_SCHEME = table('+-.', ALPHANUM);
export const DIGITS = table('0123456789');
