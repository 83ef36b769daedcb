import { createResponse, parseUri } from '@sipfleet/sip';
import type { SipRequest, SipResponse, SipUri } from '@sipfleet/sip';
import type { ServerTransaction } from '@sipfleet/transaction';
import type { RemoteInfo } from '@sipfleet/transport';
import type { Logger } from 'pino';
import { Branch } from './branch.js';
import { isBetter, upstreamStatus } from './best-response.js';
import type { FailureContext, RequestContext } from './hooks.js';
import type { ProxyCore } from './proxy-core.js';
import type { BranchTimers } from './options.js';

/** Kamailio's `max_branches` default is 12; a failure hook that keeps relaying stops here. */
const MAX_BRANCHES = 32;

type Phase = 'request' | 'relaying' | 'failure' | 'done';

/**
 * One request the proxy handles statefully: the server transaction upstream, the branches
 * downstream (RFC 3261 §16.6, one client transaction each) and the response context (§16.7).
 * It is also the context object the request and failure hooks receive.
 */
export class ProxyTransaction implements RequestContext, FailureContext {
  readonly vars = new Map<string, unknown>();
  readonly method: string;
  readonly callId: string;
  readonly branches: Branch[] = [];
  requestUri: string;
  destination: string | undefined;
  timers: BranchTimers;
  private extraTargets: { uri: string; destination?: string }[] = [];
  private addRecordRoute = false;
  private recordRouteParams: string | undefined;
  private phase: Phase = 'request';
  /** Set by relay()/reply()/drop() so the core knows the hook did something. */
  handled = false;
  canceled = false;
  answered = false;
  replied = false;
  private bestResponse: SipResponse | undefined;
  bestStatus = 0;
  private lastFailed: Branch | undefined;
  private logger: Logger | undefined;
  readonly receivedAt: number;

  constructor(
    readonly core: ProxyCore,
    readonly serverTx: ServerTransaction,
    readonly request: SipRequest,
    readonly source: RemoteInfo,
    private readonly hadRouteSet: boolean,
    private readonly ownRoute: SipUri | undefined,
  ) {
    this.method = request.method;
    this.callId = request.callId;
    this.requestUri = request.uri;
    this.timers = core.timers;
    this.receivedAt = performance.now();
  }

  get log(): Logger {
    this.logger ??= this.core.log.child({ callId: this.callId });
    return this.logger;
  }

  hasToTag(): boolean {
    return this.request.to.tag !== undefined;
  }

  isMethod(...methods: string[]): boolean {
    return methods.includes(this.method);
  }

  uriIsMyself(): boolean {
    return this.core.isMyself(parseUri(this.requestUri));
  }

  looseRoute(): boolean {
    return this.hadRouteSet;
  }

