import { createResponse } from '@sipfleet/sip';
import type { SipRequest, SipResponse } from '@sipfleet/sip';
import { isConnectionOriented } from '@sipfleet/transport';
import type { RemoteInfo, SendTarget } from '@sipfleet/transport';
import type { TransactionContext } from './context.js';
import { releasedRequest } from './errors.js';
import { detached } from './matching.js';
import { TRYING_DELAY_MS } from './timers.js';
import type { ServerTransaction } from './types.js';

export type InviteServerState =
  'Proceeding' | 'Accepted' | 'Completed' | 'Confirmed' | 'Terminated';

/**
 * INVITE server transaction, RFC 3261 section 17.2.1 (Figure 7) with RFC 6026's Accepted state: after a 2xx
 * the transaction stays for Timer L (64*T1), absorbs INVITE retransmissions (a UAS core retransmits its 2xx
 * itself, so they must not reach the TU as new requests), sends further 2xx the TU passes down, and hands any
 * ACK that matches it to the TU as a stray ACK (onRequest with tx null).
 */
export class InviteServerTransaction implements ServerTransaction {
  #state: InviteServerState = 'Proceeding';
  /** The 200 ms Trying timer in Proceeding, Timer G in Completed. */
  #retransmitTimer: unknown = undefined;
  /** Timer H in Completed, I in Confirmed, L in Accepted. */
  #lifeTimer: unknown = undefined;
  #interval = 0;
  /** The non-2xx final's bytes in Completed (what a retransmission gets back there). */
  #last: Buffer | undefined = undefined;
  /**
   * The most recent provisional (Proceeding only): serialised again for a retransmitted INVITE, and
   * its To tag is read lazily, for a CANCEL's 200. Its bytes are not kept: the object is.
   */
  #lastResponse: SipResponse | undefined = undefined;
  #finalStatus: number | undefined = undefined;
  #finalToTag: string | undefined = undefined;
  /** Let go of with the final response (see `request`). */
  #request: SipRequest | undefined;
  readonly #ctx: TransactionContext;
  readonly #target: SendTarget;
  readonly #reliable: boolean;
  readonly #onSendError = (err: Error): void => this.#transportError(err);
  // One callback per timer slot, made on first use: the state tells which lettered timer fired.
  #onRetransmitTimer: (() => void) | undefined;
  #onLifeTimer: (() => void) | undefined;
  onTerminated?: () => void;
  onTimeout?: () => void;
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

  get state(): InviteServerState {
    return this.#state;
  }

  get isInvite(): boolean {
    return true;
  }

  get finalStatus(): number | undefined {
    return this.#finalStatus;
  }

  /**
   * The To tag of the most recent response (the final once sent): what a non-2xx ACK carries (RFC 2543
   * matching) and what the 200 to a CANCEL should repeat (section 9.2). Read on demand: To is parsed lazily.
   */
  get toTag(): string | undefined {
    return this.#finalStatus !== undefined ? this.#finalToTag : this.#lastResponse?.to.tag;
  }

  /**
   * Section 17.2.1: "the server transaction MUST generate a 100 (Trying) response unless it knows that the TU
   * will generate a provisional or final response within 200 ms". A proxy cannot know, so 'immediate' is its
   * default; 'after200ms' waits for the TU first.
   */
  start(trying: 'immediate' | 'after200ms'): void {
    if (trying === 'immediate') this.#sendTrying();
    else this.#armRetransmit(TRYING_DELAY_MS);
  }

