import { createCancel, createResponse, BRANCH_MAGIC_COOKIE, SipResponse } from '@sipfleet/sip';
import type { SipRequest } from '@sipfleet/sip';
import { responseTarget } from '@sipfleet/transport';
import type { MessageSender, RemoteInfo, SendTarget } from '@sipfleet/transport';
import { systemClock } from './clock.js';
import type { Clock } from './clock.js';
import type { TransactionContext } from './context.js';
import { TransactionError } from './errors.js';
import { InviteClientTransaction } from './invite-client-transaction.js';
import { InviteServerTransaction } from './invite-server-transaction.js';
import { detached, isRfc2543Key, serverTransactionKey } from './matching.js';
import { NonInviteClientTransaction } from './non-invite-client-transaction.js';
import { NonInviteServerTransaction } from './non-invite-server-transaction.js';
import { resolveTimers } from './timers.js';
import type { TimerSettings, TimerValues } from './timers.js';
import type { ClientTransaction, ClientTransactionHandlers, TransactionUser } from './types.js';

type ServerTx = InviteServerTransaction | NonInviteServerTransaction;
type ClientTx = InviteClientTransaction | NonInviteClientTransaction;

export interface TransactionLayerOptions {
  sender: MessageSender;
  user: TransactionUser;
  /** @default { T1: 500, T2: 4000, T4: 5000, timerD: 32000 } */
  timers?: Partial<TimerSettings>;
  /** @default systemClock */
  clock?: Clock;
  /** When an INVITE server transaction sends 100 Trying (section 17.2.1). @default 'immediate' (proxy) */
  trying?: 'immediate' | 'after200ms';
  /**
   * Admission control before a request gets a server transaction (addition to the contract): a
   * response returned here is sent statelessly and no transaction is made, so a refused flood
   * costs no memory (Kamailio's `sl_send_reply`). Called for new requests only (never for a
   * retransmission, an ACK or a CANCEL). @default admit everything
   */
  admit?: (req: SipRequest) => SipResponse | undefined;
}

/** The CANCELs the layer sends for `ClientTransaction.cancel()`: their outcome changes nothing (section 9.1). */
const IGNORE_CANCEL_OUTCOME: ClientTransactionHandlers = {
  onResponse: () => undefined,
  onTimeout: () => undefined,
  onTransportError: () => undefined,
};

/**
 * RFC 3261 section 17: matches incoming messages to transactions, creates server transactions for new
 * requests, runs client transactions for requests the TU sends, and answers CANCEL (section 9.2).
 * Synchronous throughout: no promises on the message path.
 */
export class TransactionLayer {
  /** Resolved timer values, named by RFC letter. Addition to the contract. */
  readonly timers: TimerValues;
  /** Metric hook: a retransmission was sent ('request': Timer A/E or a re-sent ACK; 'response': Timer G or an
   *  answer to a retransmitted request). */
  onRetransmission?: (kind: 'request' | 'response') => void;
  /** Metric hook: a response the layer made itself (100 Trying, 200 or 481 to a CANCEL), not the TU's. */
  onResponseSent?: (status: number) => void;
  /** Metric hook (addition to the contract): a message dropped because a header needed for matching is malformed. */
  onMalformed?: (msg: SipRequest | SipResponse, err: unknown) => void;

  readonly #admit: TransactionLayerOptions['admit'];
  /** Server transactions by {@link serverTransactionKey}. */
  readonly #server = new Map<string, ServerTx>();
  /** Client transactions by branch (branches are ours, hence unique), except CANCEL ... */
  readonly #client = new Map<string, ClientTx>();
  /** ... which shares its branch with the INVITE it cancels (section 9.1). */
  readonly #clientCancel = new Map<string, NonInviteClientTransaction>();
  readonly #ctx: TransactionContext;
  readonly #user: TransactionUser;
  readonly #trying: 'immediate' | 'after200ms';
  #closed = false;

