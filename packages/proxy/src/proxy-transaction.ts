import { parseUri, SipParseError } from '@sipfleet/sip';
import type { SipRequest, SipResponse, SipUri } from '@sipfleet/sip';
import type { ServerTransaction } from '@sipfleet/transaction';
import type { RemoteInfo, SendTarget, SocketSpec } from '@sipfleet/transport';
import type { Logger } from 'pino';
import { Branch, recordRouteParams } from './branch.js';
import type { BranchOwner } from './branch.js';
import type { Forwarder } from './forwarder.js';
import type { HookRunner } from './hook-runner.js';
import type { FailureContext, RequestContext } from './hooks.js';
import type { ProxyObserver } from './observer.js';
import type { BranchTimers } from './options.js';
import { BadHeader } from './request-checks.js';
import type { RouteInfo } from './request-checks.js';
import { ResponseContext } from './response-context.js';
import type { StatelessRelay } from './stateless-relay.js';

/** Kamailio's `max_branches` default is 12; a failure hook that keeps relaying stops here. */
const MAX_BRANCHES = 32;

type Phase = 'request' | 'relaying' | 'failure';

/** What a proxy transaction is built from: the proxy's shared parts and this request's own. */
export interface ProxyTransactionInit {
  serverTx: ServerTransaction;
  request: SipRequest;
  source: RemoteInfo;
  routes: RouteInfo;
  /** Where an in-dialog request goes when our Route named an open flow (Forwarder.flowTarget). */
  flow: SendTarget | undefined;
  hooks: HookRunner;
  forwarder: Forwarder;
  stateless: StatelessRelay;
  observer: ProxyObserver;
  timers: BranchTimers;
  isMyself: (uri: SipUri) => boolean;
  /** A final response went upstream on `serverTx`. */
  onFinal: (serverTx: ServerTransaction) => void;
  /** The proxy's logger; this transaction's is a child bound to its Call-ID. */
  log: Logger;
}

/**
 * One request the proxy handles statefully (Kamailio's tm "cell"): the server transaction
 * upstream, the target set and branches downstream (RFC 3261 §16.5–16.6) and its response
 * context (§16.7, `response-context.ts`). It is the context object the request and failure hooks
 * receive, and the owner its branches report to. Every path through it ends with a final
 * response upstream, so the server transaction always ends.
 */
export class ProxyTransaction implements RequestContext, FailureContext, BranchOwner {
  readonly vars = new Map<string, unknown>();
  readonly method: string;
  readonly callId: string;
  readonly request: SipRequest;
  readonly source: RemoteInfo;
  readonly branches: Branch[] = [];
  readonly receivedAt: number;
  readonly flow: SendTarget | undefined;
  requestUri: string;
  sendSocket: SocketSpec | undefined;
  destination: string | undefined;
  timers: BranchTimers;
  /** Set by the upstream CANCEL (§16.10). */
  canceled = false;
  private readonly responses: ResponseContext;
  private extraTargets: { uri: string; destination?: string }[] = [];
  private addRecordRoute = false;
  private recordRouteParams: string | undefined;
  private phase: Phase = 'request';
  /** Set by relay()/reply()/drop() so the request hook is known to have done something. */
  private handled = false;
  private logger: Logger | undefined;

  constructor(private readonly init: ProxyTransactionInit) {
    this.request = init.request;
    this.source = init.source;
    this.flow = init.flow;
    this.method = init.request.method;
    this.callId = init.request.callId;
    this.requestUri = init.request.uri;
    this.timers = init.timers;
    this.receivedAt = performance.now();
    this.responses = new ResponseContext(
      this,
      init.serverTx,
      this.branches,
      init.hooks,
      init.stateless,
      init.observer,
      init.onFinal,
    );
  }

  get log(): Logger {
    this.logger ??= this.init.log.child({ callId: this.callId });
    return this.logger;
  }

  // --- request-hook view (Kamailio core, rr and tm functions) -----------------------------

  hasToTag(): boolean {
    return this.request.to.tag !== undefined;
  }

  isMethod(...methods: string[]): boolean {
    return methods.includes(this.method);
  }

  uriIsMyself(): boolean {
    return this.init.isMyself(parseUri(this.requestUri));
  }

  looseRoute(): boolean {
    return this.init.routes.hadRouteSet;
  }

  recordRoute(params?: Record<string, string>): void {
    this.addRecordRoute = true;
    if (params === undefined) return;
    this.recordRouteParams = recordRouteParams(params);
  }

  routeParam(name: string): string | undefined {
    const value = this.init.routes.ownRoute?.params.get(name.toLowerCase());
    return value === null ? '' : value;
  }

  setRequestUri(uri: string): void {
    parseUri(uri); // validate now, so a bad URI fails in the hook that set it
    this.requestUri = uri;
  }

  rewriteHostPort(uri: string): void {
    const target = parseUri(uri);
    const ruri = parseUri(this.requestUri);
    if (ruri.scheme === 'tel' || target.scheme === 'tel') {
      throw new Error(
        `rewriteHostPort: ${ruri.scheme === 'tel' ? this.requestUri : uri} has no host`,
      );
    }
    ruri.host = target.host;
    if (target.port === undefined) delete ruri.port;
    else ruri.port = target.port;
    this.requestUri = ruri.toString();
  }

