import {
  DS_ALG,
  DS_SET_ROUTE_PARAM,
  FailoverCursor,
  MarkEvidence,
  callInputFrom,
  compileHashTemplate,
  formatSetParam,
  isActive,
  parseRouteRules,
} from '@sipfleet/dispatcher';
import type { CallInput, Destination, Selection } from '@sipfleet/dispatcher';
import type { DispatcherFleet, DispatcherView } from '@sipfleet/dispatcher';
import { withinDialog } from '@sipfleet/proxy';
import type { FailureContext, RequestContext, RoutingHooks } from '@sipfleet/proxy';
import type { EdgeConfig } from '../../config.js';
import type { CounterCell } from '../../counter-cells.js';
import type { EdgeMetrics } from '../../metrics.js';
import { type PathState, relayTo } from './registered-path.js';

type DispatcherRouting = NonNullable<EdgeConfig['routing']['dispatcher']>;

/** Per-call state the failure hook needs (Kamailio keeps it in AVPs). */
interface CallPlan {
  /** ds_select_dst's candidate list, walked by ds_next_dst. */
  cursor: FailoverCursor;
  /** Every destination relayed to, also those a moved call-load slot chose outside the list. */
  tried: string[];
  /** The set of the destination relayed to last (ds_select_routes mixes sets). */
  triedSet: number;
  /** The INVITE holds a call-load slot (alg 10) that this edge still has to release or confirm. */
  slot: boolean;
  /** When the current branch was relayed (ms, for the lag check of a timeout). */
  branchAt: number;
  /** The destination of the current branch (its `$du` is a Path hop when it registered via one). */
  current: string;
  path: PathState;
}

const PLAN = 'dispatcher.plan';

/** The edge's event-loop health (its overload monitor): was the loop lagging lately? */
export interface LoopHealth {
  /** True when the event loop lagged at some point within the last `ms` milliseconds. */
  laggedWithin(ms: number): boolean;
}

/**
 * The default route with a dispatcher set: Kamailio's LOADBALANCE and MANAGE_FAILURE routes from
 * the media-server load-balancing recipe. Initial requests are record-routed and sent to the
 * selected destination; on 5xx, or a branch timeout without any reply, the destination is marked
 * inactive+probing fleet-wide (on 500 and timeouts, as the recipe does) and the call moves to the
 * next candidate with a fresh no-reply timer; when none is left, `404 No destination`. A cancelled
 * call is not failed over.
 *
 * Marking is evidence-based, because a mark is fleet-wide: a destination is marked only after
 * `markFailures` failures within `markWindowMs` on this edge, a timeout counts only when `health`
 * says the event loop did not lag during the branch (an overloaded edge's late timers are not the
 * server's fault), and the last active destination of the set is never marked from the call path
 * (the prober still can).
 *
 * `useDefault` keeps the set's last destination as the final candidate (Kamailio `use_default`),
 * `routes` appends the candidates of more sets (`ds_select_routes`), and `mode: 'domain'` rewrites
 * the Request-URI's host and port instead of setting the next hop (`ds_select_domain`, and
 * `ds_next_domain` on failover).
 *
 * With algorithm 10 each INVITE holds a call-load slot (other methods take none and are spread
 * by Call-ID hash): reserved at selection, confirmed by the 2xx, released by whatever ends the
 * attempt (3xx–6xx, a local timeout, CANCEL, no destination left) or by the BYE on any edge.
 * Releases and confirms that cannot reach Redis are retried after it comes back (CallLoad).
 */
