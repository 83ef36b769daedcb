import { parseUri, SipErrorCode, SipParseError } from '@sipfleet/sip';
import type { SipRequest, SipUri } from '@sipfleet/sip';
import { hashInBranch, loopHash } from './loop-detection.js';
import type { Myself } from './myself.js';
import type { OwnAddresses } from './own-addresses.js';

/** A request the proxy answers itself instead of forwarding: status, reason, extra headers. */
export interface Refusal {
  status: number;
  reason: string;
  headers?: [string, string][];
}

/** What Route pre-processing found (RFC 3261 §16.4). */
export interface RouteInfo {
  /** The request came with a Route set (Kamailio's `loose_route()` result). */
  hadRouteSet: boolean;
  /** Our own Route entry, consumed; its params are what `recordRoute(params)` put there. */
  ownRoute?: SipUri;
  /** The user part of one of our Route entries: a flow token (see `Forwarder.flowTarget`). */
  flowToken?: string;
}

/**
 * A header field that failed its lazy parse once the request was in the proxy's hands: a request
 * with a transaction is answered 400 naming the field (RFC 3261 §16.3 step 1, "reasonable
 * syntax"); elsewhere (a 2xx ACK) it is a parse error like any other.
 */
export class BadHeader extends SipParseError {
  constructor(
    readonly header: string,
    cause: unknown,
  ) {
    super(SipErrorCode.HEADER, `malformed ${header} header`);
    this.name = 'BadHeader';
    this.cause = cause;
  }

  get refusal(): Refusal {
    return { status: 400, reason: `Bad ${this.header}` };
  }
}

/** Runs a lazy parse of `header`; a parse failure becomes a {@link BadHeader}. */
export function parsed<T>(header: string, read: () => T): T {
  try {
    return read();
  } catch (err) {
    throw new BadHeader(header, err);
  }
}

/**
 * Kamailio's checks before `t_relay()` (sanity, `mf_process_maxfwd_header`, `loose_route`) for a
 * request that gets a transaction: §16.3 validation, §16.4 Route pre-processing, then the
 * Max-Forwards decrement of §16.6 step 3 (done once here, so every branch copies it).
 * @param maxForwards the Max-Forwards value for a request that has none
 */
export function checkRequest(
  req: SipRequest,
  own: OwnAddresses,
  maxForwards: string,
): Refusal | RouteInfo {
  try {
    const refusal = validate(req, own);
    if (refusal !== undefined) return refusal;
    const routes = preprocessRoutes(req, own.myself);
    decrementMaxForwards(req, maxForwards);
    return routes;
  } catch (err) {
    if (err instanceof BadHeader) return err.refusal;
    throw err;
  }
}

/** §16.3: returns the refusal when the request must not be forwarded. */
export function validate(req: SipRequest, own: OwnAddresses): Refusal | undefined {
  // Steps 1–2: the Request-URI must parse and have a scheme we understand.
  try {
    void req.parsedUri;
  } catch {
    return { status: 400, reason: 'Bad Request-URI' };
  }
  // Step 3: Max-Forwards.
  if (parsed('Max-Forwards', () => req.maxForwards) === 0) {
    return { status: 483, reason: 'Too Many Hops' };
  }
  // Step 4: loop detection, with the hash our own branches carry (§16.6 step 8); hashed only when
  // one of the Vias is ours, which a request straight from a client never has.
  let hash: string | undefined;
  for (const via of parsed('Via', () => req.vias)) {
    if (own.isOwnVia(via) && hashInBranch(via.branch) === (hash ??= loopHash(req))) {
      return { status: 482, reason: 'Loop Detected' };
    }
  }
  // Step 5: Proxy-Require: we support no extensions that a proxy must understand.
  const required = req.getHeaders('proxy-require');
  if (required.length > 0) {
    return {
      status: 420,
      reason: 'Bad Extension',
      headers: [['Unsupported', required.join(', ')]],
    };
  }
  return undefined;
}

/**
 * §16.4: a strict router before us left our URI in the Request-URI (restore the real one from the
 * last Route), and our own Route entries come off the top. Throws {@link BadHeader} for a Route
 * that does not parse.
 */
export function preprocessRoutes(req: SipRequest, myself: Myself): RouteInfo {
  if (!req.hasHeader('route')) return { hadRouteSet: false };
  const ruri = req.parsedUri;
  if (ruri.user === undefined && myself.matches(ruri)) {
    const routes = req.getHeaders('route');
    const last = routes.pop();
    // The restored Request-URI goes downstream as written: one that does not parse is a bad Route.
    const restored = last === undefined ? undefined : stripAngles(last);
    if (restored !== undefined) parsed('Route', () => parseUri(restored));
    req.removeHeader('route');
    for (const r of routes) req.appendHeader('Route', r);
    if (restored !== undefined) req.setUri(restored);
  }
  // Our own Route entries (one, or two after double record-routing) come off the top.
  let ownRoute: SipUri | undefined;
  let flowToken: string | undefined;
  for (let i = 0; i < 2; i++) {
    const first = parsed('Route', () => {
      const route = req.routes[0];
      return route === undefined ? undefined : route.uri;
    });
    if (first === undefined || !myself.matches(first)) break;
    ownRoute ??= first;
    flowToken ??= first.user;
    req.removeFirstValue('route');
  }
  if (ownRoute === undefined) return { hadRouteSet: true };
  return flowToken === undefined
    ? { hadRouteSet: true, ownRoute }
    : { hadRouteSet: true, ownRoute, flowToken };
}

/** §16.6 step 3: one less, or our default when the request had none. */
export function decrementMaxForwards(req: SipRequest, initial: string): void {
  const mf = req.maxForwards;
  req.setHeader('Max-Forwards', mf === undefined ? initial : String(mf - 1));
}

function stripAngles(value: string): string {
  const lt = value.indexOf('<');
  const gt = value.indexOf('>', lt + 1);
  return lt >= 0 && gt > lt ? value.slice(lt + 1, gt) : value.trim();
}
