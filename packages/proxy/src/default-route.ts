import type { RequestContext, RoutingHooks } from './hooks.js';

export interface DefaultRouteOptions {
  /**
   * Static next hop (Kamailio `$du`) for initial requests addressed to the proxy itself. Without
   * one, such requests get `404 No destination`.
   */
  destination?: string;
  /**
   * Relay initial requests whose Request-URI is not ours too (to `destination` when set, else to
   * the R-URI). Off, they are refused `403 Relaying Denied`, as Kamailio's default config refuses
   * `uri!=myself` (its AUTH route: "not an open relay here"). @default false
   */
  allowRelay?: boolean;
}

/** Methods that create dialogs and so get our Record-Route (Kamailio's default config). */
const RECORD_ROUTED = new Set(['INVITE', 'SUBSCRIBE', 'REFER', 'NOTIFY']);

/**
 * What a plain record-routing proxy does (Kamailio's default `request_route`, minus
 * registrar/auth): in-dialog requests follow their Route set, OPTIONS to the proxy itself are
 * answered 200 (keepalive), initial requests are record-routed and relayed.
 */
export function withinDialog(ctx: RequestContext): boolean {
  if (!ctx.hasToTag()) return false;
  if (ctx.looseRoute()) ctx.relay();
  else if (ctx.isMethod('ACK'))
    ctx.drop(); // a stray ACK: nothing waits for it
  else ctx.reply(404, 'Not here');
  return true;
}

export function defaultRoute(opts: DefaultRouteOptions = {}): RoutingHooks {
  return {
    request(ctx) {
      if (withinDialog(ctx)) return;
      const forUs = ctx.uriIsMyself();
      if (!forUs && opts.allowRelay !== true) {
        // An ACK has no answer (RFC 3261 §17.2.3: it belongs to the INVITE's transaction).
        if (ctx.isMethod('ACK')) ctx.drop();
        else ctx.reply(403, 'Relaying Denied');
        return;
      }
      if (forUs && ctx.isMethod('OPTIONS') && ctx.request.parsedUri.user === undefined) {
        ctx.reply(200, 'OK');
        return;
      }
      if (RECORD_ROUTED.has(ctx.method)) ctx.recordRoute();
      if (opts.destination !== undefined) ctx.setDestination(opts.destination);
      else if (forUs) {
        ctx.reply(404, 'No destination');
        return;
      }
      ctx.relay();
    },
  };
}
