import type { SipRequest, SipResponse } from '@sipfleet/sip';
import type { RemoteInfo, SendTarget } from '@sipfleet/transport';

/** The layer above: a proxy core or a UA core (RFC 3261 section 17: the "TU"). */
export interface TransactionUser {
  /** A request that matched no server transaction. tx is a new server transaction, or null for an ACK
   *  (a 2xx ACK, which a proxy forwards statelessly). */
  onRequest(req: SipRequest, tx: ServerTransaction | null, remote: RemoteInfo): void;
  /** A CANCEL: the layer has already answered it (200 if it matched an INVITE server tx, 481 otherwise). */
  onCancel(cancel: SipRequest, inviteTx: ServerTransaction): void;
  /** A response that matched no client transaction (e.g. 2xx retransmissions) — a proxy forwards it statelessly. */
  onStrayResponse(res: SipResponse, remote: RemoteInfo): void;
  /**
   * Optional (addition to the contract): a CANCEL that matched no INVITE server transaction on this node.
   * When present, the layer does not answer 481 itself but hands over the CANCEL's own server transaction,
   * so a fleet member can pass the CANCEL to the node that owns the INVITE (or answer 481 itself).
   */
  onUnmatchedCancel?(cancel: SipRequest, tx: ServerTransaction, remote: RemoteInfo): void;
  /**
   * Optional (addition to the contract): an ACK that matched no INVITE server transaction on this node (a 2xx
   * ACK, or the non-2xx ACK of an INVITE another node holds). When present it replaces `onRequest(ack, null)`
   * for those ACKs; an ACK passed to the TU by an Accepted transaction still goes to `onRequest`.
   */
  onUnmatchedAck?(ack: SipRequest, remote: RemoteInfo): void;
}

export interface ClientTransactionHandlers {
  /** Every provisional and final (incl. 2xx retransmissions for INVITE while tx lives). */
  onResponse(res: SipResponse, tx: ClientTransaction): void;
  /** Timer B / F, or 64*T1 after a CANCEL with no final response (section 9.1). Acts like 408. */
  onTimeout(tx: ClientTransaction): void;
  /** Acts like 503 (section 8.1.3.1). */
  onTransportError(tx: ClientTransaction, err: Error): void;
}

export interface ClientTransaction {
  /**
   * Until the final response; reading it later throws `SIPFLEET_ERR_TX_RELEASED` (a lingering
   * transaction keeps only what absorbing retransmissions needs: thousands linger at once).
   */
  readonly request: SipRequest;
  readonly method: string;
  readonly target: SendTarget;
  readonly branch: string;
  readonly state: string;
  readonly isInvite: boolean;
  /** Send CANCEL per section 9.1 once a provisional arrived (no-op for non-INVITE or after a final). */
  cancel(): void;
}

export interface ServerTransaction {
  /** Until the final response is sent; reading it later throws `SIPFLEET_ERR_TX_RELEASED`. */
  readonly request: SipRequest;
  readonly remote: RemoteInfo;
  readonly state: string;
  readonly isInvite: boolean;
  /**
   * Responses after the final are ignored, except further 2xx on an INVITE (RFC 6026 Accepted state).
   * A provisional must not change once sent: an INVITE's retransmission gets it serialised again.
   */
  respond(res: SipResponse): void;
  /**
   * The TU drops the request without answering it (Kamailio's `drop`): the transaction ends now,
   * silently, and is forgotten; a retransmission of the request starts a new one. A no-op once a
   * final response was sent.
   */
  discard(): void;
  readonly finalStatus?: number;
  /** Called once when the transaction ends, for any reason. */
  onTerminated?: () => void;
  /** Optional (addition to the contract): INVITE only, Timer H fired: the ACK never came (section 17.2.1). Before onTerminated. */
  onTimeout?: () => void;
  /** Optional (addition to the contract): sending a response failed (section 17.2.4). Before onTerminated. */
  onTransportError?: (err: Error) => void;
}
