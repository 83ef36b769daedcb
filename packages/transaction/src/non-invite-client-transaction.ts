import type { SipRequest, SipResponse } from '@sipfleet/sip';
import { isConnectionOriented } from '@sipfleet/transport';
import type { SendTarget } from '@sipfleet/transport';
import type { TransactionContext } from './context.js';
import { releasedRequest } from './errors.js';
import { NO_HANDLERS } from './invite-client-transaction.js';
import type { ClientTransaction, ClientTransactionHandlers } from './types.js';

export type NonInviteClientState = 'Trying' | 'Proceeding' | 'Completed' | 'Terminated';

/** Non-INVITE client transaction, RFC 3261 section 17.1.2 (Figure 6). Also carries CANCEL (section 9.1). */
export class NonInviteClientTransaction implements ClientTransaction {
  #state: NonInviteClientState = 'Trying';
  /** Timer E (retransmit) in Trying and Proceeding. */
  #retransmitTimer: unknown = undefined;
  /** Timer F in Trying and Proceeding, Timer K in Completed. */
  #lifeTimer: unknown = undefined;
  #interval: number;
  readonly method: string;
  /** Let go of with the final response (see `request`). */
  #request: SipRequest | undefined;
  readonly #ctx: TransactionContext;
  /** Dropped in Completed: nothing more goes up, so the TU's objects can go. */
  #handlers: ClientTransactionHandlers;
  readonly #reliable: boolean;
  readonly #isCancel: boolean;
  readonly #onSendError = (err: Error): void => this.#transportError(err);
  // One callback per timer slot, made on first use (see the INVITE client transaction).
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
    this.method = request.method;
    this.#ctx = ctx;
    this.#handlers = handlers;
    this.#reliable = isConnectionOriented(target.protocol);
    this.#isCancel = this.method === 'CANCEL';
    this.#interval = ctx.timers.E;
  }

  /** The request, until the final response; reading it later throws `SIPFLEET_ERR_TX_RELEASED`. */
  get request(): SipRequest {
    return this.#request ?? releasedRequest();
  }

  get state(): NonInviteClientState {
    return this.#state;
  }

  get isInvite(): boolean {
    return false;
  }

  /**
   * Section 17.1.2.2: send the request; Timer E on unreliable transports only, Timer F always. As
   * in the INVITE client transaction, a retransmission serialises the request again.
   */
  start(): void {
    const { timers } = this.#ctx;
    if (!this.#reliable) this.#armRetransmit(this.#interval);
    this.#armLife(timers.F);
    this.#ctx.sender.send(this.target, this.request.toBuffer(), this.#onSendError);
  }

  /** Section 9.1: "A CANCEL request SHOULD NOT be sent to cancel a request other than INVITE." */
  cancel(): void {}

  receiveResponse(res: SipResponse): void {
    if (this.#state === 'Completed' || this.#state === 'Terminated') return; // retransmissions absorbed
    if (res.status < 200) {
      this.#state = 'Proceeding';
      this.#handlers.onResponse(res, this);
      return;
    }
    this.#state = 'Completed';
    this.#clearTimers();
    // Timer K: "T4 seconds for unreliable transports, and zero seconds for reliable transports".
    if (!this.#reliable) this.#armLife(this.#ctx.timers.K);
    this.#handlers.onResponse(res, this);
    this.#handlers = NO_HANDLERS;
    this.#request = undefined;
    if (this.#reliable) this.#terminate();
  }

  /** Stops every timer without telling anyone (layer shutdown). */
  dispose(): void {
    this.#state = 'Terminated';
    this.#clearTimers();
  }

  #timerE(): void {
    this.#retransmitTimer = undefined;
    const { timers } = this.#ctx;
    // Section 17.1.2.2: in Trying, reset to MIN(2*interval, T2); in Proceeding, reset to T2.
    if (this.#state === 'Trying') this.#interval = Math.min(2 * this.#interval, timers.T2);
    else if (this.#state === 'Proceeding') this.#interval = timers.T2;
    else return;
    const request = this.#request;
    if (request === undefined) return;
    this.#armRetransmit(this.#interval);
    this.#ctx.retransmitted('request');
    this.#ctx.sender.send(this.target, request.toBuffer(), this.#onSendError);
  }

  #armRetransmit(ms: number): void {
    this.#retransmitTimer = this.#ctx.clock.setTimeout(
      (this.#onRetransmitTimer ??= () => this.#timerE()),
      ms,
    );
  }

  #armLife(ms: number): void {
    this.#lifeTimer = this.#ctx.clock.setTimeout(
      (this.#onLifeTimer ??= () => this.#lifeFired()),
      ms,
    );
  }

  /** Timer F in Trying and Proceeding, Timer K in Completed. */
  #lifeFired(): void {
    this.#lifeTimer = undefined;
    if (this.#state === 'Completed') this.#terminate();
    else if (this.#state !== 'Terminated') this.#timerF();
  }

  #timerF(): void {
    this.#terminate();
    this.#handlers.onTimeout(this);
  }

  /** Section 17.1.4: inform the TU and go straight to Terminated. */
  #transportError(err: Error): void {
    if (this.#state !== 'Trying' && this.#state !== 'Proceeding') return;
    this.#terminate();
    this.#handlers.onTransportError(this, err);
  }

  #terminate(): void {
    if (this.#state === 'Terminated') return;
    this.#state = 'Terminated';
    this.#clearTimers();
    this.#ctx.clientTerminated(this.branch, this.#isCancel, this);
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