  constructor(opts: TransactionLayerOptions) {
    this.timers = resolveTimers(opts.timers);
    this.#user = opts.user;
    this.#trying = opts.trying ?? 'immediate';
    const server = this.#server;
    const client = this.#client;
    const clientCancel = this.#clientCancel;
    this.#admit = opts.admit;
    this.#ctx = {
      sender: opts.sender,
      clock: opts.clock ?? systemClock,
      timers: this.timers,
      user: opts.user,
      retransmitted: (kind) => this.onRetransmission?.(kind),
      responded: (status) => this.onResponseSent?.(status),
      serverTerminated: (key, tx) => {
        if (server.get(key) === tx) server.delete(key);
      },
      clientTerminated: (branch, isCancel, tx) => {
        const table = isCancel ? clientCancel : client;
        if (table.get(branch) === tx) table.delete(branch);
      },
      sendCancel: (invite) => this.#sendCancel(invite),
    };
  }

  /** Live transactions (for the memory-bounded test and metrics). */
  get counts(): { server: number; client: number } {
    return { server: this.#server.size, client: this.#client.size + this.#clientCancel.size };
  }

  /** A message from the transport, already parsed, with received/rport applied to a request's top Via. */
  receive(msg: SipRequest | SipResponse, remote: RemoteInfo): void {
    if (this.#closed) return;
    if (msg instanceof SipResponse) this.#receiveResponse(msg, remote);
    else this.#receiveRequest(msg, remote);
  }

  /**
   * Starts a client transaction. The request must carry its top Via with a fresh magic-cookie branch (the TU
   * builds the Via: only it knows the sent-by to advertise). ACK is not sent in a transaction (2xx ACKs go
   * straight to the sender; non-2xx ACKs are generated here). From here on the request is the
   * transaction's and must not change: a retransmission serialises it again. Throws {@link TransactionError}.
   */
  sendRequest(
    req: SipRequest,
    target: SendTarget,
    handlers: ClientTransactionHandlers,
  ): ClientTransaction {
    if (this.#closed)
      throw new TransactionError('SIPFLEET_ERR_TX_CLOSED', 'transaction layer is closed');
    const method = req.method;
    if (method === 'ACK') {
      throw new TransactionError('SIPFLEET_ERR_TX_ACK', 'ACK is not sent in a client transaction');
    }
    const branch = req.topVia?.branch;
    if (branch === undefined || !branch.startsWith(BRANCH_MAGIC_COOKIE)) {
      throw new TransactionError(
        'SIPFLEET_ERR_TX_BRANCH',
        'request needs a top Via whose branch starts with z9hG4bK (section 8.1.1.7)',
      );
    }
    if (method === 'CANCEL') {
      if (this.#clientCancel.has(branch)) throw duplicate(branch, method);
      const tx = new NonInviteClientTransaction(this.#ctx, req, target, branch, handlers);
      this.#clientCancel.set(branch, tx);
      tx.start();
      return tx;
    }
    if (this.#client.has(branch)) throw duplicate(branch, method);
    const tx =
      method === 'INVITE'
        ? new InviteClientTransaction(this.#ctx, req, target, branch, handlers)
        : new NonInviteClientTransaction(this.#ctx, req, target, branch, handlers);
    this.#client.set(branch, tx);
    tx.start();
    return tx;
  }

  /** Stops every timer and forgets every transaction, without callbacks. Later messages are ignored. */
  close(): void {
    this.#closed = true;
    for (const tx of this.#server.values()) tx.dispose();
    for (const tx of this.#client.values()) tx.dispose();
    for (const tx of this.#clientCancel.values()) tx.dispose();
    this.#server.clear();
    this.#client.clear();
    this.#clientCancel.clear();
  }

  /** Section 17.1.3: the top Via branch and the CSeq method pick the client transaction. */
  #receiveResponse(res: SipResponse, remote: RemoteInfo): void {
    let tx: ClientTx | undefined;
    try {
      const branch = res.topVia?.branch;
      if (branch !== undefined) {
        const method = res.cseq.method;
        tx = method === 'CANCEL' ? this.#clientCancel.get(branch) : this.#client.get(branch);
        if (tx !== undefined && tx.method !== method) tx = undefined;
      }
    } catch (err) {
      this.onMalformed?.(res, err);
      return;
    }
    if (tx !== undefined) tx.receiveResponse(res);
    else this.#user.onStrayResponse(res, remote);
  }

  /** Section 17.2.3 matching, then the retransmission, ACK, CANCEL or new-transaction path. */
  #receiveRequest(req: SipRequest, remote: RemoteInfo): void {
    const method = req.method;
    let key: string;
    let tx: ServerTx | undefined;
    try {
      key = serverTransactionKey(req, method === 'ACK' ? 'INVITE' : method);
      tx = this.#server.get(key);
      if (method === 'ACK' && isRfc2543Key(key)) tx = this.#matchRfc2543Ack(req, tx);
    } catch (err) {
      this.onMalformed?.(req, err);
      return;
    }

    if (method === 'ACK') {
      // A non-2xx ACK is absorbed by its INVITE transaction; anything else is a 2xx ACK, end to end (section 17.1.1.3),
      // unless the TU takes unmatched ACKs itself (onUnmatchedAck: another node may hold the INVITE).
      if (tx instanceof InviteServerTransaction) tx.receiveAck(req, remote);
      else if (this.#user.onUnmatchedAck !== undefined) this.#user.onUnmatchedAck(req, remote);
      else this.#user.onRequest(req, null, remote);
      return;
    }
    if (tx !== undefined) {
      tx.receiveRequest();
      return;
    }

    let target: SendTarget;
    let inviteKey: string | undefined;
    try {
      target = responseTarget(req.topVia as NonNullable<SipRequest['topVia']>, remote);
      if (method === 'CANCEL') inviteKey = serverTransactionKey(req, 'INVITE');
    } catch (err) {
      this.onMalformed?.(req, err);
      return;
    }

    const refusal = inviteKey === undefined ? this.#admit?.(req) : undefined;
    if (refusal !== undefined) {
      this.#ctx.sender.send(target, refusal.toBuffer());
      this.onResponseSent?.(refusal.status);
      return;
    }

    key = detached(key);
    if (method === 'INVITE') {
      const invite = new InviteServerTransaction(this.#ctx, req, remote, key, target);
      this.#server.set(key, invite);
      invite.start(this.#trying);
      this.#user.onRequest(req, invite, remote);
      return;
    }
    const created = new NonInviteServerTransaction(this.#ctx, req, remote, key, target);
    this.#server.set(key, created);
    if (inviteKey !== undefined) this.#receiveCancel(req, created, inviteKey, remote);
    else this.#user.onRequest(req, created, remote);
  }

  /**
   * Section 9.2: the CANCEL gets a transaction of its own; the INVITE it cancels is found "assuming that the
   * request method is anything but CANCEL or ACK and applying the transaction matching procedures of
   * Section 17.2.3". Matched: 200, then the TU hears of it (section 16.10). Unmatched: 481, unless the TU
   * takes unmatched CANCELs itself (onUnmatchedCancel, for a fleet where another node holds the INVITE).
   */
  #receiveCancel(
    cancel: SipRequest,
    tx: NonInviteServerTransaction,
    inviteKey: string,
    remote: RemoteInfo,
  ): void {
    const invite = this.#server.get(inviteKey);
    if (invite instanceof InviteServerTransaction) {
      // "the To tag of the response to the CANCEL and the To tag in the response to the original request
      // SHOULD be the same".
      const toTag = invite.toTag;
      tx.respond(
        createResponse(cancel, 200, undefined, toTag !== undefined ? { toTag } : undefined),
      );
      this.onResponseSent?.(200);
      this.#user.onCancel(cancel, invite);
      return;
    }
    if (this.#user.onUnmatchedCancel !== undefined) {
      this.#user.onUnmatchedCancel(cancel, tx, remote);
      return;
    }
    tx.respond(createResponse(cancel, 481));
    this.onResponseSent?.(481);
  }

  /**
   * Section 17.2.3, RFC 2543 rules for ACK: "the To tag of the ACK matches the To tag of the response sent by
   * the server transaction". The INVITE had that tag already (a re-INVITE: the key built with the ACK's tag
   * finds it) or had none (an initial INVITE: look again with an empty To tag).
   */
  #matchRfc2543Ack(
    ack: SipRequest,
    found: ServerTx | undefined,
  ): InviteServerTransaction | undefined {
    const tag = ack.to.tag;
    if (found instanceof InviteServerTransaction && found.toTag === tag) return found;
    const initial = this.#server.get(serverTransactionKey(ack, 'INVITE', true));
    return initial instanceof InviteServerTransaction && initial.toTag === tag
      ? initial
      : undefined;
  }

  #sendCancel(invite: ClientTransaction): void {
    if (this.#closed || this.#clientCancel.has(invite.branch)) return;
    this.sendRequest(createCancel(invite.request), invite.target, IGNORE_CANCEL_OUTCOME);
  }
}

function duplicate(branch: string, method: string): TransactionError {
  return new TransactionError(
    'SIPFLEET_ERR_TX_DUPLICATE',
    `a ${method} client transaction with branch ${branch} is already running`,
  );
}