  setSendSocket(socket: string | undefined): void {
    if (socket === undefined) {
      this.sendSocket = undefined;
      return;
    }
    const listener = this.init.forwarder.listener(socket);
    if (listener === undefined) throw new Error(`setSendSocket: ${socket} is not a listener`);
    this.sendSocket = listener;
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
    // Nothing will answer the request: end its server transaction now instead of leaving it open.
    if (!this.replied && this.branches.length === 0) this.init.serverTx.discard();
  }

  get replied(): boolean {
    return this.responses.replied;
  }

  // --- failure-hook view -----------------------------------------------------------------

  get bestStatus(): number {
    return this.responses.bestStatus;
  }

  checkStatus(pattern: string | RegExp): boolean {
    const re = typeof pattern === 'string' ? new RegExp(`^(?:${pattern})$`) : pattern;
    return re.test(String(this.bestStatus));
  }

  branchTimeout(): boolean {
    return this.responses.lastFailed?.timedOut ?? false;
  }

  branchReplied(): boolean {
    return this.responses.lastFailed?.replied ?? false;
  }

  isCanceled(): boolean {
    return this.canceled;
  }

  get failedDestination(): string {
    return this.responses.lastFailed?.destination ?? this.destination ?? this.requestUri;
  }

  // --- actions ---------------------------------------------------------------------------

  reply(status: number, reason?: string, headers?: [string, string][]): void {
    this.handled = true;
    this.responses.reply(status, reason, headers);
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
    const recordRoute = this.addRecordRoute ? (this.recordRouteParams ?? '') : undefined;
    for (const target of targets) {
      const branch = new Branch(
        this,
        this.init.forwarder,
        this.branches.length,
        target.uri,
        target.destination,
      );
      this.branches.push(branch);
      branch.start(recordRoute);
    }
  }

  // --- driven by the proxy core ----------------------------------------------------------

  /** Runs the request hook (Kamailio `request_route`); without one, the request is refused. */
  route(): void {
    const hook = this.init.hooks.hooks.request;
    if (hook === undefined) {
      this.requestHookDone();
      return;
    }
    this.init.hooks.run('request', hook, this as RequestContext, {
      then: () => this.requestHookDone(),
      onFailed: () => this.reply(500, 'Server Internal Error'),
      onFault: (err) => this.abort(err),
    });
  }

  /** Upstream CANCEL (§16.10): cancel every pending branch; their 487s complete the transaction. */
  onCancel(): void {
    this.canceled = true;
    if (this.phase === 'request') return; // relay() will answer 487 when the hook gets there
    this.guarded(() => {
      this.responses.cancelPending(undefined);
      this.maybeComplete();
    });
  }

  /**
   * Something threw while this request was in our hands. Whatever it was, the server transaction
   * gets its final answer: 400 naming a header that did not parse, 500 otherwise.
   */
  abort(err: unknown): void {
    const refusal = err instanceof BadHeader ? err.refusal : undefined;
    const parseError = refusal === undefined && err instanceof SipParseError;
    if (refusal === undefined && !parseError) this.log.error({ err }, 'proxy transaction failed');
    else this.log.debug({ err }, 'request with a malformed header refused');
    try {
      if (refusal !== undefined) this.reply(refusal.status, refusal.reason);
      else if (parseError) this.reply(400, 'Bad Request');
      else this.reply(500, 'Server Internal Error');
    } catch (again) {
      this.log.error({ err: again }, 'cannot answer the request');
    }
  }

  // --- BranchOwner -----------------------------------------------------------------------

  branchResponse(branch: Branch, res: SipResponse): void {
    this.guarded(() =>
      this.responses.receive(
        branch,
        res,
        () => this.maybeComplete(),
        (err) => this.abort(err),
      ),
    );
  }

  branchFailed(branch: Branch, status: number): void {
    this.guarded(() => {
      this.responses.record(branch, status, undefined);
      this.maybeComplete();
    });
  }

  private guarded(step: () => void): void {
    try {
      step();
    } catch (err) {
      this.abort(err);
    }
  }

  /** The request hook finished; if it relayed nothing and answered nothing, say so. */
  private requestHookDone(): void {
    if (this.handled || this.replied) return;
    this.log.warn('request route ended without relay, reply or drop; answering 500');
    this.reply(500, 'Route Did Not Handle Request');
  }

  private maybeComplete(): void {
    if (this.phase !== 'relaying' || this.responses.answered || this.replied) return;
    for (const b of this.branches) if (!b.finished) return;
    const failure = this.init.hooks.hooks.failure;
    // Kamailio runs failure_route for a cancelled transaction too; the route checks
    // t_is_canceled() (a call-load route releases its slot there), and relay() answers 487.
    if (failure !== undefined) {
      this.phase = 'failure';
      const before = this.branches.length;
      this.init.hooks.run('failure', failure, this as FailureContext, {
        then: () => {
          this.phase = 'relaying';
          // New branches may all have ended while the hook ran; maybeComplete() then goes round again.
          if (this.branches.length > before) this.maybeComplete();
          else this.responses.sendBest(this.canceled);
        },
        onFailed: () => this.reply(500, 'Server Internal Error'),
        onFault: (err) => this.abort(err),
      });
      return;
    }
    this.responses.sendBest(this.canceled);
  }
}
