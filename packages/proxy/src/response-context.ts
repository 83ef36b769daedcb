import { createResponse } from '@sipfleet/sip';
import type { SipRequest, SipResponse } from '@sipfleet/sip';
import type { ServerTransaction } from '@sipfleet/transaction';
import type { Logger } from 'pino';
import type { Branch } from './branch.js';
import { ReplyHookContext } from './hook-contexts.js';
import type { HookRunner } from './hook-runner.js';
import type { ProxyObserver } from './observer.js';
import type { StatelessRelay } from './stateless-relay.js';

/**
 * RFC 3261 §16.7 step 6: choose the best final among the branches' responses. Any 6xx wins;
 * otherwise the lowest class; within a class the first one received. A chosen 401/407 gets the
 * other branches' challenges (step 7, `mergeChallenges`).
 */
export function isBetter(candidate: number, current: number | undefined): boolean {
  if (current === undefined) return true;
  const candClass = Math.floor(candidate / 100);
  const curClass = Math.floor(current / 100);
  if (curClass === 6) return false;
  if (candClass === 6) return true;
  return candClass < curClass;
}

/**
 * §16.7 step 6: "If the selected response is a 503 (Service Unavailable), the proxy MUST generate a
 * 500 (Server Internal Error) response and forward that upstream" — so a caller does not take our
 * downstream's overload for ours.
 */
export function upstreamStatus(status: number): number {
  return status === 503 ? 500 : status;
}

/** §16.7 step 3: is there a Via below ours? (Counts values without parsing them.) */
export function hasUpstreamVia(res: SipResponse): boolean {
  return res.valueCount('via') > 1;
}

/** The request a response context answers, as the reply hook sees it. */
export interface ResponseScope {
  readonly request: SipRequest;
  readonly vars: Map<string, unknown>;
  readonly log: Logger;
}

/**
 * The response context of one proxy transaction (RFC 3261 §16.7; Kamailio tm's `t_reply.c`): the
 * reply hook, immediate relay of provisionals and 2xx, the best final so far, CANCEL of the other
 * branches, and every response sent upstream on the server transaction, relayed or made here.
 */
export class ResponseContext {
  /** A final response went upstream. */
  replied = false;
  /** A 2xx went upstream: the transaction is answered even if branches are still pending. */
  answered = false;
  /** The best final status so far (0: none). */
  bestStatus = 0;
  /** The branch that failed last (what the failure hook asks about). */
  lastFailed: Branch | undefined;
  private bestResponse: SipResponse | undefined;
  /** Every 401/407 received in this response context, for §16.7 step 7. */
  private readonly challenges: SipResponse[] = [];

  constructor(
    private readonly scope: ResponseScope,
    private readonly serverTx: ServerTransaction,
    private readonly branches: readonly Branch[],
    private readonly hooks: HookRunner,
    private readonly stateless: StatelessRelay,
    private readonly observer: ProxyObserver,
    private readonly onFinal: (serverTx: ServerTransaction) => void,
  ) {}

  /**
   * §16.7 steps 3–5 for a response a branch received: the reply hook (Kamailio `onreply_route`),
   * then provisionals and 2xx go upstream at once and a non-2xx final is kept for step 6.
   * @param settled called when a final was recorded (not forwarded): see if the transaction is done
   */
  receive(
    branch: Branch,
    res: SipResponse,
    settled: () => void,
    onFault: (err: unknown) => void,
  ): void {
    const status = res.status;
    if (!hasUpstreamVia(res)) {
      // Step 3: nobody upstream to send it to. A final still ends the branch, with a status of
      // our own: a 2xx we cannot forward is an invalid response (502), any other keeps its code.
      this.observer.responseDropped?.('no-upstream-via');
      this.scope.log.debug({ status }, 'response with no Via below ours dropped (§16.7 step 3)');
      if (status >= 200) {
        this.record(branch, status < 300 ? 502 : status, undefined);
        settled();
      }
      return;
    }
    const pass = (): void => {
      if (status < 300) this.forward(res);
      else {
        this.record(branch, status, res);
        settled();
      }
    };
    const hook = this.hooks.hooks.reply;
    if (hook === undefined) {
      pass();
      return;
    }
    let dropped = false;
    const scope = this.scope;
    const ctx = new ReplyHookContext(
      scope,
      res,
      status,
      scope.request,
      branch.destination,
      scope.vars,
      () => {
        dropped = true;
      },
    );
    const then = (): void => {
      if (!dropped || status >= 200) pass();
    };
    this.hooks.run('reply', hook, ctx, { then, onFailed: then, onFault });
  }

