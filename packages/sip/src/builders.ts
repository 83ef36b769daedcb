// Messages a proxy builds itself: responses (RFC 3261 section 8.2.6), CANCEL (9.1), ACK for a non-2xx
// final response (17.1.1.3), and the random identifiers they need (8.1.1.7, 19.3).
import { createHash, randomFillSync } from 'node:crypto';
import { SipRequest, SipResponse } from './message.js';
import { defaultReason } from './reasons.js';

/** RFC 3261 section 8.1.1.7: branch IDs of RFC 3261 elements "MUST always begin with" this cookie. */
export const BRANCH_MAGIC_COOKIE = 'z9hG4bK';

// Random bytes are drawn in blocks: one syscall per 256 identifiers instead of one each.
const pool = Buffer.alloc(4096);
let poolAt = pool.length;
function randomHex(bytes: number): string {
  if (poolAt + bytes > pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  poolAt += bytes;
  return pool.toString('hex', poolAt - bytes, poolAt);
}

/** A new RFC 3261 branch: the magic cookie plus 64 random bits (unique across a fleet with no coordination). */
export function newBranch(): string {
  return BRANCH_MAGIC_COOKIE + randomHex(8);
}

/** A new From/To tag (RFC 3261 section 19.3: at least 32 bits of randomness; we use 64). */
export function newTag(): string {
  return randomHex(8);
}

export interface ResponseOptions {
  /**
   * Added to To when the request's To has no tag (RFC 3261 section 8.2.6.2).
   * @default a hash of the request's top Via, From and Call-ID, for every status but 100
   */
  toTag?: string;
  /** Extra fields, appended in order. */
  headers?: [string, string][];
  body?: Buffer | string;
  contentType?: string;
}

/**
 * The To tag of a response made for `req` without a tag of its own: a hash of the request's top Via,
 * From and Call-ID, so a retransmitted request and its CANCEL get the same tag ("the To tag of the
 * response to the CANCEL and the To tag in the response to the original request SHOULD be the same",
 * RFC 3261 section 9.2) wherever in a fleet they are answered (Kamailio's `sl` module does likewise).
 */
function responseTag(req: SipRequest): string {
  const hash = createHash('sha1');
  hash.update(req.getHeaders('via')[0] ?? '');
  hash.update('\n');
  hash.update(req.getHeader('from') ?? '');
  hash.update('\n');
  hash.update(req.getHeader('call-id') ?? '');
  return hash.digest('hex').slice(0, 16);
}

/** False when the request's To has a tag, or cannot be read (the response then copies it as is). */
function toNeedsTag(req: SipRequest): boolean {
  try {
    return req.to.tag === undefined;
  } catch {
    return false;
  }
}

/**
 * RFC 3261 section 8.2.6.2: "the From field of the response MUST equal the From header field of the
 * request", likewise Call-ID, CSeq and the Via fields "in the same order"; when the request's To has no
 * tag, "the UAS MUST add a tag to the To header field in the response (with the exception of the 100
 * (Trying) response, in which a tag MAY be present)". Values are copied as received (unfolded).
 */
export function createResponse(
  req: SipRequest,
  status: number,
  reason?: string,
  opts?: ResponseOptions,
): SipResponse {
  const res = new SipResponse(status, reason ?? defaultReason(status));
  for (const via of req.getHeaders('via')) res.appendHeader('Via', via);
  res.appendHeader('From', req.getHeader('from') ?? '');
  const to = req.getHeader('to') ?? '';
  const tag = toNeedsTag(req)
    ? (opts?.toTag ?? (status === 100 ? undefined : responseTag(req)))
    : undefined;
  res.appendHeader('To', tag === undefined ? to : `${to};tag=${tag}`);
  res.appendHeader('Call-ID', req.getHeader('call-id') ?? '');
  res.appendHeader('CSeq', req.getHeader('cseq') ?? '');
  for (const [name, value] of opts?.headers ?? []) res.appendHeader(name, value);
  res.appendHeader('Content-Length', '0');
  if (opts?.body !== undefined) res.setBody(opts.body, opts.contentType);
  return res;
}

/** Fields shared by CANCEL and non-2xx ACK: one Via (the request's top), Route set, Max-Forwards. */
function hopRequest(invite: SipRequest, method: string, to: string): SipRequest {
  const req = new SipRequest(method, invite.uri);
  const topVia = invite.getHeaders('via')[0];
  if (topVia !== undefined) req.appendHeader('Via', topVia);
  req.appendHeader('Max-Forwards', '70');
  for (const route of invite.getHeaders('route')) req.appendHeader('Route', route);
  req.appendHeader('From', invite.getHeader('from') ?? '');
  req.appendHeader('To', to);
  req.appendHeader('Call-ID', invite.getHeader('call-id') ?? '');
  req.appendHeader('CSeq', `${invite.cseq.seq} ${method}`);
  req.appendHeader('Content-Length', '0');
  return req;
}

/**
 * RFC 3261 section 9.1: same Request-URI, Call-ID, To, From and CSeq number as the request, method CANCEL,
 * "a single Via header field value matching the top Via value in the request being cancelled", and its
 * Route header field values.
 */
export function createCancel(invite: SipRequest): SipRequest {
  return hopRequest(invite, 'CANCEL', invite.getHeader('to') ?? '');
}

/**
 * RFC 3261 section 17.1.1.3: the ACK for a non-2xx final response has the INVITE's Request-URI, Call-ID,
 * From, CSeq number and top Via only, "the To header field in the ACK MUST equal the To header field in the
 * response being acknowledged", and the INVITE's Route set.
 */
export function createAckForNon2xx(invite: SipRequest, response: SipResponse): SipRequest {
  return hopRequest(invite, 'ACK', response.getHeader('to') ?? '');
}
