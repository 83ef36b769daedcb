// The digest username algorithm 5 hashes (dispatch.c ds_hash_authusername), read from the raw
// Proxy-Authorization / Authorization values the way Kamailio's digest parser reads them. The
// dispatcher only needs the username, so this is not a credentials parser for authentication.

/** What the SIP parser gives for a header: the raw value of its first field, if any. */
export interface HeaderSource {
  getHeader(name: string): string | undefined;
}

// RFC 3261 section 25.1: dig-resp = name EQUAL ( token / quoted-string ), separated by COMMA.
const LWS = '[ \\t\\r\\n]*';
const DIG_RESP = new RegExp(
  `${LWS}([!%'*+\\-.0-9A-Z_\`a-z~]+)${LWS}=${LWS}("(?:[^"\\\\]|\\\\.)*"|[^ \\t\\r\\n,"]+)${LWS}(?:,|$)`,
  'y',
);
const DIGEST_SCHEME = /^[ \t\r\n]*digest[ \t\r\n,]/i;

/**
 * The username of Digest credentials (RFC 3261 section 22.4, `credentials = "Digest" LWS
 * digest-response`), reduced as Kamailio's parse_username does: when longer than 2 characters,
 * the part before the first `@`, and of that the part after the first `:` (a `sip:user@domain`
 * username gives `user`). Quoted values are taken as written between the quotes, escapes
 * included, since Kamailio hashes the bytes it points at.
 * @returns the user ('' when the credentials carry no username), or undefined when the value is
 *   not Digest credentials or does not parse (Kamailio then looks at the next header).
 */
export function digestUsername(credentials: string): string | undefined {
  const scheme = DIGEST_SCHEME.exec(credentials);
  if (scheme === null) return undefined;
  const text = credentials.trimEnd();
  let username = '';
  let at = scheme[0].length;
  while (at < text.length) {
    DIG_RESP.lastIndex = at;
    const param = DIG_RESP.exec(text);
    if (param === null) return undefined;
    const [, name = '', value = ''] = param;
    if (name.toLowerCase() === 'username') {
      username = value.startsWith('"') ? value.slice(1, -1) : value;
    }
    at = DIG_RESP.lastIndex;
  }
  if (username.length <= 2) return username;
  const domain = username.indexOf('@');
  const user = domain < 0 ? username : username.slice(0, domain);
  const colon = user.indexOf(':');
  return colon < 0 ? user : user.slice(colon + 1);
}

/**
 * Algorithm 5's input from a request: the user of the first Proxy-Authorization that holds Digest
 * credentials, else of the first Authorization (ds_hash_authusername looks at the first field of
 * each, in that order). Undefined without usable credentials, '' when they carry no username:
 * both make algorithm 5 fall back to round-robin.
 */
export function authUsernameOf(request: HeaderSource): string | undefined {
  for (const header of ['Proxy-Authorization', 'Authorization']) {
    const value = request.getHeader(header);
    const user = value === undefined ? undefined : digestUsername(value);
    if (user !== undefined) return user;
  }
  return undefined;
}