  recordRoute(params?: Record<string, string>): void {
    this.addRecordRoute = true;
    if (params === undefined) return;
    let text = '';
    for (const [name, value] of Object.entries(params)) {
      if (!/^[A-Za-z0-9._~-]+$/.test(name) || !/^[A-Za-z0-9._~!*'()+-]*$/.test(value)) {
        throw new Error(`record-route param ${name}=${value} is not a plain URI token`);
      }
      text += value === '' ? `;${name}` : `;${name}=${value}`;
    }
    this.recordRouteParams = text;
  }

  routeParam(name: string): string | undefined {
    const value = this.ownRoute?.params.get(name.toLowerCase());
    return value === null ? '' : value;
  }

  setRequestUri(uri: string): void {
    parseUri(uri); // validate now, so a bad URI fails in the hook that set it
    this.requestUri = uri;
  }

  setDestination(uri: string | undefined): void {
    if (uri !== undefined) parseUri(uri);
    this.destination = uri;
  }

  appendBranch(uri: string, destination?: string): void {
    parseUri(uri);
    if (destination !== undefined) parseUri(destination);
    this.extraTargets.push(destination === undefined ? { uri } : { uri, destination });
  }

  appendHeader(name: string, value: string): void {
    this.request.appendHeader(name, value);
  }

  removeHeader(name: string): number {
    return this.request.removeHeader(name);
  }

  setTimers(timers: { frTimerMs?: number; frInvTimerMs?: number }): void {
    this.timers = { ...this.timers, ...timers };
  }

  drop(): void {
    this.handled = true;
  }

  // --- failure-hook view -----------------------------------------------------------------

  checkStatus(pattern: string | RegExp): boolean {
    const re = typeof pattern === 'string' ? new RegExp(`^(?:${pattern})$`) : pattern;
    return re.test(String(this.bestStatus));
  }

  branchTimeout(): boolean {
    return this.lastFailed?.timedOut ?? false;
  }

  branchReplied(): boolean {
    return this.lastFailed?.replied ?? false;
  }

  isCanceled(): boolean {
    return this.canceled;
  }

  get failedDestination(): string {
    return this.lastFailed?.destination ?? this.destination ?? this.requestUri;
  }

  // --- actions ---------------------------------------------------------------------------

  reply(status: number, reason?: string, headers?: [string, string][]): void {
    this.handled = true;
    if (this.replied) return;
    const res = createResponse(
      this.request,
      status,
      reason,
      headers === undefined ? undefined : { headers },
    );
    this.sendUpstream(res, false);
  }

  relay(): void {
    this.handled = true;
    if (this.replied) return;
    if (this.canceled) {
      this.reply(487, 'Request Terminated');
      return;
    }
    if (this.branches.length >= MAX_BRANCHES) {
      this.log.error({ branches: this.branches.length }, 'too many branches; not relaying again');
      this.reply(500, 'Too Many Branches');
      return;
    }
    if (this.phase === 'request') this.phase = 'relaying';
    const targets = [{ uri: this.requestUri, destination: this.destination }, ...this.extraTargets];
    this.extraTargets = [];
    for (const target of targets) {
      const branch = new Branch(this, this.branches.length, target.uri, target.destination);
      this.branches.push(branch);
      branch.start(this.core, this.addRecordRoute ? (this.recordRouteParams ?? '') : undefined);
    }
  }

  // --- called by branches ----------------------------------------------------------------

  /** A provisional or 2xx from a branch, to relay at once (§16.7 step 5). */
  forwardNow(res: SipResponse): void {
    if (this.replied) {
      // 2xx after another 2xx (forking) or after our final: still forwarded, statelessly (§16.7 step 5).
      if (res.status >= 200 && res.status < 300) this.core.forwardResponseStatelessly(res);
      return;
    }
    if (res.status >= 200) {
      this.answered = true;
      if (this.method === 'INVITE') this.cancelPending(undefined);
    }
    this.sendUpstream(res, true);
  }

  /** A branch ended with a non-2xx final, local or received. */
  branchFinished(branch: Branch, status: number, res: SipResponse | undefined): void {
    this.lastFailed = branch;
    if (isBetter(status, this.bestStatus === 0 ? undefined : this.bestStatus)) {
      this.bestStatus = status;
      this.bestResponse = res;
    }
    if (status >= 600 && this.method === 'INVITE') this.cancelPending(branch);
    this.maybeComplete();
  }

  cancelPending(except: Branch | undefined): void {
    for (const b of this.branches) if (b !== except) b.cancel();
  }

  /** Upstream CANCEL (§16.10): cancel every pending branch; their 487s complete the transaction. */
  onCancel(): void {
    this.canceled = true;
    if (this.phase === 'request') return; // relay() will answer 487 when the hook gets there
    this.cancelPending(undefined);
    this.maybeComplete();
  }

  /** The request hook finished; if it relayed nothing and answered nothing, say so. */
  requestHookDone(): void {
    if (this.handled || this.replied) return;
    this.log.warn('request route ended without relay, reply or drop; answering 500');
    this.reply(500, 'Route Did Not Handle Request');
  }

  private maybeComplete(): void {
    if (this.phase !== 'relaying' || this.answered || this.replied) return;
    for (const b of this.branches) if (!b.finished) return;
    const failure = this.core.hooks.failure;
    if (failure !== undefined && !this.canceled) {
      this.phase = 'failure';
      const before = this.branches.length;
      this.core.runHook('failure', failure, this, () => {
        this.phase = 'relaying';
        // New branches may all have ended while the hook ran; maybeComplete() then goes round again.
        if (this.branches.length > before) this.maybeComplete();
        else this.sendBest();
      });
      return;
    }
    this.sendBest();
  }

  private sendBest(): void {
    if (this.replied) return;
    if (this.canceled && this.bestStatus !== 487 && this.method === 'INVITE') {
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
    this.sendUpstream(res, true);
  }

  private sendUpstream(res: SipResponse, fromDownstream: boolean): void {
    if (fromDownstream) res.removeFirstValue('via');
    if (res.status >= 200) {
      this.replied = true;
      this.phase = 'done';
    }
    this.serverTx.respond(res);
    this.core.observer.responseSent(res.status);
  }
}
