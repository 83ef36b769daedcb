import { createAckForNon2xx } from '@sipfleet/sip';
import type { SipRequest, SipResponse } from '@sipfleet/sip';
import { isConnectionOriented } from '@sipfleet/transport';
import type { SendTarget } from '@sipfleet/transport';
import type { TransactionContext } from './context.js';
import { releasedRequest } from './errors.js';
import type { ClientTransaction, ClientTransactionHandlers } from './types.js';

/** What a client transaction calls once the TU has nothing more to hear from it. */
export const NO_HANDLERS: ClientTransactionHandlers = Object.freeze({
  onResponse: () => undefined,
  onTimeout: () => undefined,
  onTransportError: () => undefined,
});

export type InviteClientState = 'Calling' | 'Proceeding' | 'Accepted' | 'Completed' | 'Terminated';

/**
 * INVITE client transaction, RFC 3261 section 17.1.1 (Figure 5) with RFC 6026's Accepted state.
 *
 * Departure from RFC 3261, on purpose (RFC 6026 section 8.4): a 2xx does not terminate the transaction. It
 * moves to Accepted for Timer M (64*T1), and every further 2xx (retransmissions, forked answers) is passed to
 * the TU through onResponse: a proxy must forward each of them upstream (section 16.7 step 4), and with the
 * transaction gone they would arrive as stray responses without the client transaction for context.
 */
export class InviteClientTransaction implements ClientTransaction {
  #state: InviteClientState = 'Calling';
  /** Timer A (retransmit) in Calling. */
  #retransmitTimer: unknown = undefined;
  /** Timer B in Calling, D in Completed, M in Accepted, the section 9.1 guard after a CANCEL in Proceeding. */
  #lifeTimer: unknown = undefined;
  #interval: number;
  /** Let go of with the final response (see `request`). */
  #request: SipRequest | undefined;
  /** The ACK for a non-2xx final (Completed), sent again for each retransmission of it. */
  #ack: Buffer | undefined;
  /** 0: not asked, 1: asked before any provisional (sent on the first one), 2: sent. */
  #cancel: 0 | 1 | 2 = 0;
  readonly #ctx: TransactionContext;
  /** Dropped in Completed: retransmitted finals are not passed up, so the TU's objects can go. */
  #handlers: ClientTransactionHandlers;
  readonly #reliable: boolean;
  readonly #onSendError = (err: Error): void => this.#transportError(err);
  // One callback per timer slot, made on first use and re-armed as is: the state tells which lettered
  // timer fired (the slots are cleared on every transition), so no closure per setTimeout.
  #onRetransmitTimer: (() => void) | undefined;
  #onLifeTimer: (() => void) | undefined;

  constructor(
    ctx: TransactionContext,
    request: SipRequest,
    readonly target: SendTarget,
    readonly branch: string,
    handlers: ClientTransactionHandlers,
  ) {
    this.#request = request;
    this.#ctx = ctx;
    this.#handlers = handlers;
    this.#reliable = isConnectionOriented(target.protocol);
    this.#interval = ctx.timers.A;
  }

  /** The request, until the final response; reading it later throws `SIPFLEET_ERR_TX_RELEASED`. */
  get request(): SipRequest {
    return this.#request ?? releasedRequest();
  }

  get method(): string {
    return 'INVITE';
  }

  get state(): InviteClientState {
    return this.#state;
  }

  get isInvite(): boolean {
    return true;
  }

