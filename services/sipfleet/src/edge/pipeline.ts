import type { RequestContext, RoutingHooks } from '@sipfleet/proxy';
import type { EdgeMetrics } from '../metrics.js';
import type { MaintenanceCheck } from './maintenance.js';
import type { RegistrationKeepalive } from './registration-keepalive.js';

/**
 * One step of the request pipeline. It returns true when it answered the request (the steps
 * after it do not run), or a promise when it took the request over.
 */
export type PipelineStep = (ctx: RequestContext) => boolean | Promise<void>;

export interface PipelineSteps {
  draining: () => boolean;
  maintenance: MaintenanceCheck | undefined;
  registration: RegistrationKeepalive | undefined;
  /** secfilter's User-Agent check (edge/secfilter.ts). */
  secfilter: PipelineStep | undefined;
  metrics: EdgeMetrics;
}

/**
 * The fixed steps before the routing program's request hook (docs/architecture.md, "life of one
 * INVITE"), in order: drain refusal, secfilter's User-Agent check, the maintenance check,
 * REGISTERs of register-mode destinations; then the route (a user module, the dispatcher route or
 * the default route). Overload shedding comes before all of them, before the request even has a
 * transaction: `overloadAdmission` in overload.ts.
 */
export function pipeline(route: RoutingHooks, steps: PipelineSteps): RoutingHooks {
  const order: PipelineStep[] = [drainStep(steps), ...optional(steps)];
  const request = route.request;
  return {
    ...route,
    request(ctx) {
      for (const step of order) {
        const taken = step(ctx);
        if (taken === true) return;
        if (taken !== false) return taken;
      }
      return request?.(ctx);
    },
  };
}

/** SIGTERM: new INVITEs are refused with 503 while in-dialog requests go on. */
function drainStep(steps: PipelineSteps): PipelineStep {
  return (ctx) => {
    if (!steps.draining() || ctx.method !== 'INVITE' || ctx.hasToTag()) return false;
    steps.metrics.drainRefusals.inc();
    ctx.reply(503, 'Draining', [['Retry-After', '5']]);
    return true;
  };
}

function optional(steps: PipelineSteps): PipelineStep[] {
  const out: PipelineStep[] = [];
  const { maintenance, registration } = steps;
  if (steps.secfilter !== undefined) out.push(steps.secfilter);
  if (maintenance !== undefined) out.push((ctx) => maintenance.refuse(ctx));
  if (registration !== undefined) {
    out.push((ctx) => {
      const registered = registration.match(ctx);
      if (registered === undefined) return false;
      if (registered === 'refuse') {
        steps.metrics.registrations.inc({ set: 'none', result: 'refused' });
        ctx.reply(403, 'Not Allowed To Register');
        return true;
      }
      return registration.register(ctx, registered).then((results) => {
        const set = String(registered.setid);
        for (const result of results) steps.metrics.registrations.inc({ set, result });
      });
    });
  }
  return out;
}