  /** §16.7 step 5: a provisional or 2xx goes upstream at once. */
  private forward(res: SipResponse): void {
    if (this.replied) {
      // 2xx after another 2xx (forking) or after our final: still forwarded, statelessly (§16.7 step 5).
      if (res.status >= 200 && res.status < 300) this.stateless.forwardResponse(res);
      return;
    }
    if (res.status >= 200) {
      this.answered = true;
      // §16.7 step 10: a 2xx to an INVITE cancels the other branches.
      if (this.serverTx.isInvite) this.cancelPending(undefined);
    }
    this.sendUpstream(res, true);
  }

  /** A branch ended with a non-2xx final, received (`res`) or made here. */
  record(branch: Branch, status: number, res: SipResponse | undefined): void {
    this.lastFailed = branch;
    if (res !== undefined && (status === 401 || status === 407)) this.challenges.push(res);
    if (isBetter(status, this.bestStatus === 0 ? undefined : this.bestStatus)) {
      this.bestStatus = status;
      this.bestResponse = res;
    }
    // §16.7 step 10 (and §16.7 step 5's 6xx): no point waiting for the others.
    if (status >= 600 && this.serverTx.isInvite) this.cancelPending(branch);
  }

  /** CANCEL every pending branch but `except` (§16.10, §16.7 step 10). */
  cancelPending(except: Branch | undefined): void {
    for (const b of this.branches) if (b !== except) b.cancel();
  }

  /** §16.7 step 6: every branch is done and nothing was answered: send the best final. */
  sendBest(canceled: boolean): void {
    if (this.replied) return;
    if (canceled && this.bestStatus !== 487 && this.serverTx.isInvite) {
      this.reply(487, 'Request Terminated');
      return;
    }
    const res = this.bestResponse;
    if (res === undefined) {
      const status = this.bestStatus === 0 ? 408 : this.bestStatus;
      this.reply(upstreamStatus(status));
      return;
    }
    if (res.status === 503) {
      this.reply(500);
      return;
    }
    if (res.status === 401 || res.status === 407) this.mergeChallenges(res);
    this.sendUpstream(res, true);
  }

  /**
   * §16.7 step 7: "If the selected response is a 401 or 407, the proxy MUST collect any
   * WWW-Authenticate and Proxy-Authenticate header field values from all other 401 and 407
   * responses received so far in this response context and add them to this response without
   * modification". Kamailio tm does the same (its `aggregate_challenges`, on by default), so a
   * caller forked to two realms can answer both challenges in one retry.
   */
  private mergeChallenges(selected: SipResponse): void {
    for (const other of this.challenges) {
      if (other === selected) continue;
      for (const name of ['WWW-Authenticate', 'Proxy-Authenticate']) {
        for (const value of other.getHeaders(name)) selected.appendHeader(name, value);
      }
    }
  }

  /** A response made here (`t_reply`); ignored once a final went upstream. */
  reply(status: number, reason?: string, headers?: [string, string][]): void {
    if (this.replied) return;
    const res = createResponse(
      this.scope.request,
      status,
      reason,
      headers === undefined ? undefined : { headers },
    );
    this.sendUpstream(res, false);
  }

  private sendUpstream(res: SipResponse, fromDownstream: boolean): void {
    if (fromDownstream) res.removeFirstValue('via'); // §16.7 step 9: our Via comes off
    const final = res.status >= 200;
    if (final) this.replied = true;
    this.serverTx.respond(res);
    if (final) this.onFinal(this.serverTx);
    this.observer.responseSent(res.status, fromDownstream ? 'relayed' : 'local');
  }
}
