// A ready routing module for `sipfleet edge`: set `routing.module` to this file's built path
// (`packages/rtjson/dist/edge-module.js`) and configure it through the environment. It is the one
// place in this package that reads the environment: it is an entry point, not a library.
//
//   SIPFLEET_ROUTING_URL            the routing API endpoint (required), e.g. http://127.0.0.1:8080/route
//   SIPFLEET_ROUTING_TIMEOUT_MS     @default 2000
//   SIPFLEET_ROUTING_MAX_IN_FLIGHT  @default 256
//   SIPFLEET_ROUTING_MAX_SOCKETS    @default 64
//   SIPFLEET_ROUTING_FALLBACK       comma-separated SIP URIs tried in order (as dst_uri) when the API
//                                   is not available; unset: answer 500 API Not Available
//
// Errors are thrown at import time, so the edge refuses to start naming `routing.module`.
import type { RoutingHooks, RoutingMetrics } from '@sipfleet/proxy';
import { parseUri } from '@sipfleet/sip';
import {
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_MAX_SOCKETS,
  DEFAULT_TIMEOUT_MS,
  RoutingClient,
} from './client.js';
import type { RoutingClientObserver } from './client.js';
import { httpRouting } from './http-routing.js';

function positiveInt(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new Error(`${name}: '${text}' is not a positive integer`);
  }
  return value;
}

const url = process.env.SIPFLEET_ROUTING_URL;
if (url === undefined || url === '') {
  throw new Error(
    'SIPFLEET_ROUTING_URL is not set (the routing API endpoint, http://host:port/route)',
  );
}
const routingUrl: string = url;
const clientOptions = {
  url: routingUrl,
  timeoutMs: positiveInt('SIPFLEET_ROUTING_TIMEOUT_MS', DEFAULT_TIMEOUT_MS),
  maxInFlight: positiveInt('SIPFLEET_ROUTING_MAX_IN_FLIGHT', DEFAULT_MAX_IN_FLIGHT),
  maxSockets: positiveInt('SIPFLEET_ROUTING_MAX_SOCKETS', DEFAULT_MAX_SOCKETS),
};
try {
  new URL(url); // fail at import time, naming the variable
} catch (err) {
  throw new Error(`SIPFLEET_ROUTING_URL: ${(err as Error).message}`);
}
const fallback = (process.env.SIPFLEET_ROUTING_FALLBACK ?? '')
  .split(',')
  .map((s) => s.trim())
  .filter((s) => s !== '');
for (const uri of fallback) {
  try {
    parseUri(uri);
  } catch (err) {
    throw new Error(`SIPFLEET_ROUTING_FALLBACK: '${uri}': ${(err as Error).message}`);
  }
}

/** Counts every query outcome on the edge's `/metrics` (docs/metrics.md, "HTTP routing"). */
function observer(metrics: RoutingMetrics): RoutingClientObserver {
  const queries = metrics.counter(
    'sipfleet_http_routing_queries_total',
    'Routing API queries by outcome (ok, not_found, http_error, timeout, connection_error, invalid_json, invalid_rtjson, overloaded)',
    ['result'],
  );
  const seconds = metrics.histogram(
    'sipfleet_http_routing_query_seconds',
    'Routing API query time',
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  );
  return {
    queryDone(kind, durationMs) {
      queries.inc({ result: kind });
      seconds.observe({}, durationMs / 1000);
    },
  };
}

/** The edge calls this with its services; `metrics` feeds the outcome counters. */
export default function edgeModule(services: { metrics?: RoutingMetrics } = {}): RoutingHooks {
  const client = new RoutingClient({
    ...clientOptions,
    ...(services.metrics === undefined ? {} : { observer: observer(services.metrics) }),
  });
  return httpRouting({
    url: routingUrl,
    client,
    ...(fallback.length === 0 ? {} : { fallback: () => fallback }),
  });
}
