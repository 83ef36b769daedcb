// The hash of Kamailio's dispatcher (dispatch.c ds_get_hash), ported bit for bit, and the exact
// strings each hashing algorithm feeds it. Same input, same set order => same destination as a
// Kamailio using the same dispatcher.list, so a fleet can replace Kamailio without moving calls.
//
// Stability: the function is pure 32-bit integer arithmetic over UTF-8 bytes; it never depends on
// the process, the platform or the Node.js version. Tests pin known values.

/**
 * Kamailio's ds_get_hash(x, y). For each string: every full 4-byte block b0..b3 gives
 * v = b0<<24 | b1<<16 | b2<<8 | b3 and h += v ^ (v >>> 3); the 0-3 trailing bytes give
 * v = (...(b0<<8)+b1...) and the same step. Finally h = (h + (h>>>11)) + ((h>>>13) + (h>>>23)),
 * and 0 becomes 1. All arithmetic modulo 2^32. Bytes are read as C `char`, which is SIGNED on
 * the x86-64 builds Kamailio ships (a byte >= 0x80 counts as byte - 256); this only matters for
 * non-ASCII input.
 */
export function dsHash(x: string, y?: string): number {
  let h = accumulate(0, x);
  if (y !== undefined) h = accumulate(h, y);
  h = (h + (h >>> 11) + ((h >>> 13) + (h >>> 23))) >>> 0;
  return h === 0 ? 1 : h;
}

function accumulate(h: number, s: string): number {
  // ASCII fast path: no allocation per INVITE; otherwise hash the UTF-8 bytes.
  let ascii = true;
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0x7f) {
      ascii = false;
      break;
    }
  }
  if (ascii) return accumulateBytes(h, s.length, (i) => s.charCodeAt(i));
  const bytes = new TextEncoder().encode(s);
  return accumulateBytes(h, bytes.length, (i) => signedChar(bytes[i] ?? 0));
}

function signedChar(b: number): number {
  return b >= 0x80 ? b - 0x100 : b;
}

function accumulateBytes(h: number, len: number, at: (i: number) => number): number {
  let p = 0;
  for (; p + 4 <= len; p += 4) {
    // C: (*p << 24) + (p[1] << 16) + (p[2] << 8) + p[3], int arithmetic stored in unsigned.
    const v = (at(p) * 16777216 + at(p + 1) * 65536 + at(p + 2) * 256 + at(p + 3)) >>> 0;
    h = (h + ((v ^ (v >>> 3)) >>> 0)) >>> 0;
  }
  let v = 0;
  for (; p < len; p++) v = (v * 256 + at(p)) >>> 0;
  return (h + ((v ^ (v >>> 3)) >>> 0)) >>> 0;
}

/** The two strings Kamailio hashes for a URI (get_uri_hash_keys), or undefined when unparsable. */
export interface UriHashKeys {
  /** The user part (empty when the URI has none). */
  readonly user: string;
  /** `host`, or `host:port` when the URI has a port other than 5060 (sip:) / 5061 (sips:); empty with userOnly. */
  readonly hostPort: string;
}

/** A sip:/sips: URI cut into the parts the hashes and the alg 7 template read (raw text). */
export interface SipUriParts {
  readonly scheme: 'sip' | 'sips';
  /** The user part without password ('' when the URI has none). */
  readonly user: string;
  /** The host as written (an IPv6 reference keeps its brackets). */
  readonly host: string;
  /** The explicit port's text, '' when the URI has none. */
  readonly port: string;
}

/**
 * Cuts a sip:/sips: URI as Kamailio's parse_uri does for what the dispatcher reads: the user
 * (without password), the host and an explicit port; never URI parameters or headers.
 * Leading/trailing whitespace is trimmed. Undefined for anything that is not a sip:/sips: URI
 * with a host.
 */
export function sipUriParts(uri: string): SipUriParts | undefined {
  const s = uri.trim();
  const colon = s.indexOf(':');
  if (colon < 0) return undefined;
  const scheme = s.slice(0, colon).toLowerCase();
  if (scheme !== 'sip' && scheme !== 'sips') return undefined;
  let rest = s.slice(colon + 1);
  // The host part ends at the first ';' or '?' AFTER the userinfo (a user may contain ';').
  const at = rest.indexOf('@');
  let user = '';
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    const pw = userinfo.indexOf(':');
    user = pw >= 0 ? userinfo.slice(0, pw) : userinfo;
    rest = rest.slice(at + 1);
  }
  const end = rest.search(/[;?>]/);
  const hostport = end >= 0 ? rest.slice(0, end) : rest;
  let host: string;
  let port = '';
  if (hostport.startsWith('[')) {
    const close = hostport.indexOf(']');
    if (close < 0) return undefined;
    host = hostport.slice(0, close + 1);
    const after = hostport.slice(close + 1);
    if (after !== '') {
      if (!after.startsWith(':')) return undefined;
      port = after.slice(1);
    }
  } else {
    const pc = hostport.indexOf(':');
    host = pc >= 0 ? hostport.slice(0, pc) : hostport;
    if (pc >= 0) port = hostport.slice(pc + 1);
  }
  if (host === '' || host === '[]' || /[\s@]/.test(host)) return undefined;
  if (port !== '' || hostport.endsWith(':')) {
    if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) return undefined;
  }
  return { scheme, user, host, port };
}

/**
 * Extracts what Kamailio hashes from a sip:/sips: URI (dispatch.c get_uri_hash_keys): the user
 * (without password), and host plus `:port` when an explicit port differs from the scheme's
 * default; never URI parameters or headers. Raw text, no case folding (Kamailio hashes bytes as
 * written). With `userOnly` (Kamailio's `flags` bit 1, DS_HASH_USER_ONLY) only the user counts.
 * Leading/trailing whitespace is trimmed as Kamailio does for From/To.
 * Returns undefined for anything that is not a sip:/sips: URI with a host.
 */
export function uriHashKeys(uri: string, userOnly = false): UriHashKeys | undefined {
  const parts = sipUriParts(uri);
  if (parts === undefined) return undefined;
  const { scheme, user, host, port } = parts;
  if (userOnly) return { user, hostPort: '' };
  const defaultPort = scheme === 'sips' ? 5061 : 5060;
  const withPort = port !== '' && Number(port) !== defaultPort;
  return { user, hostPort: withPort ? `${host}:${port}` : host };
}

/** Alg 0 (ds_hash_callid): the Call-ID header value, trimmed. */
export function hashCallId(callId: string): number {
  return dsHash(callId.trim());
}

/**
 * Alg 1, 2, 3 (ds_hash_fromuri, ds_hash_touri, ds_hash_ruri): dsHash(user, hostPort) from
 * uriHashKeys. Note this is NOT the hash of the string `user@host:port`: Kamailio hashes the two
 * parts separately (each with its own trailing partial block). Undefined when the URI is unusable
 * (Kamailio then fails the selection).
 */
export function hashUri(uri: string, userOnly = false): number | undefined {
  const keys = uriHashKeys(uri, userOnly);
  return keys === undefined ? undefined : dsHash(keys.user, keys.hostPort);
}

/** Alg 5 (ds_hash_authusername): the digest `username` of Proxy-Authorization, else Authorization, trimmed. */
export function hashAuthUsername(username: string): number {
  return dsHash(username.trim());
}

/** Alg 7 (ds_hash_pvar): the caller-built value (Kamailio: the hash_pvar format printed), trimmed. */
export function hashValue(value: string): number {
  return dsHash(value.trim());
}
