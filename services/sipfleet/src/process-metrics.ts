import { collectDefaultMetrics } from 'prom-client';
import type { Registry } from 'prom-client';

/**
 * prom-client's gauges that end in `_total`. A `_total` suffix promises a counter, so
 * `promtool check metrics` rejects them (and `rate()` on them would be wrong); each is the sum of
 * its labelled sibling (`nodejs_active_handles{type}` ...), so nothing is lost without them.
 */
const GAUGES_NAMED_LIKE_COUNTERS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
] as const;

/**
 * Node.js process metrics (CPU, memory, file descriptors, event loop lag, GC) under their standard
 * names, `process_*` and `nodejs_*`: the names the usual Node.js dashboards and alerts query.
 */
export function registerProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  for (const name of GAUGES_NAMED_LIKE_COUNTERS) registry.removeSingleMetric(name);
}
