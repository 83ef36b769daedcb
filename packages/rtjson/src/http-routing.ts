// External routing over HTTP: the edge asks a routing API where a new call goes and relays it
// as the rtjson answer says. This is Kamailio's http_async_client + rtjson pairing:
//
//   request_route:  http_async_query(url, "ROUTE")  -> 200 + success: rtjson_init_routes(),
//                   rtjson_push_routes(), t_relay(); success false: 404; else: 500
//   failure_route:  rtjson_next_route() -> t_relay()   (serial only, 5xx/408, not cancelled)
//   branch_route:   rtjson_update_branch()             (From/To, extra headers, path)
//   onreply_route:  uac restore of From/To in replies
import { withinDialog } from '@sipfleet/proxy';
import type {
  BranchContext,
  FailureContext,
  ReplyContext,
  RequestContext,
  RoutingContext,
  RoutingHooks,
} from '@sipfleet/proxy';
import { restoreFromTo, updateBranch } from './branch-update.js';
import {
  DIALOG_PARAM,
  applyDialogRewrite,
  decodeDialogRewrite,
  encodeDialogRewrite,
  fromTo,
} from './dialog.js';
import type { DialogRewrite } from './dialog.js';
import { RoutingClient } from './client.js';
import type { HttpAnswer, QueryOutcome, RoutingClientOptions } from './client.js';
import type { Route, RoutingDocument } from './document.js';
import { buildQuery } from './query.js';
import type { RoutingQuery } from './query.js';

/** A status line the edge answers with. */
export interface StatusReply {
  status: number;
  reason: string;
}

/** Why the API gave no routes: the client outcome kinds that count as "API not available". */
export type UnavailableReason = Exclude<QueryOutcome['kind'], 'ok' | 'not_found'>;

/** A routed document with at least one route. */
export type RoutedDocument = Extract<RoutingDocument, { success: true }>;

export interface HttpRoutingOptions extends RoutingClientOptions {
  /** Use this client instead of making one from the options above (shared pools, tests). */
  client?: RoutingClient;
  /**
   * Answer to a document without routes (with `envelope: 'success'`: to anything but
   * `success: true`). @default { status: 404, reason: 'Not found' }
   */
  notFound?: StatusReply;
  /**
   * Answer when the API is not available: non-200, timeout, connection error, invalid JSON, a
   * malformed rtjson document, or too many queries in flight.
   * @default { status: 500, reason: 'API Not Available' }
   */
  unavailable?: StatusReply;
  /** Final statuses that make a serial route fail over to the next one. @default '5[0-9][0-9]|408' */
  failoverStatus?: string | RegExp;
  /** Methods of initial requests that are routed over HTTP; others get `notFound`. @default every method */
  methods?: readonly string[];
  /** Methods that get our Record-Route. @default ['INVITE', 'SUBSCRIBE', 'REFER', 'NOTIFY'] */
  recordRouteMethods?: readonly string[];
  /**
   * Sees every query's outcome first (Kamailio's http_async_query reply route with `$http_rs`,
   * `$http_rb`, ...): it may answer or relay itself, e.g. on a 302 or 403 from the API, and
   * return true to end routing there. Returning false/undefined without answering lets the
   * default handling go on. The answer stays readable later in the transaction through
   * `httpAnswer(ctx)`. @default none
   */
  onAnswer?: (
    ctx: RequestContext,
    outcome: QueryOutcome,
  ) => boolean | void | Promise<boolean | void>;
  /** More query fields (account ids, tenant, ...), merged over the standard ones. */
  extraQuery?: (
    ctx: RequestContext,
    query: RoutingQuery,
  ) => Record<string, unknown> | Promise<Record<string, unknown>>;
  /**
   * Beyond Kamailio: when the API is not available, routes to use instead (a static list, a
   * dispatcher pick). Destination URIs are tried in order (serial, as `dst_uri`), a document is
   * applied as if the API had answered it; undefined falls through to `unavailable`. The hook
   * may also answer or relay itself (then return undefined).
   */
  fallback?: (
    ctx: RequestContext,
    reason: UnavailableReason,
  ) =>
    | RoutedDocument
    | readonly string[]
    | undefined
    | Promise<RoutedDocument | readonly string[] | undefined>;
}

const STATE = 'rtjson';
const ANSWER = 'rtjson.http';
/** An in-dialog request of a dialog whose From/To a route rewrote (from our Record-Route). */
const DIALOG = 'rtjson.dialog';

