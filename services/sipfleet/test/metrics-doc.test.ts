// docs/metrics.md has one section per process; each is checked against the registry that process
// builds (same classes, same constructor calls), by name and by type.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { Registry } from 'prom-client';
import { pino } from 'pino';
import { parseEdgeConfig } from '../src/config.js';
import { openSecfilter } from '../src/edge/secfilter.js';
import { EdgeMetrics } from '../src/metrics.js';
import { ProberMetrics } from '../src/prober/metrics.js';
import { RouteApiMetrics } from '../src/route-api/metrics.js';

const doc = readFileSync(new URL('../../../docs/metrics.md', import.meta.url), 'utf8');

/** `name type` for every row of the section's table, sorted. */
function documented(section: string): string[] {
  const heading = doc.match(new RegExp(`^## ${section.replace(/[()]/g, '\\$&')}$`, 'm'));
  assert.ok(heading?.index !== undefined, `docs/metrics.md has a '## ${section}' section`);
  const rest = doc.slice(heading.index + heading[0].length);
  const end = rest.indexOf('\n## ');
  const body = end < 0 ? rest : rest.slice(0, end);
  return [...body.matchAll(/^\|\s*`([a-z0-9_]+)`\s*\|\s*([a-z]+)\s*\|/gm)]
    .map((m) => `${m[1] ?? ''} ${m[2] ?? ''}`)
    .sort();
}

/** `name type` for every sipfleet metric of the registry (`process: true`: every other one), sorted. */
function registered(registry: Registry, { process = false } = {}): string[] {
  return registry
    .getMetricsAsArray()
    .filter((m) => m.name.startsWith('sipfleet_') !== process)
    .map((m) => `${m.name} ${m.type}`)
    .sort();
}

test('docs/metrics.md lists exactly the edge metrics the code registers', () => {
  const metrics = new EdgeMetrics('test', () => ({ server: 0, client: 0 }));
  assert.deepEqual(registered(metrics.registry), documented('Edge'));
});

test('docs/metrics.md lists exactly the prober metrics the code registers', () => {
  const metrics = new ProberMetrics('test');
  assert.deepEqual(registered(metrics.registry), documented('Prober'));
});

test('docs/metrics.md lists exactly the route API metrics the code registers', () => {
  const metrics = new RouteApiMetrics();
  assert.deepEqual(registered(metrics.registry), documented('Route API'));
});

test('docs/metrics.md lists exactly what the rtjson edge module adds to the edge registry', async () => {
  process.env.SIPFLEET_ROUTING_URL = 'http://127.0.0.1:9/route'; // read at import; nothing is sent
  const mod = (await import('@sipfleet/rtjson/edge-module')) as {
    default: (services: { metrics: ReturnType<EdgeMetrics['forRoutingModules']> }) => unknown;
  };
  const metrics = new EdgeMetrics('test', () => ({ server: 0, client: 0 }));
  const edgeOnly = new Set(registered(metrics.registry));
  mod.default({ metrics: metrics.forRoutingModules() });
  const added = registered(metrics.registry).filter((m) => !edgeOnly.has(m));
  assert.deepEqual(added, documented('Edge with the rtjson routing module'));
});

test('docs/metrics.md lists exactly the Node.js process metrics of every registry', () => {
  const registries = {
    edge: new EdgeMetrics('test', () => ({ server: 0, client: 0 })).registry,
    prober: new ProberMetrics('test').registry,
    'route-api': new RouteApiMetrics().registry,
  };
  const expected = documented('Process (every process)');
  assert.ok(expected.length > 0, 'the Process section lists no metric: the scan is broken');
  for (const [name, registry] of Object.entries(registries)) {
    assert.deepEqual(registered(registry, { process: true }), expected, name);
  }
});

test('docs/metrics.md lists exactly what secfilter adds to the edge registry', async () => {
  const metrics = new EdgeMetrics('test', () => ({ server: 0, client: 0 }));
  const edgeOnly = new Set(registered(metrics.registry));
  const config = parseEdgeConfig({ secfilter: { enabled: true } });
  const secfilter = openSecfilter(config, metrics, pino({ level: 'silent' }));
  await secfilter?.close();
  const added = registered(metrics.registry).filter((m) => !edgeOnly.has(m));
  assert.deepEqual(added, documented('Edge with secfilter'));
});
