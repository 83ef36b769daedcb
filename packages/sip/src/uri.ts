// SIP, SIPS and tel URIs: RFC 3261 section 19.1 (grammar in 25.1) and RFC 3966 (tel).
import { SipErrorCode, SipParseError, fail } from './errors.js';
import {
  ALPHANUM_SCHEME,
  DIGITS,
  HNV,
  HOST,
  IPV6,
  PARAM,
  PASSWORD,
  USER,
  escape,
  scan,
  unescapeChecked,
} from './grammar.js';

export interface SipUri {
  scheme: 'sip' | 'sips' | 'tel';
  /** Unescaped user part (tel: the telephone-subscriber number). */
  user?: string;
  /** Unescaped password (deprecated by RFC 3261 section 19.1.1, still parsed). */
  password?: string;
  /** Host name, IPv4 address, or IPv6 reference with its brackets ('[2001:db8::1]'); '' for tel. */
  host: string;
  port?: number;
  /** uri-parameters, unescaped, keys lower-cased; flag params (lr) map to null. */
  params: Map<string, string | null>;
  /** headers component (`?a=b&c=d`), unescaped. */
  headers: Map<string, string>;
  toString(): string;
}

class Uri implements SipUri {
  declare user?: string;
  declare password?: string;
  declare port?: number;
  // Made on first use: most URIs have no headers component and many no parameters, and an empty
  // Map is ~180 bytes; a relayed call keeps a few parsed URIs alive for the transaction's life.
  #params: Map<string, string | null> | undefined;
  #headers: Map<string, string> | undefined;
  constructor(
    public scheme: 'sip' | 'sips' | 'tel',
    public host: string,
  ) {}

