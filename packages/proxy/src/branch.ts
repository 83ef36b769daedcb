import type { SipRequest, SipResponse } from '@sipfleet/sip';
import type { ClientTransaction, ClientTransactionHandlers } from '@sipfleet/transaction';
import type { Logger } from 'pino';
import type { BranchContext } from './hooks.js';
import type { ProxyCore } from './proxy-core.js';
import type { ProxyTransaction } from './proxy-transaction.js';

/**
 * One downstream branch (RFC 3261 §16.6): its own copy of the request, one client transaction,
 * and Kamailio's per-branch timers: `fr_timer` until the first reply, then `fr_inv_timer` (the
 * proxy's Timer C, §16.6 step 11) until the final reply of an INVITE.
 */
export class Branch implements ClientTransactionHandlers {
  tx: ClientTransaction | undefined;
  finished = false;
  replied = false;
  timedOut = false;
  private canceled = false;
  private timer: unknown;
  private dropped = false;

  constructor(
    private readonly owner: ProxyTransaction,
    readonly index: number,
    readonly uri: string,
    readonly destinationOverride: string | undefined,
  ) {}

  /** `$du` if set, else the R-URI: what failure routing reports and marks. */
  get destination(): string {
    return this.destinationOverride ?? this.uri;
  }

  /** @param recordRoute our Record-Route's extra URI params (`;k=v`), or undefined for none at all. */
  start(core: ProxyCore, recordRoute: string | undefined): void {
    const owner = this.owner;
    let req: SipRequest;
    let hopUri: string;
    try {
      req = owner.request.clone();
      if (req.uri !== this.uri) req.setUri(this.uri);
      if (recordRoute !== undefined) core.addRecordRoute(req, owner.source, recordRoute);
      hopUri = core.nextHopUri(req, this.destinationOverride);
    } catch (err) {
      owner.log.warn({ err, uri: this.uri }, 'cannot build branch');
      this.fail(400, false);
      return;
    }
    const branchHook = core.hooks.branch;
    if (branchHook === undefined) {
      this.send(core, req, hopUri);
      return;
    }
    core.runHook('branch', branchHook, this.branchContext(req), () => {
      if (this.dropped) this.fail(500, false);
      else this.send(core, req, hopUri);
    });
  }

  private branchContext(req: SipRequest): BranchContext {
    const owner = this.owner;
    return {
      request: req,
      destination: this.destination,
      index: this.index,
      vars: owner.vars,
      get log(): Logger {
        return owner.log;
      },
      drop: () => {
        this.dropped = true;
      },
    };
  }

  private send(core: ProxyCore, req: SipRequest, hopUri: string): void {
    if (this.canceled) {
      this.fail(487, false);
      return;
    }
    core.resolve(hopUri).then(
      (target) => {
        if (this.canceled) {
          this.fail(487, false);
          return;
        }
        core.addVia(req, target.protocol);
        core.observer.relayLatency((performance.now() - this.owner.receivedAt) / 1000);
        this.tx = core.transactions.sendRequest(req, target, this);
        this.armTimer(this.owner.timers.frTimerMs);
      },
      (err: unknown) => {
        this.owner.log.warn({ err, hop: hopUri }, 'cannot resolve next hop');
        this.fail(503, false);
      },
    );
  }

  private armTimer(ms: number): void {
    const clock = this.owner.core.clock;
    if (this.timer !== undefined) clock.clearTimeout(this.timer);
    this.timer = clock.setTimeout(() => this.onTimer(), ms);
  }

  private clearTimer(): void {
    if (this.timer !== undefined) {
      this.owner.core.clock.clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  /** fr_timer or fr_inv_timer fired: CANCEL the branch (sent once a provisional is in) and end it as 408. */
  private onTimer(): void {
    this.timer = undefined;
    if (this.finished) return;
    this.timedOut = true;
    this.tx?.cancel();
    this.fail(408, false);
  }

  /** Cancel this branch if it is still pending (2xx/6xx elsewhere, upstream CANCEL). */
  cancel(): void {
    if (this.finished || this.canceled) return;
    this.canceled = true;
    if (this.tx !== undefined && this.tx.isInvite) this.tx.cancel();
  }

  private fail(status: number, replied: boolean, res?: SipResponse): void {
    if (this.finished) return;
    this.finished = true;
    this.replied ||= replied;
    this.clearTimer();
    this.owner.branchFinished(this, status, res);
  }

  // --- ClientTransactionHandlers ---------------------------------------------------------

  onResponse(res: SipResponse, tx: ClientTransaction): void {
    const status = res.status;
    this.replied = true;
    if (status >= 200 && status < 300) {
      // Every 2xx goes upstream, even on a branch we gave up on (§16.7 step 5, §16.10).
      if (!this.finished) {
        this.finished = true;
        this.clearTimer();
      }
      this.owner.core.deliverReply(this.owner, this, res, () => this.owner.forwardNow(res));
      return;
    }
    if (this.finished) return; // late reply to a branch that already timed out or was failed locally
    if (status < 200) {
      if (tx.isInvite) this.armTimer(this.owner.timers.frInvTimerMs);
      if (status === 100) return; // §16.7 step 5: 100 Trying is not forwarded
      this.owner.core.deliverReply(this.owner, this, res, () => this.owner.forwardNow(res));
      return;
    }
    this.finished = true;
    this.clearTimer();
    this.owner.core.deliverReply(this.owner, this, res, () => {
      this.finished = false; // let fail() do the bookkeeping once
      this.fail(status, true, res);
    });
  }

  onTimeout(): void {
    this.timedOut = true;
    this.fail(408, this.replied);
  }

  onTransportError(_tx: ClientTransaction, err: Error): void {
    this.owner.log.warn({ err, destination: this.destination }, 'transport error on branch');
    this.fail(503, false);
  }
}