export function dispatcherRoute(
  opts: DispatcherRouting,
  view: DispatcherView,
  fleet: DispatcherFleet,
  metrics: EdgeMetrics,
  health?: LoopHealth,
  /** ds_default_socket (`dispatcher.defaultSocket`): validated against `listen` at start-up. */
  defaultSocket?: string,
  /** Listener names (`listen[].name`) to `proto:address:port`, for the `sockname` attribute. */
  socketNames: ReadonlyMap<string, string> = new Map(),
): RoutingHooks {
  const callLoad = opts.algorithm === DS_ALG.CALL_LOAD;
  const set = String(opts.set);
  const evidence = new MarkEvidence({ failures: opts.markFailures, windowMs: opts.markWindowMs });
  // Validated with the configuration already; compiled once here, printed per call.
  const hashTemplate =
    opts.hashTemplate === undefined
      ? undefined
      : compileHashTemplate(opts.hashTemplate, 'routing.dispatcher.hashTemplate');
  const hashHeader = opts.hashHeader;
  const userOnly = opts.hashUserOnly;
  // ds_select_routes: set/algorithm first, then the extra rules (validated with the config).
  const rules = [
    { set: opts.set, alg: opts.algorithm },
    ...(opts.routes === undefined ? [] : parseRouteRules(opts.routes)),
  ];
  const selectOptions = {
    ...(opts.limit > 0 ? { limit: opts.limit } : {}),
    useDefault: opts.useDefault,
  };
  /** ds_select_dst / ds_select_routes with the input every rule's algorithm reads. */
  const selectFor = (request: RequestContext['request'], alg: number, requestUri: string) => {
    // a literal of one shape per call: spreading the fixed options into a new object cost more
    const inputOf = (a: number): CallInput =>
      callInputFrom(request, a, { hashHeader, hashTemplate, requestUri, userOnly });
    if (rules.length === 1) {
      return view.selectDestinations(opts.set, alg, inputOf(alg), selectOptions);
    }
    const input = Object.assign({}, ...rules.map((r) => inputOf(r.alg))) as CallInput;
    return view.selectRoutes(rules, input, selectOptions);
  };
  // A `socket` attribute naming no listener of this edge: said once per value, then ignored.
  const unknownSockets = new Set<string>();
  /**
   * `$du` (ds_select_dst / ds_next_dst; through its Path when the destination registered via
   * proxies), or the R-URI's host:port (ds_select_domain / _next_domain); and the socket to leave from: the destination's `socket` attribute, else
   * ds_default_socket (Kamailio sets $fs from the attribute the same way).
   */
  const target = (
    ctx: RequestContext | FailureContext,
    dst: Destination,
    path?: PathState,
  ): void => {
    if (opts.mode === 'domain') ctx.rewriteHostPort(dst.uri);
    else if (path !== undefined) relayTo(ctx, dst, path);
    else ctx.setDestination(dst.uri);
    const { sockname } = dst.attrs;
    // An unknown name is no listener either: warned once below, like an unknown socket.
    const named =
      sockname === undefined ? undefined : (socketNames.get(sockname) ?? `sockname=${sockname}`);
    const socket = dst.attrs.socket ?? named ?? defaultSocket;
    try {
      ctx.setSendSocket(socket);
    } catch {
      if (socket !== undefined && !unknownSockets.has(socket)) {
        unknownSockets.add(socket);
        ctx.log.warn(
          { destination: dst.uri, socket },
          'dispatcher socket attribute names no listener of this edge; using the default socket',
        );
      }
      ctx.setSendSocket(defaultSocket);
    }
  };
  // One counter cell per algorithm and result, taken on first use: no label hashing per call.
  const selectionCells = new Map<number, Map<string, CounterCell>>();
  const selected = (alg: number, result: string): void => {
    let byResult = selectionCells.get(alg);
    if (byResult === undefined) selectionCells.set(alg, (byResult = new Map()));
    let cell = byResult.get(result);
    if (cell === undefined) {
      cell = metrics.dispatcherSelections.cell({ set, alg: String(alg), result });
      byResult.set(result, cell);
    }
    cell.n++;
  };
  // One warning per outage, not one per refused call; the metric counts each.
  let selectionFailures = 0;
  const refuse = (ctx: RequestContext | FailureContext, code: number, reason: string): void => {
    metrics.dispatcherRefusals.inc({ set, reason });
    ctx.reply(code, reason);
  };
  const release = (plan: CallPlan | undefined, callId: string): void => {
    if (plan?.slot !== true) return;
    plan.slot = false;
    view.callLoad.releaseOrRetry(opts.set, callId);
  };
  if (callLoad) {
    view.callLoad.on('deferred', (op) => metrics.dispatcherCallLoadDeferred.inc({ op }));
    view.callLoad.on('dropped', (op) => metrics.dispatcherCallLoadDropped.inc({ op }));
    view.callLoad.on('replayed', (n) => metrics.dispatcherCallLoadReplayed.inc(n));
  }

  // Marks this edge sent whose event has not reached its snapshot yet (the bus takes a few ms):
  // they count as down already, so two quick failures cannot take the last two destinations.
  const inFlightMarks = new Map<string, number>();
  const settled = (event: { uri: string }) => inFlightMarks.delete(event.uri.toLowerCase());
  for (const name of ['dst-down', 'dst-up', 'dst-state'] as const) view.on(name, settled);
  const marking = (uri: string) =>
    (inFlightMarks.get(uri.toLowerCase()) ?? -Infinity) > Date.now() - opts.markWindowMs;

  /** ds_mark_dst("ip") from the call path, only on evidence (see above). */
  const markOnEvidence = (
    ctx: FailureContext,
    failed: string,
    timedOut: boolean,
    plan: CallPlan,
  ) => {
    const key = failed.toLowerCase();
    const result = (() => {
      if (timedOut && health?.laggedWithin(Date.now() - plan.branchAt + 1) === true)
        return 'lagged';
      if (!evidence.record(failed)) return 'below-threshold';
      const others = view.snapshot.sets
        .get(plan.triedSet)
        ?.destinations.filter((d) => isActive(d) && d.uri.toLowerCase() !== key && !marking(d.uri));
      if ((others?.length ?? 0) === 0) return 'last-active';
      return 'marked';
    })();
    metrics.dispatcherMarks.inc({ set, result });
    if (result !== 'marked') return;
    inFlightMarks.set(key, Date.now());
    fleet
      .setState(plan.triedSet, failed, 'ip', { reason: `call ${ctx.callId}: ${ctx.bestStatus}` })
      .then((t) => {
        if (!t.changed) inFlightMarks.delete(key);
      })
      .catch((err: unknown) => {
        inFlightMarks.delete(key);
        ctx.log.warn({ err, destination: failed }, 'mark failed');
      });
  };

  return {
    async request(ctx) {
      if (ctx.hasToTag()) {
        // BYE on any edge releases the call's slot; the set came back in our Route entry.
        if (callLoad && ctx.isMethod('BYE')) {
          const param = ctx.routeParam(DS_SET_ROUTE_PARAM);
          view.callLoad.releaseOrRetry(
            param !== undefined && /^\d{1,9}$/.test(param) ? Number(param) : opts.set,
            ctx.callId,
          );
        }
        withinDialog(ctx);
        return;
      }
      if (
        ctx.uriIsMyself() &&
        ctx.isMethod('OPTIONS') &&
        ctx.request.parsedUri.user === undefined
      ) {
        ctx.reply(200, 'OK');
        return;
      }
      const req = ctx.request;
      // Only an INVITE starts a call that a 2xx/BYE will end, so only an INVITE takes a slot.
      const reserves = callLoad && req.method === 'INVITE';
      const alg = callLoad && !reserves ? DS_ALG.HASH_CALLID : opts.algorithm;
      let selection: Selection;
      try {
        // Only what the algorithms read, from the request as the route left it: a rewritten
        // R-URI is what alg 3 and $ru hash (Kamailio's $ru is the current one), the digest
        // username is alg 5's input.
        selection = await selectFor(req, alg, ctx.requestUri);
      } catch (err) {
        if (selectionFailures++ === 0) {
          ctx.log.warn(
            { err },
            'dispatcher selection failed (Redis unavailable for call load); refusing calls until it answers',
          );
        }
        selected(alg, 'error');
        refuse(ctx, opts.maxloadRefusal.code, opts.maxloadRefusal.reason);
        return;
      }
      if (selectionFailures > 0) {
        ctx.log.info({ refused: selectionFailures }, 'dispatcher selection works again');
        selectionFailures = 0;
      }
      const cursor = new FailoverCursor(selection);
      const first = cursor.next();
      selected(alg, first === undefined ? (selection.failure?.reason ?? 'none') : 'ok');
      if (first === undefined) {
        if (selection.failure?.reason === 'all-at-maxload') {
          refuse(ctx, opts.maxloadRefusal.code, opts.maxloadRefusal.reason);
        } else refuse(ctx, opts.noDestination.code, opts.noDestination.reason);
        return;
      }
      if (req.method === 'INVITE' || req.method === 'SUBSCRIBE') {
        ctx.recordRoute(reserves ? { [DS_SET_ROUTE_PARAM]: formatSetParam(opts.set) } : undefined);
      }
      ctx.setTimers({ frTimerMs: opts.frTimerMs });
      if (selection.parallel) {
        // Alg 12: fork to every candidate at once (in domain mode, each with its own R-URI).
        for (const c of selection.candidates.slice(1)) {
          if (opts.mode === 'domain') {
            ctx.rewriteHostPort(c.destination.uri);
            ctx.appendBranch(ctx.requestUri);
          } else ctx.appendBranch(ctx.requestUri, c.destination.uri);
        }
        // One send socket per transaction: the first destination's serves every branch.
        target(ctx, first.destination);
        ctx.relay();
        return;
      }
      const plan: CallPlan = {
        cursor,
        tried: [first.destination.uri],
        triedSet: first.destination.setid,
        slot: reserves,
        branchAt: Date.now(),
        current: first.destination.uri,
        path: { requestUri: ctx.requestUri, routes: false },
      };
      ctx.vars.set(PLAN, plan);
      target(ctx, first.destination, plan.path);
      ctx.relay();
    },

    reply(ctx) {
      const plan = ctx.vars.get(PLAN) as CallPlan | undefined;
      if (plan?.slot !== true) return;
      // ds_load_update on 2xx. A 3xx-6xx ends the attempt (ds_load_unset) unless the failure
      // hook will fail over on it: then its reserve moves the slot, and a release sent now
      // could land after that reserve and free the new slot.
      if (ctx.status >= 200 && ctx.status < 300) {
        view.callLoad.confirmOrRetry(opts.set, ctx.request.callId);
      } else if (
        ctx.status >= 300 &&
        !(opts.failover && /^(5\d\d|408)$/.test(String(ctx.status)))
      ) {
        release(plan, ctx.request.callId);
      }
    },

    async failure(ctx) {
      const plan = ctx.vars.get(PLAN) as CallPlan | undefined;
      if (plan === undefined) return;
      // Whatever ends the attempt here frees its slot: a local timeout without failover, a final
      // that is not failed over, CANCEL. (A CANCEL the server answers 487 was released by the
      // reply hook already; one towards a silent server reaches this hook only where the proxy
      // runs the failure hook for cancelled transactions, as Kamailio's failure_route does.)
      if (ctx.isCanceled() || !opts.failover) {
        release(plan, ctx.callId);
        return;
      }
      const timedOutSilent = ctx.branchTimeout() && !ctx.branchReplied();
      if (!ctx.checkStatus('5[0-9][0-9]|408') && !timedOutSilent) {
        release(plan, ctx.callId);
        return;
      }
      const failed = plan.current;
      if (ctx.checkStatus('500') || timedOutSilent)
        markOnEvidence(ctx, failed, timedOutSilent, plan);
      metrics.dispatcherFailovers.inc({ set });
      let next: Destination | undefined;
      if (plan.slot) {
        // ds_load_replace: the slot moves to the least-loaded destination not tried yet, which
        // may be outside the first candidate list (loads changed since): route to it all the same.
        const moved = await view.callLoad
          .reserve(opts.set, ctx.callId, { replace: true, exclude: plan.tried })
          .catch(() => undefined);
        const uri = moved?.ok ? moved.uri : undefined;
        next =
          uri === undefined
            ? undefined
            : view.snapshot.sets
                .get(opts.set)
                ?.destinations.find((d) => d.uri.toLowerCase() === uri);
        // No slot was moved (refused, Redis away) or it went to a destination this snapshot does
        // not know yet: nothing to route to, so whatever the Call-ID still holds goes.
        if (next === undefined) release(plan, ctx.callId);
      } else {
        // ds_next_dst: the next candidate that is still active in the current snapshot.
        next = plan.cursor.next((d) => {
          const now = view.snapshot.sets.get(d.setid)?.destinations.find((x) => x.uri === d.uri);
          return now !== undefined && isActive(now);
        })?.destination;
      }
      if (next === undefined) {
        refuse(ctx, opts.noDestination.code, opts.noDestination.reason);
        return;
      }
      plan.tried.push(next.uri);
      plan.triedSet = next.setid;
      plan.branchAt = Date.now();
      plan.current = next.uri;
      ctx.log.info({ failed, next: next.uri, status: ctx.bestStatus }, 'dispatcher failover');
      target(ctx, next, plan.path);
      ctx.setTimers({ frTimerMs: opts.frTimerMs });
      ctx.relay();
    },
  };
}
