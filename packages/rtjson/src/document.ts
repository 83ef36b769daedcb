// The rtjson routing document (Kamailio rtjson module, "JSON Routing Structure"), as answered by
// an external routing API: validated once at the HTTP boundary, so the hooks never meet a
// malformed route. Unknown fields are ignored, as Kamailio ignores them.
import { parseUri, SipParseError } from '@sipfleet/sip';

export type RoutingMode = 'serial' | 'parallel';

/** `headers.from` / `headers.to`: what `uac_replace_from()` / `uac_replace_to()` get. */
export interface NameAddrRewrite {
  /** Display name; `""` removes it. Unset: keep the request's. */
  display?: string;
  /** Unset: keep the request's URI. */
  uri?: string;
}

/** One extra header line appended to the branch (`headers.extra`, split into fields). */
export type ExtraHeader = readonly [name: string, value: string];

export interface RouteHeaders {
  from?: NameAddrRewrite;
  to?: NameAddrRewrite;
  extra: readonly ExtraHeader[];
}

/** One destination (`routes[i]`). Every field is optional, as in Kamailio. */
export interface Route {
  /** `$ru`: the Request-URI of the branch. Unset: the request's own. */
  uri?: string;
  /** `$du`: the outbound proxy / real next hop. */
  dstUri?: string;
  /** Path vector: becomes the branch's Route set (and its next hop when there is no `dst_uri`). */
  path?: string[];
  /** Local socket (`proto:addr:port`). Parsed and kept; the proxy picks its socket by protocol. */
  socket?: string;
  headers: RouteHeaders;
  /** `$bf`: branch flags, for user hooks (read them with `routeOfBranch`). */
  branchFlags?: number;
  /** `t_set_fr(..., fr)`: no reply at all within this many ms ends the branch (408). */
  frTimerMs?: number;
  /** `t_set_fr(fr_inv, ...)`: an INVITE with a provisional but no final within this many ms. */
  frInvTimerMs?: number;
}

/**
 * A validated answer: `success` false means "no route" (404 by default). Here `success` is the
 * outcome of parsing, not the field: with the default envelope `'none'` a document without routes
 * is "no route" whatever its `success` field says.
 */
export type RoutingDocument =
  | { success: false; version?: string }
  | { success: true; version?: string; routing: RoutingMode; routes: readonly Route[] };

export type RtjsonErrorCode = 'SIPFLEET_ERR_RTJSON_INVALID';

/** What is wrong with a document, with the JSON path of the offending field. */
export class RtjsonError extends Error {
  readonly code: RtjsonErrorCode = 'SIPFLEET_ERR_RTJSON_INVALID';
  constructor(
    /** JSON path of the bad field: `routes[1].headers.from.uri`. */
    readonly path: string,
    readonly problem: string,
  ) {
    super(`${path}: ${problem}`);
  }
}

export type RtjsonParseResult =
  { ok: true; document: RoutingDocument } | { ok: false; error: RtjsonError };

/** Upper bound on routes in one document (Kamailio's `max_branches` is 12; the proxy stops at 32). */
export const MAX_ROUTES = 32;

/**
 * How a document says "no route".
 * - `'none'`: Kamailio's `rtjson_init_routes`, which reads `routes` and never looks at `success`:
 *   a document with routes is routed, one without `routes` (or with an empty list) is "no route".
 * - `'success'`: the Wazo router-confd envelope: anything but `success: true` is "no route", and
 *   only then are `routes` read (and must not be empty).
 */
export type RtjsonEnvelope = 'none' | 'success';

export interface RtjsonParseOptions {
  /** @default 'none' */
  envelope?: RtjsonEnvelope;
}

/** Parses and validates a decoded JSON body. Never throws. */
export function parseRtjson(body: unknown, options: RtjsonParseOptions = {}): RtjsonParseResult {
  try {
    return { ok: true, document: readDocument(body, options.envelope ?? 'none') };
  } catch (err) {
    if (err instanceof RtjsonError) return { ok: false, error: err };
    throw err;
  }
}

type Obj = Record<string, unknown>;