  get params(): Map<string, string | null> {
    return (this.#params ??= new Map());
  }

  get headers(): Map<string, string> {
    return (this.#headers ??= new Map());
  }

  toString(): string {
    let out = this.scheme + ':';
    if (this.scheme === 'tel') {
      out += this.user ?? '';
    } else {
      if (this.user !== undefined) {
        out += escape(this.user, USER);
        if (this.password !== undefined) out += ':' + escape(this.password, PASSWORD);
        out += '@';
      }
      out += this.host;
      if (this.port !== undefined) out += ':' + this.port;
    }
    for (const [k, v] of this.#params ?? NONE) {
      out += ';' + escape(k, PARAM);
      if (v !== null) out += '=' + escape(v, PARAM);
    }
    let sep = '?';
    for (const [k, v] of this.#headers ?? NONE) {
      out += sep + escape(k, HNV) + '=' + escape(v, HNV);
      sep = '&';
    }
    return out;
  }
}

const NONE: ReadonlyMap<string, never> = new Map<string, never>();

/** RFC 3966 phonedigit-hex plus visual separators; tel numbers are kept as written. */
const TEL = new Uint8Array(256);
for (const c of '0123456789abcdefABCDEF*#+-.()') TEL[c.charCodeAt(0)] = 1;

/** Parses `;name[=value]` uri-parameters from s[i]; returns the index where they stop. */
function parseUriParams(s: string, i: number, uri: SipUri): number {
  const n = s.length;
  while (i < n && s.charCodeAt(i) === 59 /* ; */) {
    const ks = i + 1;
    // find the delimiters first; unescapeChecked then validates the chars and %HH escapes in between
    let end = ks;
    while (end < n) {
      const c = s.charCodeAt(end);
      if (c === 59 || c === 63 /* ? */ || c === 61 /* = */) break;
      end++;
    }
    if (end === ks) fail(SipErrorCode.URI, 'empty URI parameter');
    const key = unescapeChecked(s, ks, end, PARAM, 'URI parameter').toLowerCase();
    if (end < n && s.charCodeAt(end) === 61) {
      const vs = end + 1;
      let ve = vs;
      while (ve < n && s.charCodeAt(ve) !== 59 && s.charCodeAt(ve) !== 63) ve++;
      if (ve === vs) fail(SipErrorCode.URI, 'empty URI parameter value');
      uri.params.set(key, unescapeChecked(s, vs, ve, PARAM, 'URI parameter'));
      i = ve;
    } else {
      uri.params.set(key, null);
      i = end;
    }
  }
  return i;
}

function parseTel(text: string, start: number): SipUri {
  const uri = new Uri('tel', '');
  let i = scan(text, start, TEL);
  if (i === start) fail(SipErrorCode.URI, 'empty tel number');
  uri.user = text.slice(start, i);
  i = parseUriParams(text, i, uri);
  if (i !== text.length) fail(SipErrorCode.URI, 'unexpected text in tel URI');
  return uri;
}

/**
 * Parses a SIP/SIPS/tel URI (RFC 3261 section 19.1.1, RFC 3966). The whole string must be the URI: no
 * surrounding whitespace (RFC 4475 section 3.1.2.14). Other schemes throw a SipParseError with status 416
 * (RFC 3261 section 8.2.2.1).
 */
export function parseUri(text: string): SipUri {
  const colon = text.indexOf(':');
  if (colon <= 0 || scan(text, 0, ALPHANUM_SCHEME) !== colon) {
    fail(SipErrorCode.URI, `not a URI: ${JSON.stringify(text.slice(0, 40))}`);
  }
  const scheme = text.slice(0, colon).toLowerCase();
  if (scheme === 'tel') return parseTel(text, colon + 1);
  if (scheme !== 'sip' && scheme !== 'sips') {
    throw new SipParseError(SipErrorCode.URI_SCHEME, `unsupported URI scheme ${scheme}`, 416);
  }
  const n = text.length;
  // userinfo ends at the first '@': neither host, params nor headers may contain an unescaped '@'
  const at = text.indexOf('@', colon + 1);
  let user: string | undefined;
  let password: string | undefined;
  let i = colon + 1;
  if (at >= 0) {
    // user ends at the first ':' of userinfo; ':' is not a user char (RFC 3261 section 25.1)
    let pc = text.indexOf(':', i);
    if (pc > at) pc = -1;
    const ue = pc >= 0 ? pc : at;
    if (ue === i) fail(SipErrorCode.URI, 'empty user part');
    user = unescapeChecked(text, i, ue, USER, 'URI user');
    if (pc >= 0) password = unescapeChecked(text, pc + 1, at, PASSWORD, 'URI password');
    i = at + 1;
  }
  const hs = i;
  if (text.charCodeAt(i) === 91 /* [ */) {
    i = scan(text, i + 1, IPV6);
    if (text.charCodeAt(i) !== 93 /* ] */ || i === hs + 1)
      fail(SipErrorCode.URI, 'bad IPv6 reference');
    i++;
  } else {
    i = scan(text, i, HOST);
  }
  if (i === hs) fail(SipErrorCode.URI, 'empty host');
  const uri = new Uri(scheme, text.slice(hs, i));
  if (user !== undefined) uri.user = user;
  if (password !== undefined) uri.password = password;
  if (i < n && text.charCodeAt(i) === 58 /* : */) {
    const ps = i + 1;
    i = scan(text, ps, DIGITS);
    const port = Number(text.slice(ps, i));
    if (i === ps || i - ps > 5 || port > 65535) fail(SipErrorCode.URI, 'bad port');
    uri.port = port;
  }
  i = parseUriParams(text, i, uri);
  if (i < n && text.charCodeAt(i) === 63 /* ? */) {
    for (const pair of text.slice(i + 1).split('&')) {
      const eq = pair.indexOf('=');
      if (eq <= 0) fail(SipErrorCode.URI, 'bad URI header');
      uri.headers.set(
        unescapeChecked(pair, 0, eq, HNV, 'URI header'),
        unescapeChecked(pair, eq + 1, pair.length, HNV, 'URI header'),
      );
    }
    i = n;
  }
  if (i !== n) fail(SipErrorCode.URI, `unexpected ${JSON.stringify(text[i])} in URI`);
  return uri;
}
