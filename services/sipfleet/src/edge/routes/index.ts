import { defaultRoute } from '@sipfleet/proxy';
import type { RoutingHooks } from '@sipfleet/proxy';
import type { Logger } from 'pino';
import type { EdgeConfig } from '../../config.js';
import type { EdgeMetrics } from '../../metrics.js';
import type { SharedState } from '../shared-state.js';
import { dispatcherRoute } from './dispatcher.js';
import type { LoopHealth } from './dispatcher.js';
import { loadRoutingModule } from './module.js';

/**
 * The routing program behind the pipeline's fixed steps: the user's module (`routing.module`),
 * else the dispatcher route (`routing.dispatcher`), else the default route to
 * `routing.destination` (foreign domains refused unless `routing.allowRelay`).
 */
export async function chooseRoute(
  config: EdgeConfig,
  shared: SharedState | undefined,
  metrics: EdgeMetrics,
  log: Logger,
  health: LoopHealth,
): Promise<RoutingHooks> {
  const routing = config.routing;
  const dispatcher = shared?.dispatcher;
  if (routing.module !== undefined) {
    return loadRoutingModule(routing.module, {
      nodeId: config.nodeId,
      log,
      htables: shared?.htables,
      keepalive: shared?.keepalive,
      dispatcher,
      metrics: metrics.forRoutingModules(),
    });
  }
  if (routing.dispatcher !== undefined && dispatcher !== undefined) {
    return dispatcherRoute(
      routing.dispatcher,
      dispatcher.view,
      dispatcher.fleet,
      metrics,
      health,
      config.dispatcher.defaultSocket,
    );
  }
  return defaultRoute({
    ...(routing.destination === undefined ? {} : { destination: routing.destination }),
    allowRelay: routing.allowRelay,
  });
}