function isObject(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function readDocument(body: unknown, envelope: RtjsonEnvelope): RoutingDocument {
  if (!isObject(body)) throw new RtjsonError('(document)', 'must be a JSON object');
  const version = optionalString(body, 'version', 'version');
  const noRoute: RoutingDocument =
    version === undefined ? { success: false } : { success: false, version };
  if (envelope === 'success') {
    // The envelope of an HTTP routing API (Wazo's router-confd style): anything but `true` is "no route".
    if (body.success !== true) {
      if (body.success !== undefined && typeof body.success !== 'boolean') {
        throw new RtjsonError('success', 'must be a boolean');
      }
      return noRoute;
    }
  } else if (
    body.routes === undefined ||
    body.routes === null ||
    (Array.isArray(body.routes) && body.routes.length === 0)
  ) {
    return noRoute;
  }
  const routing = body.routing ?? 'serial';
  if (routing !== 'serial' && routing !== 'parallel') {
    throw new RtjsonError(
      'routing',
      `must be "serial" or "parallel", got ${JSON.stringify(routing)}`,
    );
  }
  if (!Array.isArray(body.routes)) throw new RtjsonError('routes', 'must be an array');
  if (body.routes.length === 0) throw new RtjsonError('routes', 'must not be empty');
  if (body.routes.length > MAX_ROUTES) {
    throw new RtjsonError('routes', `at most ${MAX_ROUTES} routes, got ${body.routes.length}`);
  }
  const routes = body.routes.map((raw: unknown, i) => readRoute(raw, `routes[${i}]`));
  return version === undefined
    ? { success: true, routing, routes }
    : { success: true, version, routing, routes };
}

function readRoute(raw: unknown, at: string): Route {
  if (!isObject(raw)) throw new RtjsonError(at, 'must be an object');
  const route: Route = { headers: { extra: [] } };
  const uri = optionalUri(raw, 'uri', `${at}.uri`);
  if (uri !== undefined) route.uri = uri;
  const dstUri = optionalUri(raw, 'dst_uri', `${at}.dst_uri`);
  if (dstUri !== undefined) route.dstUri = dstUri;
  const path = optionalString(raw, 'path', `${at}.path`);
  if (path !== undefined && path.trim() !== '') route.path = readPath(path, `${at}.path`);
  const socket = optionalString(raw, 'socket', `${at}.socket`);
  if (socket !== undefined && socket !== '') {
    if (!/^(udp|tcp|tls|sctp|ws|wss):(\[[0-9a-fA-F:.]+\]|[^:\s]+)(:\d{1,5})?$/i.test(socket)) {
      throw new RtjsonError(`${at}.socket`, `not proto:address[:port]: ${JSON.stringify(socket)}`);
    }
    route.socket = socket;
  }
  if (raw.headers !== undefined) route.headers = readHeaders(raw.headers, `${at}.headers`);
  const flags = optionalInteger(raw, 'branch_flags', `${at}.branch_flags`, 0);
  if (flags !== undefined) route.branchFlags = flags;
  // 0 means "not set", as in Kamailio's rtjson (it only calls t_set_fr for values > 0).
  const fr = optionalInteger(raw, 'fr_timer', `${at}.fr_timer`, 0);
  if (fr !== undefined && fr > 0) route.frTimerMs = fr;
  const frInv = optionalInteger(raw, 'fr_inv_timer', `${at}.fr_inv_timer`, 0);
  if (frInv !== undefined && frInv > 0) route.frInvTimerMs = frInv;
  return route;
}

function readHeaders(raw: unknown, at: string): RouteHeaders {
  if (!isObject(raw)) throw new RtjsonError(at, 'must be an object');
  const headers: RouteHeaders = { extra: [] };
  for (const which of ['from', 'to'] as const) {
    const value = raw[which];
    if (value === undefined || value === null) continue;
    if (!isObject(value)) throw new RtjsonError(`${at}.${which}`, 'must be an object');
    const rewrite: NameAddrRewrite = {};
    const display = optionalString(value, 'display', `${at}.${which}.display`);
    if (display !== undefined) {
      // The display name is written quoted; CR/LF would split the header (injection).
      if (/[\r\n\0]/.test(display)) {
        throw new RtjsonError(`${at}.${which}.display`, 'must not contain CR, LF or NUL');
      }
      rewrite.display = display;
    }
    const uri = optionalUri(value, 'uri', `${at}.${which}.uri`);
    if (uri !== undefined) rewrite.uri = uri;
    headers[which] = rewrite;
  }
  const extra = optionalString(raw, 'extra', `${at}.extra`);
  if (extra !== undefined) headers.extra = readExtraHeaders(extra, `${at}.extra`);
  return headers;
}

const HEADER_NAME = /^[A-Za-z0-9\-.!%*_+`'~]+$/;

/** `"X-A: 1\r\nX-B: 2\r\n"` -> fields. Kamailio appends the text as is; we check each line. */
export function readExtraHeaders(text: string, at = 'extra'): ExtraHeader[] {
  const out: ExtraHeader[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '') continue;
    const colon = line.indexOf(':');
    const name = colon < 0 ? '' : line.slice(0, colon).trim();
    if (!HEADER_NAME.test(name)) {
      throw new RtjsonError(at, `not a "Name: value" header line: ${JSON.stringify(line)}`);
    }
    if (/[\r\0]/.test(line)) throw new RtjsonError(at, `stray CR or NUL in ${name}`);
    // Routing headers stay the proxy's business: an API must not reroute the request by header.
    if (/^(via|v|call-id|i|cseq|content-length|l|max-forwards)$/i.test(name)) {
      throw new RtjsonError(at, `${name} cannot be set through extra headers`);
    }
    out.push([name, line.slice(colon + 1).trim()]);
  }
  return out;
}

/** The path vector: `<sip:a;lr>,<sip:b;lr>` (Path header syntax), each URI checked. */
function readPath(text: string, at: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/<([^>]*)>|([^,<>\s][^,<>]*)/g)) {
    const uri = (m[1] ?? m[2] ?? '').trim();
    if (uri === '') continue;
    checkUri(uri, at);
    out.push(uri);
  }
  if (out.length === 0) throw new RtjsonError(at, 'no URI in path');
  return out;
}

function optionalString(obj: Obj, key: string, at: string): string | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new RtjsonError(at, 'must be a string');
  return value;
}

function optionalUri(obj: Obj, key: string, at: string): string | undefined {
  const value = optionalString(obj, key, at);
  if (value === undefined || value === '') return undefined;
  checkUri(value, at);
  return value;
}

function checkUri(uri: string, at: string): void {
  try {
    parseUri(uri);
  } catch (err) {
    if (err instanceof SipParseError)
      throw new RtjsonError(at, `bad URI ${JSON.stringify(uri)}: ${err.message}`);
    throw err;
  }
}

function optionalInteger(obj: Obj, key: string, at: string, min: number): number | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new RtjsonError(at, `must be an integer >= ${min}`);
  }
  return value;
}