  /**
   * Section 17.1.1.2: send the INVITE; Timer A on unreliable transports only, Timer B always. A
   * retransmission serialises the request again (it is kept until the final anyway, and unchanged:
   * see TransactionLayer.sendRequest), so no copy of its bytes is kept for a timer that rarely fires.
   */
  start(): void {
    const { timers } = this.#ctx;
    if (!this.#reliable) this.#armRetransmit(this.#interval);
    this.#armLife(timers.B);
    this.#ctx.sender.send(this.target, this.request.toBuffer(), this.#onSendError);
  }

  /**
   * Section 9.1: "a CANCEL request SHOULD NOT be sent to cancel a request... until a provisional response was
   * received". Before the first provisional the wish is remembered; after a final there is nothing to cancel.
   */
  cancel(): void {
    if (this.#cancel !== 0) return;
    if (this.#state === 'Calling') this.#cancel = 1;
    else if (this.#state === 'Proceeding') this.#sendCancel();
  }

  receiveResponse(res: SipResponse): void {
    const status = res.status;
    switch (this.#state) {
      case 'Calling':
      case 'Proceeding':
        if (status < 200) {
          if (this.#state === 'Calling') {
            // "In the Proceeding state, the client transaction SHOULD NOT retransmit the request any longer";
            // Timer B only bounds the Calling state: Proceeding is bounded by the proxy's Timer C.
            this.#state = 'Proceeding';
            this.#clearTimers();
          }
          if (this.#cancel === 1) this.#sendCancel();
          this.#handlers.onResponse(res, this);
        } else if (status < 300) {
          this.#state = 'Accepted';
          this.#clearTimers();
          this.#armLife(this.#ctx.timers.M);
          this.#handlers.onResponse(res, this);
          this.#request = undefined;
        } else {
          // Section 17.1.1.2: pass the response up and generate an ACK (17.1.1.3), sent "to the same address,
          // port, and transport to which the original request was sent".
          this.#state = 'Completed';
          this.#clearTimers();
          // Timer D: "at least 32 seconds for unreliable transports, and ... zero seconds for reliable".
          if (!this.#reliable) this.#armLife(this.#ctx.timers.D);
          this.#ack = createAckForNon2xx(this.request, res).toBuffer(true);
          this.#sendAck();
          this.#handlers.onResponse(res, this);
          this.#handlers = NO_HANDLERS;
          this.#request = undefined;
          if (this.#reliable) this.#terminate();
        }
        return;
      case 'Accepted':
        // RFC 6026 section 8.4: "any 2xx responses received in Accepted state MUST be passed to the TU".
        if (status >= 200 && status < 300) this.#handlers.onResponse(res, this);
        return;
      case 'Completed':
        // "Any retransmissions of the final response ... MUST cause the ACK to be re-passed to the transport
        // layer for retransmission, but the newly received response MUST NOT be passed up to the TU."
        if (status >= 300) {
          this.#ctx.retransmitted('request');
          this.#sendAck();
        }
        return;
      case 'Terminated':
        return;
    }
  }

  /** Stops every timer without telling anyone (layer shutdown). */
  dispose(): void {
    this.#state = 'Terminated';
    this.#clearTimers();
  }

  /**
   * The ACK's bytes are kept rather than the INVITE: a retransmitted final carries the same To tag, so
   * its ACK is the same (section 17.1.1.3), and the bytes are a fraction of the parsed request.
   */
  #sendAck(): void {
    if (this.#ack !== undefined) this.#ctx.sender.send(this.target, this.#ack, this.#onSendError);
  }

  #timerA(): void {
    this.#retransmitTimer = undefined;
    const request = this.#request;
    if (this.#state !== 'Calling' || request === undefined) return;
    // Section 17.1.1.2: retransmit and reset Timer A "with a value of 2*T1" - doubling without a cap.
    this.#interval *= 2;
    this.#armRetransmit(this.#interval);
    this.#ctx.retransmitted('request');
    this.#ctx.sender.send(this.target, request.toBuffer(), this.#onSendError);
  }

  #armRetransmit(ms: number): void {
    this.#retransmitTimer = this.#ctx.clock.setTimeout(
      (this.#onRetransmitTimer ??= () => this.#timerA()),
      ms,
    );
  }

  #armLife(ms: number): void {
    this.#lifeTimer = this.#ctx.clock.setTimeout(
      (this.#onLifeTimer ??= () => this.#lifeFired()),
      ms,
    );
  }

  /** Timer B in Calling, the section 9.1 guard in Proceeding, Timer M in Accepted, Timer D in Completed. */
  #lifeFired(): void {
    this.#lifeTimer = undefined;
    if (this.#state === 'Calling') this.#timerB();
    else if (this.#state === 'Proceeding') this.#cancelGuard();
    else this.#terminate();
  }

  #timerB(): void {
    this.#terminate();
    this.#handlers.onTimeout(this);
  }

  #cancelGuard(): void {
    // Section 9.1: "If there is no final response for the original request in 64*T1 seconds ..., the client
    // SHOULD then consider the original transaction cancelled and SHOULD destroy the client transaction".
    this.#terminate();
    this.#handlers.onTimeout(this);
  }

  #sendCancel(): void {
    this.#cancel = 2;
    this.#armLife(this.#ctx.timers.B);
    this.#ctx.sendCancel(this);
  }

  /** Section 17.1.4: inform the TU and go straight to Terminated. After a final the TU has its answer already. */
  #transportError(err: Error): void {
    if (this.#state !== 'Calling' && this.#state !== 'Proceeding') return;
    this.#terminate();
    this.#handlers.onTransportError(this, err);
  }

  #terminate(): void {
    if (this.#state === 'Terminated') return;
    this.#state = 'Terminated';
    this.#clearTimers();
    this.#ctx.clientTerminated(this.branch, false, this);
  }

  #clearTimers(): void {
    const clock = this.#ctx.clock;
    if (this.#retransmitTimer !== undefined) {
      clock.clearTimeout(this.#retransmitTimer);
      this.#retransmitTimer = undefined;
    }
    if (this.#lifeTimer !== undefined) {
      clock.clearTimeout(this.#lifeTimer);
      this.#lifeTimer = undefined;
    }
  }
}
