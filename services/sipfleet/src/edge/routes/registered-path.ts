import type { Destination } from '@sipfleet/dispatcher';
import { registeredPath } from '@sipfleet/keepalive';
import type { RoutingContext } from '@sipfleet/proxy';
import { parseNameAddr } from '@sipfleet/sip';

/** What the branch before set up, so a failover to another destination can undo it. */
export interface PathState {
  /** The Request-URI as the route found it. */
  readonly requestUri: string;
  /** Route headers from a Path were added for the last branch. */
  routes: boolean;
}

/**
 * `$du` for the next branch. A destination that registered through proxies (a stored Path,
 * RFC 3327) is reached as Kamailio's registrar `lookup()` reaches it: the Contact becomes the
 * Request-URI, the Path values the route set (Route headers, in the order received, RFC 3327
 * §5.3), and the request goes to the first of them, which the last branch's changes are
 * undone before. Every other destination is a plain `$du`.
 */
export function relayTo(ctx: RoutingContext, dst: Destination, state: PathState): void {
  if (state.routes) {
    ctx.removeHeader('Route');
    ctx.setRequestUri(state.requestUri);
    state.routes = false;
  }
  const path = registeredPath(dst);
  const first = path?.[0];
  if (path === undefined || first === undefined) {
    ctx.setDestination(dst.uri);
    return;
  }
  ctx.setRequestUri(dst.uri);
  for (const hop of path) ctx.appendHeader('Route', hop);
  ctx.setDestination(parseNameAddr(first).uri.toString());
  state.routes = true;
}
