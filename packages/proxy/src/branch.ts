import type { SipRequest, SipResponse } from '@sipfleet/sip';
import type { ClientTransaction, ClientTransactionHandlers } from '@sipfleet/transaction';
import type { RemoteInfo, SendTarget, SocketSpec } from '@sipfleet/transport';
import type { Logger } from 'pino';
import type { Forwarder } from './forwarder.js';
import { BranchHookContext } from './hook-contexts.js';
import type { BranchContext } from './hooks.js';
import type { BranchTimers } from './options.js';

/** `;k=v` text for our Record-Route URI; throws for anything but plain URI tokens (no escaping). */
export function recordRouteParams(params: Record<string, string>): string {
  let text = '';
  for (const [name, value] of Object.entries(params)) {
    if (!/^[A-Za-z0-9._~-]+$/.test(name) || !/^[A-Za-z0-9._~!*'()+-]*$/.test(value)) {
      throw new Error(`record-route param ${name}=${value} is not a plain URI token`);
    }
    text += value === '' ? `;${name}` : `;${name}=${value}`;
  }
  return text;
}

/**
 * What a branch knows of the proxy transaction that owns it: the request it copies, and where its
 * outcome goes. Nothing else: the branch never reaches the proxy core.
 */
export interface BranchOwner {
  /** The request every branch is copied from (after the request hook's changes). */
  readonly request: SipRequest;
  readonly source: RemoteInfo;
  readonly vars: Map<string, unknown>;
  readonly log: Logger;
  /** `fr_timer`/`fr_inv_timer` for branches started now (`t_set_fr`). */
  readonly timers: BranchTimers;
  /** `performance.now()` when the request arrived. */
  readonly receivedAt: number;
  /** The connection an in-dialog request goes back over (a flow token in our Route), if any. */
  readonly flow: SendTarget | undefined;
  /** The listener branches leave from (force_send_socket), else the default one. */
  readonly sendSocket: SocketSpec | undefined;
  /** A response to pass on (§16.7 steps 4–5): a provisional other than 100, a 2xx, or a non-2xx final. */
  branchResponse(branch: Branch, res: SipResponse): void;
  /** The branch ended without a response of its own (timeout, transport error, cancelled, not sent). */
  branchFailed(branch: Branch, status: number): void;
}

/**
 * One downstream branch (RFC 3261 §16.6): its own copy of the request, one client transaction,
 * and Kamailio's per-branch timers: `fr_timer` until the first reply, then `fr_inv_timer` (the
 * proxy's Timer C, §16.6 step 11) until the final reply of an INVITE.
 *
 * DNS failover (RFC 3263 §4.3, Kamailio `use_dns_failover`): when the next hop resolved to
 * several targets, a transport error, no reply at all within `fr_timer`, or a 503 from the
 * current target sends the request again, with a new Via branch, to the next target, until
 * none is left. The abandoned transaction is cancelled (a CANCEL follows if it ever answers
 * provisionally); only a 2xx from it still counts.
 */
export class Branch implements ClientTransactionHandlers {
  tx: ClientTransaction | undefined;
  /** No more outcome expected from this branch (a 2xx may still arrive and is passed on). */
  finished = false;
  /** At least one response arrived (`t_branch_replied()`). */
  replied = false;
  /** Ended by a timer (`t_branch_timeout()`). */
  timedOut = false;
  private canceled = false;
  private timer: unknown;
  private dropped = false;
  /** The next hop's targets not tried yet (DNS failover). */
  private spare: SendTarget[] = [];
  /** The request as it was before our Via: each target gets a copy of it. */
  private unsent: SipRequest | undefined;
  /** Our Record-Route's extra params, or undefined when this copy is not record-routed. */
  private recordRoute: string | undefined;
  /** The copy goes over a flow (the owner's), not to a resolved next hop. */
  private overFlow = false;

  constructor(
    private readonly owner: BranchOwner,
    private readonly forwarder: Forwarder,
    readonly index: number,
    readonly uri: string,
    readonly destinationOverride: string | undefined,
  ) {}

  /** `$du` if set, else the R-URI: what failure routing reports and marks. */
  get destination(): string {
    return this.destinationOverride ?? this.uri;
  }

  /** @param recordRoute our Record-Route's extra URI params (`;k=v`), or undefined for none at all. */
  start(recordRoute: string | undefined): void {
    const owner = this.owner;
    this.recordRoute = recordRoute;
    let req: SipRequest;
    let hopUri: string;
    try {
      req = this.forwarder.copy(owner.request, this.uri, recordRoute, owner.source);
      hopUri = this.forwarder.nextHop(req, this.destinationOverride);
    } catch (err) {
      owner.log.warn({ err, uri: this.uri }, 'cannot build branch');
      this.fail(400);
      return;
    }
    this.forwarder.branchHook(this.branchContext(req), {
      then: () => {
        if (this.dropped) this.fail(500);
        else this.send(req, hopUri);
      },
      onFault: (err) => {
        owner.log.error({ err }, 'branch failed after the branch hook');
        this.fail(500);
      },
    });
  }

  private branchContext(req: SipRequest): BranchContext {
    const owner = this.owner;
    return new BranchHookContext(
      owner,
      req,
      this.destination,
      this.index,
      owner.vars,
      () => {
        this.dropped = true;
      },
      (name, value) => {
        // Ours is the field the forwarder put in front of the ones the request came with.
        const received = owner.request.getHeaders('record-route').length;
        const ours = req.getHeader('record-route');
        if (ours === undefined || req.getHeaders('record-route').length <= received) return false;
        if (!ours.endsWith('>')) return false;
        req.removeFirstValue('record-route');
        req.prependHeader(
          'Record-Route',
          `${ours.slice(0, -1)}${recordRouteParams({ [name]: value })}>`,
        );
        return true;
      },
    );
  }

  private send(req: SipRequest, hopUri: string): void {
    if (this.canceled) {
      this.fail(487);
      return;
    }
    // A flow (RFC 5626) is the only way to the side that opened it: no DNS, no other target.
    const flow = this.destinationOverride === undefined ? this.owner.flow : undefined;
    this.overFlow = flow !== undefined;
    (flow === undefined ? this.forwarder.resolve(hopUri) : Promise.resolve([flow])).then(
      (targets) => {
        if (this.canceled) {
          this.fail(487);
          return;
        }
        const [first, ...rest] = targets;
        if (first === undefined) {
          this.fail(503);
          return;
        }
        if (this.forwarder.dnsFailover) this.spare = rest;
        this.unsent = req;
        this.attempt(first);
      },
      (err: unknown) => {
        this.owner.log.warn({ err, hop: hopUri }, 'cannot resolve next hop');
        this.fail(503);
      },
    );
  }

  /**
   * One client transaction to `resolved`; the request is copied when another target may follow,
   * since the transport (udpMtu), double record-routing and our Via depend on the target.
   */
  private attempt(resolved: SendTarget): void {
    const unsent = this.unsent as SipRequest;
    const req = this.spare.length > 0 ? unsent.clone() : unsent;
    // The last target: nothing will copy the request again, and the client transaction has it.
    if (this.spare.length === 0) this.unsent = undefined;
    const target = this.forwarder.transportFor(req, resolved);
    try {
      this.forwarder.addPath(req, this.owner.source, target);
      if (this.recordRoute !== undefined) {
        this.forwarder.recordRouteOutbound(
          req,
          this.owner.source,
          target,
          this.recordRoute,
          this.overFlow,
        );
      }
      this.tx = this.forwarder.send(
        req,
        target,
        this,
        this.owner.receivedAt,
        this.owner.sendSocket,
      );
    } catch (err) {
      // No socket for the target's protocol, or the transaction layer refused: the next target,
      // else this branch ends here, so the proxy transaction still gets its answer.
      this.owner.log.error({ err, destination: this.destination, target }, 'cannot send branch');
      if (!this.failover('transport-error')) this.fail(500);
      return;
    }
    if (!this.finished) this.armTimer(this.owner.timers.frTimerMs);
  }

  /** DNS failover to the next target; false when there is none (or the branch is over). */
  private failover(cause: 'transport-error' | 'timeout' | '503'): boolean {
    if (this.finished || this.canceled) return false;
    const next = this.spare.shift();
    if (next === undefined) return false;
    this.forwarder.observer.dnsFailover?.(cause);
    this.tx?.cancel();
    this.attempt(next);
    return true;
  }

  private armTimer(ms: number): void {
    const clock = this.forwarder.clock;
    if (this.timer !== undefined) clock.clearTimeout(this.timer);
    this.timer = clock.setTimeout(() => this.onTimer(), ms);
  }

  private clearTimer(): void {
    if (this.timer !== undefined) {
      this.forwarder.clock.clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  /** fr_timer or fr_inv_timer fired: CANCEL the branch (sent once a provisional is in) and end it as 408. */
  private onTimer(): void {
    this.timer = undefined;
    if (this.finished) return;
    if (!this.replied && this.failover('timeout')) return;
    this.timedOut = true;
    this.tx?.cancel();
    this.fail(408);
  }

  /** Cancel this branch if it is still pending (2xx/6xx elsewhere, upstream CANCEL). */
  cancel(): void {
    if (this.finished || this.canceled) return;
    this.canceled = true;
    if (this.tx !== undefined && this.tx.isInvite) this.tx.cancel();
  }

  /** Ends the branch with a status made here (408, 487, 500, 503, 400). */
  private fail(status: number): void {
    if (!this.end()) return;
    this.owner.branchFailed(this, status);
  }

  /** Marks the branch finished; false if it already was. */
  private end(): boolean {
    if (this.finished) return false;
    this.finished = true;
    this.clearTimer();
    return true;
  }

  // --- ClientTransactionHandlers ---------------------------------------------------------

  onResponse(res: SipResponse, tx: ClientTransaction): void {
    const status = res.status;
    const current = tx === this.tx;
    // An abandoned target (DNS failover) counts only with a 2xx: that call was answered.
    if (!current && (status < 200 || status >= 300)) return;
    if (current && status === 503 && this.failover('503')) return;
    this.replied = true;
    if (status >= 200 && status < 300) {
      // Every 2xx goes upstream, even on a branch we gave up on (§16.7 step 5, §16.10).
      this.end();
      this.owner.branchResponse(this, res);
      return;
    }
    if (this.finished) return; // late reply to a branch that already timed out or was failed locally
    if (status < 200) {
      if (tx.isInvite) this.armTimer(this.owner.timers.frInvTimerMs);
      if (status === 100) return; // §16.7 step 5: 100 Trying is not forwarded
    } else this.end();
    this.owner.branchResponse(this, res);
  }

  onTimeout(tx: ClientTransaction): void {
    if (tx !== this.tx) return;
    if (!this.replied && this.failover('timeout')) return;
    this.timedOut = true;
    this.fail(408);
  }

  onTransportError(tx: ClientTransaction, err: Error): void {
    if (tx !== this.tx) return;
    if (this.failover('transport-error')) return;
    this.owner.log.warn({ err, destination: this.destination }, 'transport error on branch');
    this.fail(503);
  }
}
