import { DS_ALG, DS_SET_ROUTE_PARAM, formatSetParam, isActive } from '@sipfleet/dispatcher';
import type { Candidate, DispatcherFleet, DispatcherView } from '@sipfleet/dispatcher';
import { withinDialog } from '@sipfleet/proxy';
import type { FailureContext, RequestContext, RoutingHooks } from '@sipfleet/proxy';
import type { EdgeConfig } from '../../config.js';
import type { EdgeMetrics } from '../../metrics.js';

type DispatcherRouting = NonNullable<EdgeConfig['routing']['dispatcher']>;

/** Per-call state the failure hook needs (Kamailio keeps it in AVPs). */
interface CallPlan {
  candidates: readonly Candidate[];
  next: number;
  tried: string[];
}

const PLAN = 'dispatcher.plan';

/**
 * The default route with a dispatcher set: Kamailio's LOADBALANCE and MANAGE_FAILURE routes from
 * the media-server load-balancing recipe. Initial requests are record-routed and sent to the
 * selected destination; on 5xx, or a branch timeout without any reply, the destination is marked
 * inactive+probing fleet-wide (on 500 and timeouts, as the recipe does) and the call moves to the
 * next candidate with a fresh no-reply timer; when none is left, `404 No destination`. A cancelled
 * call is not failed over. With algorithm 10 every call holds a call-load slot: reserved at
 * selection, confirmed by the 2xx, released by a 3xx–6xx, BYE or CANCEL on whichever edge.
 */
export function dispatcherRoute(
  opts: DispatcherRouting,
  view: DispatcherView,
  fleet: DispatcherFleet,
  metrics: EdgeMetrics,
): RoutingHooks {
  const callLoad = opts.algorithm === DS_ALG.CALL_LOAD;
  const refuse = (ctx: RequestContext | FailureContext, code: number, reason: string): void => {
    metrics.dispatcherRefusals.inc({ set: String(opts.set), reason });
    ctx.reply(code, reason);
  };
  const releaseSlot = (ctx: { log: RequestContext['log'] }, setid: number, callId: string) => {
    view.callLoad
      .release(setid, callId)
      .catch((err: unknown) => ctx.log.warn({ err }, 'call-load release failed'));
  };

  return {
    async request(ctx) {
      if (ctx.hasToTag()) {
        // BYE on any edge releases the call's slot; the set came back in our Route entry.
        if (callLoad && ctx.isMethod('BYE')) {
          const param = ctx.routeParam(DS_SET_ROUTE_PARAM);
          releaseSlot(
            ctx,
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
      let selection;
      try {
        selection = await view.selectDestinations(
          opts.set,
          opts.algorithm,
          {
            callId: ctx.callId,
            fromUri: req.from.uri.toString(),
            toUri: req.to.uri.toString(),
            ruri: ctx.requestUri,
            ...(opts.hashHeader === undefined
              ? {}
              : { hashValue: req.getHeader(opts.hashHeader) ?? '' }),
          },
          opts.limit > 0 ? { limit: opts.limit } : {},
        );
      } catch (err) {
        ctx.log.warn({ err }, 'dispatcher selection failed (Redis unavailable for call load)');
        metrics.dispatcherSelections.inc({
          set: String(opts.set),
          alg: String(opts.algorithm),
          result: 'error',
        });
        refuse(ctx, opts.maxloadRefusal.code, opts.maxloadRefusal.reason);
        return;
      }
      const first = selection.candidates[0];
      metrics.dispatcherSelections.inc({
        set: String(opts.set),
        alg: String(opts.algorithm),
        result: first === undefined ? (selection.failure?.reason ?? 'none') : 'ok',
      });
      if (first === undefined) {
        if (selection.failure?.reason === 'all-at-maxload') {
          refuse(ctx, opts.maxloadRefusal.code, opts.maxloadRefusal.reason);
        } else refuse(ctx, opts.noDestination.code, opts.noDestination.reason);
        return;
      }
      if (req.method === 'INVITE' || req.method === 'SUBSCRIBE') {
        ctx.recordRoute(callLoad ? { [DS_SET_ROUTE_PARAM]: formatSetParam(opts.set) } : undefined);
      }
      ctx.setTimers({ frTimerMs: opts.frTimerMs });
      if (selection.parallel) {
        // Alg 12: fork to every candidate at once.
        ctx.setDestination(first.destination.uri);
        for (const c of selection.candidates.slice(1))
          ctx.appendBranch(ctx.requestUri, c.destination.uri);
        ctx.relay();
        return;
      }
      const plan: CallPlan = {
        candidates: selection.candidates,
        next: 1,
        tried: [first.destination.uri],
      };
      ctx.vars.set(PLAN, plan);
      ctx.setDestination(first.destination.uri);
      ctx.relay();
    },

    reply(ctx) {
      if (!callLoad || ctx.request.method !== 'INVITE') return;
      // ds_load_update on 2xx; ds_load_unset on 3xx-6xx (the failure hook may reserve again).
      if (ctx.status >= 200 && ctx.status < 300) {
        view.callLoad
          .confirm(opts.set, ctx.request.callId)
          .catch((err: unknown) => ctx.log.warn({ err }, 'call-load confirm failed'));
      } else if (ctx.status >= 300) releaseSlot(ctx, opts.set, ctx.request.callId);
    },

    async failure(ctx) {
      const plan = ctx.vars.get(PLAN) as CallPlan | undefined;
      if (plan === undefined || ctx.isCanceled() || !opts.failover) return;
      const timedOutSilent = ctx.branchTimeout() && !ctx.branchReplied();
      if (!ctx.checkStatus('5[0-9][0-9]|408') && !timedOutSilent) return;
      const failed = ctx.failedDestination;
      if (ctx.checkStatus('500') || timedOutSilent) {
        // ds_mark_dst("ip"): fleet-wide, published once; the prober brings it back.
        fleet
          .setState(opts.set, failed, 'ip', { reason: `call ${ctx.callId}: ${ctx.bestStatus}` })
          .catch((err: unknown) => ctx.log.warn({ err, destination: failed }, 'mark failed'));
      }
      metrics.dispatcherFailovers.inc({ set: String(opts.set) });
      let next: string | undefined;
      if (callLoad) {
        const moved = await view.callLoad
          .reserve(opts.set, ctx.callId, { replace: true, exclude: plan.tried })
          .catch(() => undefined);
        next = moved?.ok
          ? plan.candidates.find((c) => c.destination.uri.toLowerCase() === moved.uri)?.destination
              .uri
          : undefined;
      } else {
        // ds_next_dst: the next candidate that is still active in the current snapshot.
        while (plan.next < plan.candidates.length) {
          const c = plan.candidates[plan.next++];
          const now = view.snapshot.sets
            .get(opts.set)
            ?.destinations.find((d) => d.uri === c?.destination.uri);
          if (c !== undefined && now !== undefined && isActive(now)) {
            next = c.destination.uri;
            break;
          }
        }
      }
      if (next === undefined) {
        refuse(ctx, opts.noDestination.code, opts.noDestination.reason);
        return;
      }
      plan.tried.push(next);
      ctx.log.info({ failed, next, status: ctx.bestStatus }, 'dispatcher failover');
      ctx.setDestination(next);
      ctx.setTimers({ frTimerMs: opts.frTimerMs });
      ctx.relay();
    },
  };
}
