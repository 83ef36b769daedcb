// What the edge tells the routing API about a request (the body of the POST). Field names follow
// the usual rtjson deployments (Wazo router-confd's `sip-routing` event); values are strings
// as written in the message, empty when absent, so an API never has to parse SIP.
import type { RoutingContext } from '@sipfleet/proxy';

export interface RoutingQuery {
  event: 'sip-routing';
  source_ip: string;
  source_port: number;
  /** `udp` or `tcp`. */
  transport: string;
  /** The username of Authorization / Proxy-Authorization (credentials the caller offered), or ''. */
  auth: string;
  call_id: string;
  from_name: string;
  from_uri: string;
  from_tag: string;
  to_name: string;
  to_uri: string;
  to_tag: string;
  ruri: string;
  method: string;
  /** Fields a user hook added (`extraQuery`). */
  [extra: string]: unknown;
}

/** The username parameter of a Digest credentials header (RFC 3261 §22.4, RFC 7616). */
export function credentialsUser(value: string | undefined): string {
  if (value === undefined) return '';
  const m = /(?:^|[\s,])username\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/i.exec(value);
  if (!m) return '';
  return m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] ?? '');
}

/** Raw URI text of a From/To value without parsing it (unknown schemes pass, RFC 4475 §3.3.4). */
function addrUri(text: string | undefined): string {
  if (text === undefined) return '';
  const lt = text.indexOf('<');
  if (lt >= 0) {
    const gt = text.indexOf('>', lt + 1);
    return gt > lt ? text.slice(lt + 1, gt) : '';
  }
  const semi = text.indexOf(';');
  return (semi < 0 ? text : text.slice(0, semi)).trim();
}

export function buildQuery(ctx: RoutingContext): RoutingQuery {
  const req = ctx.request;
  const from = req.from;
  const to = req.to;
  return {
    event: 'sip-routing',
    source_ip: ctx.source.address,
    source_port: ctx.source.port,
    transport: ctx.source.protocol,
    auth: credentialsUser(req.getHeader('proxy-authorization') ?? req.getHeader('authorization')),
    call_id: ctx.callId,
    from_name: from.displayName ?? '',
    from_uri: addrUri(req.getHeader('from')),
    from_tag: from.tag ?? '',
    to_name: to.displayName ?? '',
    to_uri: addrUri(req.getHeader('to')),
    to_tag: to.tag ?? '',
    ruri: ctx.requestUri,
    method: ctx.method,
  };
}