/**
 * The routing API's answer for this transaction (`$http_rs`, `$http_rr`, `$http_hdr(name)`,
 * `$http_rb`, `$http_time`), in any hook; undefined when the query got no complete answer.
 */
export function httpAnswer(ctx: { vars: Map<string, unknown> }): HttpAnswer | undefined {
  return ctx.vars.get(ANSWER) as HttpAnswer | undefined;
}

/** What one transaction remembers between hooks (kept in `ctx.vars`, Kamailio's xavp). */
export interface RtjsonState {
  readonly document: RoutedDocument;
  /** The Request-URI as received: routes without `uri` go there. */
  readonly originalUri: string;
  /** Index of the next serial route to try. */
  next: number;
  /** Branches created so far by our relays; branch index -> route. */
  branchCount: number;
  readonly branchRoutes: Map<number, Route>;
  /** Some branch had From/To rewritten: restore them in replies. */
  rewritten: boolean;
}

/** The rtjson state of a transaction, if it was routed from a document. */
export function rtjsonState(ctx: { vars: Map<string, unknown> }): RtjsonState | undefined {
  return ctx.vars.get(STATE) as RtjsonState | undefined;
}

/** The route a branch was created for (branch_flags, socket, ... for user branch hooks). */
export function routeOfBranch(ctx: BranchContext): Route | undefined {
  return rtjsonState(ctx)?.branchRoutes.get(ctx.index);
}

/** Sets `$ru`/`$du`/timers for one route (rtjson's per-route preparation). */
function prepare(ctx: RoutingContext, state: RtjsonState, route: Route): void {
  ctx.setRequestUri(route.uri ?? state.originalUri);
  // Loose routing (RFC 3261 §16.6 step 6): with a path and no dst_uri, the first path hop is next.
  ctx.setDestination(route.dstUri ?? route.path?.[0]);
  const timers: { frTimerMs?: number; frInvTimerMs?: number } = {};
  if (route.frTimerMs !== undefined) timers.frTimerMs = route.frTimerMs;
  if (route.frInvTimerMs !== undefined) timers.frInvTimerMs = route.frInvTimerMs;
  // Like t_set_fr(): a route without timers keeps the ones in force.
  if (timers.frTimerMs !== undefined || timers.frInvTimerMs !== undefined) ctx.setTimers(timers);
}

/**
 * rtjson_init_routes() + rtjson_push_routes() + t_relay(): the first route (serial) or every
 * route (parallel) is relayed. Branch indexes are recorded so the branch hook knows each route.
 */
export function relayRoutes(ctx: RoutingContext, document: RoutedDocument): void {
  const state: RtjsonState = {
    document,
    originalUri: ctx.request.uri,
    next: 0,
    branchCount: 0,
    branchRoutes: new Map(),
    rewritten: false,
  };
  ctx.vars.set(STATE, state);
  const [first, ...rest] = document.routes;
  if (first === undefined) return; // parseRtjson never lets an empty list through
  prepare(ctx, state, first);
  state.branchRoutes.set(state.branchCount++, first);
  state.next = 1;
  if (document.routing === 'parallel') {
    for (const route of rest) {
      ctx.appendBranch(route.uri ?? state.originalUri, route.dstUri ?? route.path?.[0]);
      state.branchRoutes.set(state.branchCount++, route);
    }
    state.next = document.routes.length;
  }
  ctx.relay();
}

/** rtjson_next_route() + t_relay(): true when another serial route was relayed. */
export function relayNextRoute(ctx: FailureContext): boolean {
  const state = rtjsonState(ctx);
  if (state === undefined) return false;
  const route = state.document.routes[state.next];
  if (route === undefined) return false;
  state.next++;
  prepare(ctx, state, route);
  state.branchRoutes.set(state.branchCount++, route);
  ctx.relay();
  return true;
}

const DEFAULT_RECORD_ROUTE = ['INVITE', 'SUBSCRIBE', 'REFER', 'NOTIFY'];

