// From/To rewrites kept across the dialog, the way Kamailio's uac module does it with its
// Record-Route encoding (uac_replace_from/uac_replace_to with `restore_mode` "auto"): the branch
// that rewrites From or To stores the before/after name-addrs in a parameter of our
// Record-Route; every in-dialog request brings it back in its Route, and the edge maps it:
//   from the caller (its From tag is the dialog's original one): forward, to the rewritten values;
//   from the callee: back, its From (the rewritten To) to the original To, its To (the rewritten
//   From) to the original From.
// Responses to those requests get the sender's own From/To back (restoreFromTo), as for the
// dialog-creating request. Tags and other parameters are never touched.
import type { SipMessage, SipRequest } from '@sipfleet/sip';
import { rawUri, rewrite } from './branch-update.js';

/** The Record-Route parameter (base64url JSON, within RFC 3261 URI parameter characters). */
export const DIALOG_PARAM = 'rtjsonft';

/** Display name (absent: none) and URI of a From/To. */
interface Addr {
  d?: string;
  u: string;
}

/** What one dialog's rewrite was. `from`/`to`: [as the caller sent it, as the callee got it]. */
export interface DialogRewrite {
  fromTag: string;
  from?: [Addr, Addr];
  to?: [Addr, Addr];
}

function addrOf(msg: SipMessage, name: 'From' | 'To'): Addr {
  const display = (name === 'From' ? msg.from : msg.to).displayName;
  const u = rawUri(msg.getHeader(name) ?? '');
  return display === undefined || display === '' ? { u } : { d: display, u };
}

const same = (a: Addr, b: Addr): boolean => a.u === b.u && (a.d ?? '') === (b.d ?? '');

/** The From/To of a request, read before a branch's rewrite, to compare after it. */
export function fromTo(req: SipRequest): { from: Addr; to: Addr } {
  return { from: addrOf(req, 'From'), to: addrOf(req, 'To') };
}

/** The parameter value for a branch whose From/To went from `before` to `req`'s; undefined if none changed. */
export function encodeDialogRewrite(
  before: { from: Addr; to: Addr },
  req: SipRequest,
): string | undefined {
  const after = fromTo(req);
  const rw: DialogRewrite = { fromTag: req.from.tag ?? '' };
  if (!same(before.from, after.from)) rw.from = [before.from, after.from];
  if (!same(before.to, after.to)) rw.to = [before.to, after.to];
  if (rw.from === undefined && rw.to === undefined) return undefined;
  return Buffer.from(JSON.stringify(rw)).toString('base64url');
}

function isAddr(value: unknown): value is Addr {
  if (typeof value !== 'object' || value === null) return false;
  const { d, u } = value as Record<string, unknown>;
  // The parameter came back from a UA: nothing that could break out of the header.
  const clean = (s: unknown) => typeof s === 'string' && !/[\r\n\0<>]/.test(s);
  return clean(u) && u !== '' && (d === undefined || clean(d));
}

function isPair(value: unknown): value is [Addr, Addr] {
  return Array.isArray(value) && value.length === 2 && isAddr(value[0]) && isAddr(value[1]);
}

/** The parameter's value decoded; undefined when it is not one of ours (a UA may send anything). */
export function decodeDialogRewrite(text: string): DialogRewrite | undefined {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { fromTag, from, to } = value as Record<string, unknown>;
  if (typeof fromTag !== 'string') return undefined;
  if (from !== undefined && !isPair(from)) return undefined;
  if (to !== undefined && !isPair(to)) return undefined;
  const rw: DialogRewrite = { fromTag };
  if (from !== undefined) rw.from = from;
  if (to !== undefined) rw.to = to;
  return rw;
}

function set(req: SipRequest, name: 'From' | 'To', addr: Addr): void {
  rewrite(req, name, { display: addr.d ?? '', uri: addr.u });
}

/** Maps an in-dialog request's From/To (a branch copy) forward or back, by who sent it. */
export function applyDialogRewrite(req: SipRequest, rw: DialogRewrite): void {
  if (req.from.tag === rw.fromTag) {
    if (rw.from) set(req, 'From', rw.from[1]);
    if (rw.to) set(req, 'To', rw.to[1]);
  } else {
    if (rw.to) set(req, 'From', rw.to[0]);
    if (rw.from) set(req, 'To', rw.from[0]);
  }
}
