import { BRANCH_MAGIC_COOKIE } from '@sipfleet/sip';
import type { SipRequest } from '@sipfleet/sip';

/**
 * Keys of the server transaction table (RFC 3261 section 17.2.3). `method` is the method of the transaction
 * looked for: 'INVITE' for an INVITE or an ACK ("the method of the request matches the one that created the
 * transaction, except for ACK, where the method of the request that created the transaction is INVITE"),
 * 'CANCEL' for a CANCEL's own transaction, and 'INVITE' again for the transaction a CANCEL cancels (section
 * 9.2: "assuming that the request method is anything but CANCEL or ACK"). Reads lazily parsed headers, so it
 * throws the parser's SipParseError on a malformed one.
 *
 * With the magic cookie: branch + sent-by + method, compared byte for byte (host case included): a
 * retransmission repeats its Via exactly.
 *
 * Without it (RFC 2543 peers): Request-URI, To tag, From tag, Call-ID, CSeq number, top Via and method.
 * An ACK carries the To tag of the response rather than the INVITE's, so for an ACK the caller may also look
 * up the key of an INVITE without To tag (`withoutToTag`) and checks the response's tag after the lookup.
 *
 * @param withoutToTag RFC 2543 keys only: leave the request's To tag out of the key. @default false
 */
export function serverTransactionKey(
  req: SipRequest,
  method: string,
  withoutToTag = false,
): string {
  const via = req.topVia;
  if (via === undefined) throw new RangeError('request without Via');
  const branch = via.branch;
  if (branch !== undefined && branch.startsWith(BRANCH_MAGIC_COOKIE)) {
    return `${branch}\n${via.host}:${via.port ?? ''}\n${method}`;
  }
  const tag = withoutToTag ? '' : (req.to.tag ?? '');
  return `\u0001${req.uri}\n${tag}\n${req.from.tag ?? ''}\n${req.callId}\n${req.cseq.seq}\n${via.toString()}\n${method}`;
}

/**
 * A string to keep: a copy of its own. The template literal above makes a V8 cons string that keeps
 * its parts, and a branch or a tag is a slice of the received message's whole text: kept as is, it
 * would keep that text alive for as long as its transaction lingers. Latin1, as the messages are.
 */
export function detached(text: string): string {
  return Buffer.from(text, 'latin1').toString('latin1');
}

/** Whether a key came from the RFC 2543 branch of {@link serverTransactionKey}. */
export function isRfc2543Key(key: string): boolean {
  return key.charCodeAt(0) === 1;
}
