// rtjson_update_branch(): the per-destination header changes, applied to one branch's own copy of
// the request. From/To are rewritten the way Kamailio's uac_replace_from()/uac_replace_to() do it
// (display name and URI replaced, tag and other parameters kept), extra headers appended.
import type { SipMessage, SipRequest } from '@sipfleet/sip';
import type { NameAddrRewrite, Route } from './document.js';

/** Applies a route's header changes to `req` (a branch copy). Returns whether From or To changed. */
export function updateBranch(req: SipRequest, route: Route): boolean {
  let rewritten = false;
  const { from, to, extra } = route.headers;
  if (from !== undefined) rewritten = rewrite(req, 'From', from) || rewritten;
  if (to !== undefined) rewritten = rewrite(req, 'To', to) || rewritten;
  for (const [name, value] of extra) req.appendHeader(name, value);
  // RFC 3327 §5: a Path vector becomes Route entries in front of the existing ones.
  const path = route.path ?? [];
  for (let i = path.length - 1; i >= 0; i--) req.prependHeader('Route', `<${path[i]}>`);
  return rewritten;
}

/** `uac_replace_from`/`_to` on one message: display and URI replaced, tag and parameters kept. */
export function rewrite(msg: SipMessage, name: 'From' | 'To', change: NameAddrRewrite): boolean {
  if (change.display === undefined && change.uri === undefined) return false;
  // The cached value: display name and parameters without parsing the URI (it may be any scheme).
  const current = name === 'From' ? msg.from : msg.to;
  const display = change.display ?? current.displayName;
  const uri = change.uri ?? rawUri(msg.getHeader(name) ?? '');
  msg.setHeader(name, renderNameAddr(display, uri, current.params));
  return true;
}

/** The URI of a From/To value without parsing it (any scheme). */
export function rawUri(value: string): string {
  const lt = value.indexOf('<');
  const gt = value.indexOf('>', lt + 1);
  if (lt >= 0 && gt > lt) return value.slice(lt + 1, gt);
  const semi = value.indexOf(';');
  return (semi < 0 ? value : value.slice(0, semi)).trim();
}

/** `"display" <uri>;params` — the display name always quoted (RFC 3261 §25.1 quoted-string). */
export function renderNameAddr(
  display: string | undefined,
  uri: string,
  params: ReadonlyMap<string, string | null>,
): string {
  let out =
    display === undefined || display === '' ? '' : `"${display.replace(/(["\\])/g, '\\$1')}" `;
  out += `<${uri}>`;
  for (const [key, value] of params) out += value === null ? `;${key}` : `;${key}=${value}`;
  return out;
}

/**
 * Kamailio's uac "restore": a response carries the From/To the caller sent, not the rewritten
 * ones (the UAS's To tag kept), so the caller's dialog state matches what it sent.
 */
export function restoreFromTo(res: SipMessage, original: SipRequest): void {
  const from = original.getHeader('from');
  if (from !== undefined) res.setHeader('From', from);
  const to = original.getHeader('to');
  if (to === undefined) return;
  const tag = res.to.tag;
  res.setHeader('To', tag === undefined || original.to.tag !== undefined ? to : `${to};tag=${tag}`);
}
