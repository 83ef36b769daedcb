// Header field names and the header field record (RFC 3261 sections 7.3, 7.3.3, 20).
import { SipErrorCode, fail } from './errors.js';
import { isToken } from './grammar.js';

/** One header field line as split by the parser, or one added by a mutator. */
export interface HeaderField {
  /** Canonical key: lower-cased long form ('v' and 'Via' both give 'via'). */
  readonly key: string;
  /** The name as written (or as given to a mutator); kept when the line is re-rendered. */
  readonly name: string;
  /** The value with line folding replaced by SP and surrounding whitespace trimmed. */
  readonly value: string;
  /** Byte range of the original line(s) in the source, incl. the line terminator; -1 for new fields. */
  readonly start: number;
  readonly end: number;
}

/** RFC 3261 section 7.3.3 compact forms, plus those of later RFCs named in the contract. */
const COMPACT: Record<string, string> = {
  i: 'call-id',
  m: 'contact',
  e: 'content-encoding',
  l: 'content-length',
  c: 'content-type',
  f: 'from',
  s: 'subject',
  k: 'supported',
  t: 'to',
  v: 'via',
  o: 'event', // RFC 6665
  r: 'refer-to', // RFC 3515
  x: 'session-expires', // RFC 4028
};

/** How new fields are spelled when the caller passes a known name in any case. */
const CANONICAL: Record<string, string> = {
  via: 'Via',
  from: 'From',
  to: 'To',
  'call-id': 'Call-ID',
  cseq: 'CSeq',
  contact: 'Contact',
  'max-forwards': 'Max-Forwards',
  route: 'Route',
  'record-route': 'Record-Route',
  'content-length': 'Content-Length',
  'content-type': 'Content-Type',
  'content-encoding': 'Content-Encoding',
  subject: 'Subject',
  supported: 'Supported',
  event: 'Event',
  'refer-to': 'Refer-To',
  'session-expires': 'Session-Expires',
  'www-authenticate': 'WWW-Authenticate',
  'proxy-authenticate': 'Proxy-Authenticate',
  'proxy-authorization': 'Proxy-Authorization',
  authorization: 'Authorization',
  'user-agent': 'User-Agent',
  server: 'Server',
  allow: 'Allow',
  require: 'Require',
  'proxy-require': 'Proxy-Require',
  unsupported: 'Unsupported',
  expires: 'Expires',
  'retry-after': 'Retry-After',
  reason: 'Reason',
};

/**
 * Fields whose values may contain top-level commas that do not separate list elements (RFC 3261 section
 * 7.3.1 exempts the auth headers; Date and free-text fields contain commas), so getHeaders never splits them.
 */
const NOT_A_LIST = new Set([
  'www-authenticate',
  'proxy-authenticate',
  'authorization',
  'proxy-authorization',
  'authentication-info',
  'date',
  'subject',
  'user-agent',
  'server',
  'organization',
  'call-id',
  'cseq',
  'content-length',
  'content-type',
  'content-disposition',
  'max-forwards',
  'expires',
  'min-expires',
  'retry-after',
  'timestamp',
  'mime-version',
  'priority',
  'reply-to',
  'from',
  'to',
  'refer-to',
  'session-expires',
  'event',
]);

// Raw spellings repeat across messages ('Via', 'CSeq', ...), so remember them; bounded so random names in
// hostile traffic cannot grow it.
const keyCache = new Map<string, string>();
const KEY_CACHE_MAX = 512;

/** Canonical key of a header name: case-insensitive, compact forms expanded. */
export function headerKey(name: string): string {
  let key = keyCache.get(name);
  if (key !== undefined) return key;
  const lower = name.toLowerCase();
  key = lower.length === 1 ? (COMPACT[lower] ?? lower) : lower;
  if (keyCache.size < KEY_CACHE_MAX) keyCache.set(name, key);
  return key;
}

/**
 * Known keys bucketed by length and first letter, so the parser can name a header line without
 * slicing or lower-casing it: at ~14 header lines per message, two strings per line were a large
 * share of the garbage.
 */
const KNOWN_BY_SHAPE: { key: string; canonical: string }[][] = [];
/** Bucket of a name of `len` chars starting with `c` (any case): rarely more than one key in it. */
function shape(len: number, c: number): number {
  return len * 32 + ((c | 0x20) & 31);
}
for (const key of [...Object.keys(CANONICAL), 'accept', 'date', 'timestamp', 'privacy']) {
  (KNOWN_BY_SHAPE[shape(key.length, key.charCodeAt(0))] ??= []).push({
    key,
    canonical: CANONICAL[key] ?? '',
  });
}
const COMPACT_BY_CODE: (string | undefined)[] = [];
for (const [letter, key] of Object.entries(COMPACT)) {
  COMPACT_BY_CODE[letter.charCodeAt(0)] = key;
  COMPACT_BY_CODE[letter.toUpperCase().charCodeAt(0)] = key;
}

/** Result of {@link knownHeader}; one shared record, since parsing is synchronous (nothing allocated). */
export const knownMatch = {
  key: '',
  /** The interned canonical spelling when the name is written exactly so ('Via'), else '' (slice it). */
  name: '',
};

/**
 * Whether the header name text[from, to) is one of the common headers (any case, compact forms
 * included); if so its canonical key and, when spelled canonically, its interned name go to
 * {@link knownMatch}. Otherwise the caller falls back to slicing and {@link headerKey}.
 * The name must be a token: `| 0x20` then lower-cases letters and leaves '-', digits and '.' alone, and no
 * other token char can turn into a lower-case letter or '-'.
 */
export function knownHeader(text: string, from: number, to: number): boolean {
  const len = to - from;
  if (len === 1) {
    const key = COMPACT_BY_CODE[text.charCodeAt(from)];
    if (key === undefined) return false;
    knownMatch.key = key;
    knownMatch.name = ''; // compact names are single chars, which V8 does not allocate anyway
    return true;
  }
  const bucket = KNOWN_BY_SHAPE[shape(len, text.charCodeAt(from))];
  if (bucket === undefined) return false;
  next: for (const { key, canonical } of bucket) {
    let exact = canonical.length === len;
    for (let j = 0; j < len; j++) {
      const c = text.charCodeAt(from + j);
      if ((c | 0x20) !== key.charCodeAt(j)) continue next;
      if (exact && c !== canonical.charCodeAt(j)) exact = false;
    }
    knownMatch.key = key;
    knownMatch.name = exact ? canonical : '';
    return true;
  }
  return false;
}

/** Spelling for a new field: the canonical form of known headers, else the caller's spelling. */
export function headerName(name: string, key: string): string {
  return CANONICAL[key] ?? name;
}

export function isListHeader(key: string): boolean {
  return !NOT_A_LIST.has(key);
}

/** A field created by a mutator or builder: rendered as `Name: value`. */
export function newField(name: string, value: string): HeaderField {
  // a name or value smuggling CR/LF would inject header lines into the relayed message
  if (!isToken(name)) fail(SipErrorCode.HEADER, `invalid header name ${JSON.stringify(name)}`);
  if (value.includes('\n') || value.includes('\r')) {
    fail(SipErrorCode.HEADER, `header value of ${name} contains CR or LF`);
  }
  const key = headerKey(name);
  return { key, name: headerName(name, key), value, start: -1, end: -1 };
}
