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
//   SIPFLEET_ROUTING_ENVELOPE       none (@default: Kamailio, routes or not) | success (Wazo envelope)
//   SIPFLEET_ROUTING_METHOD         @default POST (GET sends the query as URL parameters)
//   SIPFLEET_ROUTING_HEADERS        JSON object of extra HTTP headers, e.g. {"X-Api-Key":"s3cret"}
//   SIPFLEET_ROUTING_USERNAME       HTTP Basic credentials (with SIPFLEET_ROUTING_PASSWORD)
//   SIPFLEET_ROUTING_TLS_CA         PEM file of the CAs to trust (https:), @default Node's list
//   SIPFLEET_ROUTING_TLS_CERT       PEM client certificate file (with SIPFLEET_ROUTING_TLS_KEY)
//   SIPFLEET_ROUTING_TLS_VERIFY_PEER / _VERIFY_HOST   0 turns the check off, @default 1
//
// Errors are thrown at import time, so the edge refuses to start naming `routing.module`.
import { readFileSync } from 'node:fs';
import type { RoutingHooks, RoutingMetrics } from '@sipfleet/proxy';
import { parseUri } from '@sipfleet/sip';
import {
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_MAX_SOCKETS,
  DEFAULT_TIMEOUT_MS,
  RoutingClient,
} from './client.js';
import type { RoutingClientObserver, RoutingClientOptions, RoutingClientTls } from './client.js';
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

function env(name: string): string | undefined {
  const text = process.env[name];
  return text === undefined || text === '' ? undefined : text;
}

function flag(name: string): boolean {
  const text = env(name) ?? '1';
  if (text !== '0' && text !== '1') throw new Error(`${name}: '${text}' is not 0 or 1`);
  return text === '1';
}

function pemFile(name: string): Buffer | undefined {
  const path = env(name);
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`${name}: ${(err as Error).message}`);
  }
}

function headers(): Record<string, string> {
  const text = env('SIPFLEET_ROUTING_HEADERS');
  if (text === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`SIPFLEET_ROUTING_HEADERS: ${(err as Error).message}`);
  }
  if (
    typeof parsed !== 'object' ||
    parsed === null ||
    Array.isArray(parsed) ||
    !Object.values(parsed).every((v) => typeof v === 'string')
  ) {
    throw new Error('SIPFLEET_ROUTING_HEADERS: must be a JSON object of strings');
  }
  return parsed as Record<string, string>;
}

const envelope = env('SIPFLEET_ROUTING_ENVELOPE') ?? 'none';
if (envelope !== 'none' && envelope !== 'success') {
  throw new Error(`SIPFLEET_ROUTING_ENVELOPE: '${envelope}' is not none or success`);
}
const username = env('SIPFLEET_ROUTING_USERNAME');
const tls: RoutingClientTls = {
  verifyPeer: flag('SIPFLEET_ROUTING_TLS_VERIFY_PEER'),
  verifyHost: flag('SIPFLEET_ROUTING_TLS_VERIFY_HOST'),
};
const ca = pemFile('SIPFLEET_ROUTING_TLS_CA');
if (ca !== undefined) tls.ca = ca;
const cert = pemFile('SIPFLEET_ROUTING_TLS_CERT');
if (cert !== undefined) tls.cert = cert;
const key = pemFile('SIPFLEET_ROUTING_TLS_KEY');
if (key !== undefined) tls.key = key;
const clientOptions: RoutingClientOptions = {
  url: routingUrl,
  timeoutMs: positiveInt('SIPFLEET_ROUTING_TIMEOUT_MS', DEFAULT_TIMEOUT_MS),
  maxInFlight: positiveInt('SIPFLEET_ROUTING_MAX_IN_FLIGHT', DEFAULT_MAX_IN_FLIGHT),
  maxSockets: positiveInt('SIPFLEET_ROUTING_MAX_SOCKETS', DEFAULT_MAX_SOCKETS),
  method: env('SIPFLEET_ROUTING_METHOD') ?? 'POST',
  headers: headers(),
  envelope,
  tls,
  ...(username === undefined
    ? {}
    : { auth: { username, password: env('SIPFLEET_ROUTING_PASSWORD') ?? '' } }),
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