/** The routing program: request, failure, branch and reply hooks driven by the routing API. */
export function httpRouting(options: HttpRoutingOptions): RoutingHooks {
  const client = options.client ?? new RoutingClient(options);
  const notFound = options.notFound ?? { status: 404, reason: 'Not found' };
  const unavailable = options.unavailable ?? { status: 500, reason: 'API Not Available' };
  const failover = options.failoverStatus ?? '5[0-9][0-9]|408';
  const methods = options.methods === undefined ? undefined : new Set(options.methods);
  const recordRouted = new Set(options.recordRouteMethods ?? DEFAULT_RECORD_ROUTE);

  const fail = async (ctx: RequestContext, reason: UnavailableReason): Promise<void> => {
    const fallback = await options.fallback?.(ctx, reason);
    if (fallback !== undefined && !ctx.replied) {
      const document: RoutedDocument | undefined = isDocument(fallback)
        ? fallback
        : fallback.length === 0
          ? undefined
          : {
              success: true,
              routing: 'serial',
              routes: fallback.map((dstUri) => ({ dstUri, headers: { extra: [] } })),
            };
      if (document !== undefined) {
        ctx.log.info({ reason }, 'routing API not available; using the fallback routes');
        relayRoutes(ctx, document);
        return;
      }
    }
    if (!ctx.replied) ctx.reply(unavailable.status, unavailable.reason);
  };

  return {
    async request(ctx) {
      if (ctx.hasToTag()) {
        const saved = ctx.routeParam(DIALOG_PARAM);
        const rewrite = saved === undefined ? undefined : decodeDialogRewrite(saved);
        if (rewrite !== undefined) ctx.vars.set(DIALOG, rewrite);
      }
      if (withinDialog(ctx)) return;
      if (
        ctx.isMethod('OPTIONS') &&
        ctx.uriIsMyself() &&
        ctx.request.parsedUri.user === undefined
      ) {
        ctx.reply(200, 'OK'); // keepalive to the proxy itself
        return;
      }
      if (methods !== undefined && !methods.has(ctx.method)) {
        ctx.reply(notFound.status, notFound.reason);
        return;
      }
      if (recordRouted.has(ctx.method)) ctx.recordRoute();
      let query: RoutingQuery = buildQuery(ctx);
      if (options.extraQuery !== undefined) {
        query = { ...query, ...(await options.extraQuery(ctx, query)) };
      }
      const outcome = await client.query(query);
      if ('answer' in outcome && outcome.answer !== undefined) ctx.vars.set(ANSWER, outcome.answer);
      if (options.onAnswer !== undefined) {
        const handled = await options.onAnswer(ctx, outcome);
        if (handled === true || ctx.replied) return;
      }
      switch (outcome.kind) {
        case 'ok':
          relayRoutes(ctx, outcome.document);
          return;
        case 'not_found':
          ctx.reply(notFound.status, notFound.reason);
          return;
        case 'invalid_rtjson':
          ctx.log.warn(
            { field: outcome.error.path, problem: outcome.error.problem },
            `routing API answered a malformed rtjson document: ${outcome.error.message}`,
          );
          break;
        case 'http_error':
          ctx.log.warn({ status: outcome.status }, 'routing API answered an HTTP error');
          break;
        case 'invalid_json':
          ctx.log.warn({ detail: outcome.detail }, 'routing API answered invalid JSON');
          break;
        case 'connection_error':
          ctx.log.warn({ err: outcome.error }, 'routing API unreachable');
          break;
        case 'timeout':
          ctx.log.warn({ timeoutMs: client.timeoutMs }, 'routing API timed out');
          break;
        case 'overloaded':
          ctx.log.warn({ inFlight: client.inFlight }, 'too many routing queries in flight');
          break;
      }
      await fail(ctx, outcome.kind);
    },

    failure(ctx) {
      if (ctx.isCanceled() || !ctx.checkStatus(failover)) return;
      relayNextRoute(ctx);
    },

    branch(ctx) {
      const dialog = ctx.vars.get(DIALOG) as DialogRewrite | undefined;
      if (dialog !== undefined) {
        applyDialogRewrite(ctx.request, dialog);
        return;
      }
      const state = rtjsonState(ctx);
      const route = state?.branchRoutes.get(ctx.index);
      if (state === undefined || route === undefined) return;
      const before = fromTo(ctx.request);
      if (!updateBranch(ctx.request, route)) return;
      state.rewritten = true;
      // uac's Record-Route encoding: the dialog's later requests are mapped too (dialog.ts).
      const saved = encodeDialogRewrite(before, ctx.request);
      if (saved !== undefined) ctx.addRecordRouteParam(DIALOG_PARAM, saved);
    },

    reply(ctx: ReplyContext) {
      if (rtjsonState(ctx)?.rewritten || ctx.vars.has(DIALOG)) {
        restoreFromTo(ctx.response, ctx.request);
      }
    },
  };
}

function isDocument(value: RoutedDocument | readonly string[]): value is RoutedDocument {
  return !Array.isArray(value);
}
