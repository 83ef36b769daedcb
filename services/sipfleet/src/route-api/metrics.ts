import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { registerProcessMetrics } from '../process-metrics.js';

export type QueryResult = 'routed' | 'not_found' | 'bad_request' | 'error';

/** The route-api's registry (served on /metrics of the same port). */
export class RouteApiMetrics {
  readonly registry = new Registry();
  readonly queries: Counter<'result'>;
  readonly latency: Histogram;
  readonly redisUp: Gauge;

  constructor() {
    registerProcessMetrics(this.registry);
    this.queries = new Counter({
      name: 'sipfleet_route_api_queries_total',
      help: 'Routing queries answered, by result (routed, not_found, bad_request, error)',
      labelNames: ['result'],
      registers: [this.registry],
    });
    this.latency = new Histogram({
      name: 'sipfleet_route_api_query_seconds',
      help: 'Time to answer one routing query (Redis read and rule match)',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [this.registry],
    });
    this.redisUp = new Gauge({
      name: 'sipfleet_redis_up',
      help: '1 while Redis is reachable, else 0 (queries then answer 503)',
      registers: [this.registry],
    });
  }
}
