import type { SipRequest, SipResponse } from '@sipfleet/sip';
import type { RemoteInfo } from '@sipfleet/transport';
import type { Logger } from 'pino';

/** What request, failure and branch hooks share: Kamailio's core and tm functions on one request. */
export interface RoutingContext {
  /** The request as received, after Max-Forwards and Route pre-processing (RFC 3261 §16.3, §16.4). */
  readonly request: SipRequest;
  readonly source: RemoteInfo;
  readonly method: string;
  readonly callId: string;
  /** Per-transaction variables (Kamailio AVPs): set in `request`, read in `reply`/`failure`. */
  readonly vars: Map<string, unknown>;
  /** A pino logger bound to this call's Call-ID. */
  readonly log: Logger;
  /** `has_totag()`: true for in-dialog requests. */
  hasToTag(): boolean;
  /** `is_method("INVITE|BYE")` */
  isMethod(...methods: string[]): boolean;
  /** Replies on the server transaction (`t_reply`; `sl_send_reply` for the stateless ACK path is a no-op). */
  reply(status: number, reason?: string, headers?: [string, string][]): void;
  /** `$ru`: the Request-URI the next relay uses. */
  setRequestUri(uri: string): void;
  readonly requestUri: string;
  /**
   * `rewritehostport()` with the host and port of the SIP URI `uri` (e.g. a dispatcher
   * destination): the Request-URI keeps its scheme, user, parameters and headers, and has no port
   * when `uri` has none. What Kamailio's `ds_select_domain()` / `ds_next_domain()` do with the
   * selected destination.
   */
  rewriteHostPort(uri: string): void;
  /** `$du`: send to this URI instead of the one routing would pick (outbound proxy, dispatcher target). */
  setDestination(uri: string | undefined): void;
  readonly destination: string | undefined;
  /**
   * `force_send_socket()`: relayed UDP requests leave from the listener `socket` names
   * (`udp:10.0.0.1:5070`, Kamailio's notation), with that listener in their Via; undefined goes
   * back to the default socket. Requests over another protocol are not affected.
   * @throws Error when `socket` is not one of this proxy's listeners
   */
  setSendSocket(socket: string | undefined): void;
  /** `append_branch()`: one more target for a parallel fork on the next relay. */
  appendBranch(uri: string, destination?: string): void;
  /** `append_hf()` on the request every branch is copied from. */
  appendHeader(name: string, value: string): void;
  /** `remove_hf()` on the request every branch is copied from. */
  removeHeader(name: string): number;
  /** `t_set_fr(fr_inv, fr)` in milliseconds, for branches relayed from now on. */
  setTimers(timers: { frTimerMs?: number; frInvTimerMs?: number }): void;
  /**
   * `t_relay()`: forward statefully to the current target set (R-URI or destination, plus appended
   * branches). Failures (timeouts, transport errors, error replies) come back through the failure hook.
   */
  relay(): void;
  /** Ends routing for this request without an answer (Kamailio `drop`/`exit` without a reply); the server transaction is discarded. */
  drop(): void;
  /** True once a final response has been sent upstream. */
  readonly replied: boolean;
}

export interface RequestContext extends RoutingContext {
  /**
   * `record_route()`: insert our Record-Route when relaying (dialog-creating requests). `params`
   * go on our Record-Route URI (Kamailio `add_rr_param`) and come back on in-dialog requests.
   */
  recordRoute(params?: Record<string, string>): void;
  /** `loose_route()`: true when the request carried a Route set (in-dialog routing; ours was already removed). */
  looseRoute(): boolean;
  /**
   * `check_route_param()`/`get_route_param()`: a parameter of our own Route entry that this
   * in-dialog request carried (put there by `recordRoute(params)`), or undefined.
   */
  routeParam(name: string): string | undefined;
  /** True when the Request-URI names this proxy (Kamailio `uri == myself`). */
  uriIsMyself(): boolean;
}

export interface FailureContext extends RoutingContext {
  /** The best final response collected so far (408 made locally when branches timed out). */
  readonly bestStatus: number;
  /** `t_check_status("5[0-9][0-9]|408")`: does the best status match this pattern (whole-status regex)? */
  checkStatus(pattern: string | RegExp): boolean;
  /** `t_branch_timeout()`: the last branch ended by a timer (fr_timer/fr_inv_timer or Timer B/F). */
  branchTimeout(): boolean;
  /** `t_branch_replied()`: the last branch received at least one reply. */
  branchReplied(): boolean;
  /** `t_is_canceled()`: the caller cancelled; do not fail over. */
  isCanceled(): boolean;
  /** The URI the last failed branch was sent to (`$du` if set, else its R-URI). */
  readonly failedDestination: string;
}

export interface BranchContext {
  /** This branch's own copy of the request (changes apply to this branch only). */
  readonly request: SipRequest;
  readonly destination: string;
  readonly index: number;
  readonly vars: Map<string, unknown>;
  readonly log: Logger;
  /** Do not send this branch. */
  drop(): void;
  /**
   * `add_rr_param()` for this branch only: a parameter on the Record-Route this branch's copy
   * carries from us, so it comes back (`routeParam`) on the dialog's in-dialog requests (Kamailio
   * uac stores its From/To restore data this way). False when the branch is not record-routed.
   */
  addRecordRouteParam(name: string, value: string): boolean;
}

export interface ReplyContext {
  readonly response: SipResponse;
  readonly status: number;
  readonly request: SipRequest;
  readonly destination: string;
  readonly vars: Map<string, unknown>;
  readonly log: Logger;
  /** Do not relay this provisional reply upstream (finals cannot be dropped). */
  drop(): void;
}

type Hook<C> = (ctx: C) => void | Promise<void>;

/**
 * A routing program: Kamailio's `request_route`, `branch_route`, `onreply_route` and
 * `failure_route`, in TypeScript. Any hook may be async; the proxy keeps serving other calls
 * while it awaits.
 */
export interface RoutingHooks {
  request?: Hook<RequestContext>;
  branch?: Hook<BranchContext>;
  reply?: Hook<ReplyContext>;
  failure?: Hook<FailureContext>;
}

/**
 * What a routing module may register on its process' metrics (served on `/metrics`), without
 * depending on prom-client itself. Names should start with `sipfleet_`.
 */
export interface RoutingMetrics {
  counter(
    name: string,
    help: string,
    labelNames?: readonly string[],
  ): { inc(labels: Record<string, string>, value?: number): void };
  histogram(
    name: string,
    help: string,
    buckets: readonly number[],
    labelNames?: readonly string[],
  ): { observe(labels: Record<string, string>, value: number): void };
}