  respond(res: SipResponse): void {
    const status = res.status;
    if (this.#state === 'Accepted') {
      // RFC 6026 section 7.1: 2xx responses from the TU are sent in Accepted (a proxy forwards every 2xx).
      if (status >= 200 && status < 300) this.#send(res.toBuffer());
      return;
    }
    if (this.#state !== 'Proceeding') return; // a final was sent already
    this.#clearTimers();
    // A non-2xx final's bytes are kept for retransmissions: the response object goes with #setFinal.
    // A provisional is kept as the object; a 2xx not at all (Accepted sends nothing again on its own).
    const data = res.toBuffer(status >= 300);
    const { timers } = this.#ctx;
    if (status < 200) {
      this.#lastResponse = res;
    } else if (status < 300) {
      this.#state = 'Accepted';
      this.#setFinal(res);
      this.#armLife(timers.L);
    } else {
      this.#state = 'Completed';
      this.#setFinal(res);
      this.#last = data;
      // Timer G only on unreliable transports; Timer H on all.
      if (!this.#reliable) {
        this.#interval = timers.G;
        this.#armRetransmit(this.#interval);
      }
      this.#armLife(timers.H);
    }
    this.#send(data);
  }

  /** An INVITE retransmission (section 17.2.1). */
  receiveRequest(): void {
    // "If a request retransmission is received while in the Proceeding state, the most recent provisional
    // response that was received from the TU MUST be passed to the transport layer for retransmission";
    // in Completed the final is. Accepted and Confirmed absorb it.
    const again =
      this.#state === 'Proceeding'
        ? this.#lastResponse?.toBuffer()
        : this.#state === 'Completed'
          ? this.#last
          : undefined;
    if (again !== undefined) {
      this.#ctx.retransmitted('response');
      this.#send(again);
    }
  }

  /** An ACK that matched this transaction. */
  receiveAck(ack: SipRequest, remote: RemoteInfo): void {
    switch (this.#state) {
      case 'Completed':
        // "If an ACK is received while the server transaction is in the Completed state, the server transaction
        // MUST transition to the Confirmed state"; Timer I is T4 on UDP and zero on reliable transports.
        this.#state = 'Confirmed';
        this.#last = undefined; // Confirmed sends nothing more
        this.#clearTimers();
        if (this.#reliable) this.#terminate();
        else this.#armLife(this.#ctx.timers.I);
        return;
      case 'Accepted':
        // RFC 6026 section 7.1: "passed to the TU" - for a proxy, an ACK for a 2xx that reused the INVITE branch.
        this.#ctx.user.onRequest(ack, null, remote);
        return;
      default:
        // Confirmed: ACK retransmissions absorbed. Proceeding: an ACK before any final has nothing to acknowledge.
        return;
    }
  }

  /** See ServerTransaction.discard. */
  discard(): void {
    if (this.#finalStatus !== undefined) return;
    this.#terminate();
  }

  /** Stops every timer without telling anyone (layer shutdown). */
  dispose(): void {
    this.#state = 'Terminated';
    this.#clearTimers();
  }

  /**
   * Only the status and To tag outlive the final response: Accepted and Completed last 64*T1. The
   * tag is a slice of the response's text, so it is copied: the text would linger with it.
   */
  #setFinal(res: SipResponse): void {
    this.#finalStatus = res.status;
    const tag = res.to.tag;
    this.#finalToTag = tag === undefined ? undefined : detached(tag);
    this.#lastResponse = undefined;
    this.#request = undefined;
  }

  #armRetransmit(ms: number): void {
    this.#retransmitTimer = this.#ctx.clock.setTimeout(
      (this.#onRetransmitTimer ??= () => this.#retransmitFired()),
      ms,
    );
  }

  #armLife(ms: number): void {
    this.#lifeTimer = this.#ctx.clock.setTimeout(
      (this.#onLifeTimer ??= () => this.#lifeFired()),
      ms,
    );
  }

  /** The 200 ms Trying timer in Proceeding, Timer G in Completed. */
  #retransmitFired(): void {
    if (this.#state === 'Proceeding') this.#tryingTimer();
    else this.#timerG();
  }

  /** Timer H in Completed, Timer I in Confirmed, Timer L in Accepted. */
  #lifeFired(): void {
    if (this.#state === 'Completed') this.#timerH();
    else {
      this.#lifeTimer = undefined;
      this.#terminate();
    }
  }

  #tryingTimer(): void {
    this.#retransmitTimer = undefined;
    if (this.#lastResponse === undefined) this.#sendTrying();
  }

  #sendTrying(): void {
    const trying = createResponse(this.request, 100);
    this.#lastResponse = trying;
    this.#send(trying.toBuffer());
    this.#ctx.responded(100);
  }

  #timerG(): void {
    this.#retransmitTimer = undefined;
    if (this.#state !== 'Completed' || this.#last === undefined) return;
    // "timer G is reset with a value that doubles, unless that value exceeds T2, in which case it is reset with
    // the value of T2".
    this.#interval = Math.min(2 * this.#interval, this.#ctx.timers.T2);
    this.#armRetransmit(this.#interval);
    this.#ctx.retransmitted('response');
    this.#send(this.#last);
  }

  #timerH(): void {
    this.#lifeTimer = undefined;
    if (this.#state !== 'Completed') return;
    // "the server transaction MUST transition to the Terminated state, and MUST indicate to the TU that a
    // transaction failure has occurred".
    this.#terminate(() => this.onTimeout?.());
  }

  /**
   * Section 17.2.4: a failed response send should be retried at the next address of section 18.2.2 (the
   * Via's sent-by, then SRV). Out of scope here: the transaction terminates and the TU is told.
   */
  #transportError(err: Error): void {
    if (this.#state === 'Terminated') return;
    this.#terminate(() => this.onTransportError?.(err));
  }

  #send(data: Buffer): void {
    this.#ctx.sender.send(this.#target, data, this.#onSendError);
  }

  #terminate(beforeTerminated?: () => void): void {
    if (this.#state === 'Terminated') return;
    this.#state = 'Terminated';
    this.#clearTimers();
    this.#last = undefined;
    this.#lastResponse = undefined;
    this.#ctx.serverTerminated(this.key, this);
    beforeTerminated?.();
    this.onTerminated?.();
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
