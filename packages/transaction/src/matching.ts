import { BRANCH_MAGIC_COOKIE } from '@sipfleet/sip';
import type { SipRequest } from '@sipfleet/sip';

/**
 * Keys of the server transaction table (RFC 3261 section 17.2.3). `method` is the method of the transaction
 * looked for: 'INVITE' for an INVITE or an ACK ("the method of the request matches the one that created the
 * transaction, except for ACK, where the method of the request that created the transaction is INVITE"),
 * 'CANCEL' for a CANCEL's own transaction, and 'INVITE' again for the transaction a CANCEL cancels (section
 * 9.2). Reads lazily parsed headers, so it throws the parser's SipParseError on a malformed one.
 *
 * With the magic cookie: branch + sent-by + method. Compared byte for byte (host case included): a
 * retransmission repeats the Via exactly.
 *
 * Without it (RFC 2543 peers): Request-URI, From tag, Call-ID, CSeq number, top Via and method. The To tag is
 * checked after the lookup with {@link rfc2543ToTagMatches}, because an ACK carries the tag of the response
 * rather than the one of the INVITE.
 */
export function serverTransactionKey(req: SipRequest, method: string): string {
  const via = req.topVia;
  if (via === undefined) throw new RangeError('request without Via');
  const branch = via.branch;
  if (branch !== undefined && branch.startsWith(BRANCH_MAGIC_COOKIE)) {
    return `${branch}\n${via.host}:${via.port ?? ''}\n${method}`;
  }
  return `\u0001${req.uri}\n${req.from.tag ?? ''}\n${req.callId}\n${req.cseq.seq}\n${via.toString()}\n${method}`;
}

/** Whether a key came from the RFC 2543 branch of {@link serverTransactionKey}. */
export function isRfc2543Key(key: string): boolean {
  return key.charCodeAt(0) === 1;
}

/**
 * Section 17.2.3, RFC 2543 rules: the To tag of an INVITE retransmission, a CANCEL or another non-INVITE
 * retransmission must equal the To tag of the request that created the transaction; the one of an ACK must
 * equal the To tag of the response the transaction sent.
 */
export function rfc2543ToTagMatches(req: SipRequest, expected: string | undefined): boolean {
  return req.to.tag === expected;
}
