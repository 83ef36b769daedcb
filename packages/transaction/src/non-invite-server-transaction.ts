import type { SipRequest, SipResponse } from '@sipfleet/sip';
import { isConnectionOriented } from '@sipfleet/transport';
import type { RemoteInfo, SendTarget } from '@sipfleet/transport';
import type { TransactionContext } from './context.js';
import { releasedRequest } from './errors.js';
import type { ServerTransaction } from './types.js';

export type NonInviteServerState = 'Trying' | 'Proceeding' | 'Completed' | 'Terminated';

/** Non-INVITE server transaction, RFC 3261 section 17.2.2 (Figure 8). Also answers CANCEL (section 9.2). */
export class NonInviteServerTransaction implements ServerTransaction {
  #state: NonInviteServerState = 'Trying';
  /** Timer J in Completed. */
  #lifeTimer: unknown = undefined;
  /** The most recent provisional in Proceeding, the final in Completed. */
  #last: Buffer | undefined = undefined;
  #finalStatus: number | undefined = undefined;
  /** Let go of with the final response (see `request`). */
  #request: SipRequest | undefined;
  readonly #ctx: TransactionContext;
  readonly #target: SendTarget;
  readonly #reliable: boolean;
  readonly #onSendError = (err: Error): void => this.#transportError(err);
  onTerminated?: () => void;
  onTransportError?: (err: Error) => void;

  constructor(
    ctx: TransactionContext,
    request: SipRequest,
    readonly remote: RemoteInfo,
    /** The layer's table key (matching.ts). */
    readonly key: string,
    /** Where responses go (section 18.2.2), computed once by the layer. */
    target: SendTarget,
  ) {
    this.#request = request;
    this.#ctx = ctx;
    this.#target = target;
    this.#reliable = isConnectionOriented(remote.protocol);
  }

  /** The request, until the final response; reading it later throws `SIPFLEET_ERR_TX_RELEASED`. */
  get request(): SipRequest {
    return this.#request ?? releasedRequest();
  }

  get state(): NonInviteServerState {
    return this.#state;
  }

  get isInvite(): boolean {
    return false;
  }

  get finalStatus(): number | undefined {
    return this.#finalStatus;
  }

  respond(res: SipResponse): void {
    if (this.#state !== 'Trying' && this.#state !== 'Proceeding') return; // a final was sent already
    const data = res.toBuffer(true);
    this.#last = data;
    if (res.status < 200) {
      this.#state = 'Proceeding';
      this.#send(data);
      return;
    }
    this.#state = 'Completed';
    this.#finalStatus = res.status;
    this.#request = undefined;
    // Timer J: "64*T1 seconds for unreliable transports, and zero seconds for reliable transports".
    if (!this.#reliable) {
      this.#lifeTimer = this.#ctx.clock.setTimeout(() => this.#terminate(), this.#ctx.timers.J);
    }
    this.#send(data);
    if (this.#reliable) this.#terminate();
  }

  /**
   * A retransmission of the request (section 17.2.2): discarded in Trying; in Proceeding and Completed the
   * most recent response "MUST be passed to the transport layer for retransmission".
   */
  receiveRequest(): void {
    if (this.#state === 'Trying' || this.#state === 'Terminated' || this.#last === undefined)
      return;
    this.#ctx.retransmitted('response');
    this.#send(this.#last);
  }

  /** See ServerTransaction.discard. */
  discard(): void {
    if (this.#finalStatus !== undefined) return;
    this.#terminate();
  }

  /** Stops every timer without telling anyone (layer shutdown). */
  dispose(): void {
    this.#state = 'Terminated';
    if (this.#lifeTimer !== undefined) {
      this.#ctx.clock.clearTimeout(this.#lifeTimer);
      this.#lifeTimer = undefined;
    }
  }

  /** Section 17.2.4, with the retry at the next section 18.2.2 address out of scope (see the INVITE side). */
  #transportError(err: Error): void {
    if (this.#state === 'Terminated') return;
    this.#terminate(() => this.onTransportError?.(err));
  }

  #send(data: Buffer): void {
    this.#ctx.sender.send(this.#target, data, this.#onSendError);
  }

  #terminate(beforeTerminated?: () => void): void {
    if (this.#state === 'Terminated') return;
    this.dispose();
    this.#last = undefined;
    this.#ctx.serverTerminated(this.key, this);
    beforeTerminated?.();
    this.onTerminated?.();
  }
}
