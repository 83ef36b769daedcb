// name-addr / addr-spec header values: From, To, Contact, Route, Record-Route (RFC 3261 sections 20.10,
// 20.20, 20.39, 20.30, 20.34; grammar in 25.1).
import { SipErrorCode, fail } from './errors.js';
import {
  ALPHANUM_SCHEME,
  TOKEN,
  isWs,
  parseGenericParams,
  pickedValue,
  quote,
  readQuoted,
  renderParams,
  scan,
  scanGenericParams,
  skipWs,
} from './grammar.js';
import { parseUri } from './uri.js';
import type { SipUri } from './uri.js';

export interface NameAddr {
  /** Unescaped display name (quoted-string content, or the token sequence as written). */
  displayName?: string;
  uri: SipUri;
  /** Header parameters (after the URI), keys lower-cased, values as written; flags map to null. */
  params: Map<string, string | null>;
  tag?: string;
  toString(): string;
}

const TAG_PICK = ['tag'] as const;

/** True if `s` can be written as `*(token LWS)` without quoting. */
function isTokenPhrase(s: string): boolean {
  if (s.length === 0) return false;
  for (let j = 0; j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (TOKEN[c] !== 1 && c !== 32) return false;
  }
  return true;
}

/**
 * The URI is parsed on first read of `.uri`: a proxy reads From/To tags on every message but rarely their
 * URIs, and RFC 4475 section 3.3.4 wants unknown schemes in From/To accepted by elements that do not look.
 */
export class NameAddrValue implements NameAddr {
  declare displayName?: string;
  declare tag?: string;
  /** Built on first read of `params` from generic-params text that parseNameAddrLazy already checked. */
  #params: Map<string, string | null> | undefined;
  #paramsText = '';
  #paramsAt = 0;
  private uriText: string;
  private parsedUri: SipUri | undefined;

  constructor(uri: SipUri | string) {
    if (typeof uri === 'string') {
      this.uriText = uri;
    } else {
      this.uriText = '';
      this.parsedUri = uri;
    }
  }

  /** @internal where the header parameters start, for the lazy `params` map. */
  setParamsSource(text: string, at: number): void {
    this.#paramsText = text;
    this.#paramsAt = at;
  }

  /** Header parameters; a proxy reads only the tag, so the map is built on first read. */
  get params(): Map<string, string | null> {
    if (this.#params === undefined) {
      this.#params = new Map();
      parseGenericParams(this.#paramsText, this.#paramsAt, this.#params, 'name-addr');
    }
    return this.#params;
  }
  set params(map: Map<string, string | null>) {
    this.#params = map;
  }

  /** @throws SipParseError when the URI is malformed (400) or not sip/sips/tel (416). */
  get uri(): SipUri {
    return (this.parsedUri ??= parseUri(this.uriText));
  }
  set uri(uri: SipUri) {
    this.parsedUri = uri;
  }

  toString(): string {
    if (this.tag === undefined) this.params.delete('tag');
    else this.params.set('tag', this.tag);
    let out = '';
    if (this.displayName !== undefined) {
      out = (isTokenPhrase(this.displayName) ? this.displayName : quote(this.displayName)) + ' ';
    }
    const uri = this.parsedUri === undefined ? this.uriText : this.parsedUri.toString();
    return out + '<' + uri + '>' + renderParams(this.params);
  }
}

/** Cheap shape check of an unparsed URI: `scheme ":" 1*non-space`. */
function checkUriShape(u: string): void {
  const colon = u.indexOf(':');
  if (colon <= 0 || scan(u, 0, ALPHANUM_SCHEME) !== colon || colon === u.length - 1) {
    fail(SipErrorCode.HEADER, `not a URI: ${JSON.stringify(u.slice(0, 40))}`);
  }
  for (let j = colon + 1; j < u.length; j++) {
    const c = u.charCodeAt(j);
    // RFC 4475 section 3.1.2.14: no LWS inside an addr-spec, not even inside <>
    if (c <= 32 || c === 60 || c === 62 || c === 34 || c === 127) {
      fail(SipErrorCode.HEADER, `invalid character in URI ${JSON.stringify(u.slice(0, 40))}`);
    }
  }
}

/**
 * Parses one `( name-addr / addr-spec ) *( SEMI generic-param )` value, checking the URI's shape only; the
 * URI itself is parsed when `.uri` is read. Used by the message getters.
 */
export function parseNameAddrLazy(text: string): NameAddrValue {
  const s = text;
  const n = s.length;
  let i = skipWs(s, 0);
  let displayName: string | undefined;
  if (s.charCodeAt(i) === 34 /* " */) {
    const q = readQuoted(s, i, 'display name');
    displayName = q.value;
    i = skipWs(s, q.end);
    if (s.charCodeAt(i) !== 60 /* < */)
      fail(SipErrorCode.HEADER, 'quoted display name without <URI>');
  } else {
    // display-name = *(token LWS): a run of tokens and spaces that ends at '<' (RFC 4475 3.1.1.6:
    // no LWS is needed before '<')
    let j = i;
    while (j < n) {
      const c = s.charCodeAt(j);
      if (TOKEN[c] !== 1 && !isWs(c)) break;
      j++;
    }
    if (j < n && s.charCodeAt(j) === 60) {
      const dn = s.slice(i, j).trim();
      if (dn.length > 0) displayName = dn;
      i = j;
    }
  }
  let uriText: string;
  if (s.charCodeAt(i) === 60) {
    const close = s.indexOf('>', i + 1);
    if (close < 0) fail(SipErrorCode.HEADER, 'missing > in name-addr');
    uriText = s.slice(i + 1, close);
    i = close + 1;
  } else {
    // RFC 3261 section 20.10: in addr-spec form everything after the first ';' is a header parameter,
    // and a URI with ',', '?' or ';' MUST have been enclosed in <>.
    let end = s.indexOf(';', i);
    if (end < 0) end = n;
    uriText = s.slice(i, end).trimEnd();
    i = end;
    if (uriText.includes('?') || uriText.includes(',')) {
      fail(SipErrorCode.HEADER, 'addr-spec with "?" or "," must be enclosed in <>');
    }
  }
  checkUriShape(uriText);
  const addr = new NameAddrValue(uriText);
  if (displayName !== undefined) addr.displayName = displayName;
  scanGenericParams(s, i, 'name-addr', null, TAG_PICK);
  addr.setParamsSource(s, i);
  const tag = pickedValue(s, 0);
  if (typeof tag === 'string') addr.tag = tag;
  return addr;
}

/** Parses a name-addr or addr-spec with its parameters, including the URI. Throws only SipParseError. */
export function parseNameAddr(text: string): NameAddr {
  const addr = parseNameAddrLazy(text);
  void addr.uri; // force the URI parse so malformed input fails here
  return addr;
}
