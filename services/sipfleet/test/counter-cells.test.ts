import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { CellCounter } from '../src/counter-cells.js';
import { EdgeMetrics } from '../src/metrics.js';

/** The exposition lines of one metric, without HELP/TYPE. */
async function series(registry: Registry, name: string): Promise<string[]> {
  return (await registry.metrics()).split('\n').filter((l) => l.startsWith(`${name}{`));
}

test('a cell counter shows each cell at 0 from its creation and adds what cells counted on every read', async () => {
  const registry = new Registry();
  const counter = new CellCounter<'kind'>({
    name: 'cells_total',
    help: 'test',
    labelNames: ['kind'],
    registers: [registry],
  });
  const a = counter.cell({ kind: 'a' });
  const b = counter.cell({ kind: 'b' });
  // Asking again (a route rebuilt on reload) gives the same cell, not a second series.
  assert.equal(counter.cell({ kind: 'a' }), a);
  assert.deepEqual(await series(registry, 'cells_total'), [
    'cells_total{kind="a"} 0',
    'cells_total{kind="b"} 0',
  ]);
  a.n += 3;
  b.n++;
  assert.deepEqual(await series(registry, 'cells_total'), [
    'cells_total{kind="a"} 3',
    'cells_total{kind="b"} 1',
  ]);
  // A read folds the cells in and clears them: counts are never added twice.
  assert.equal(a.n, 0);
  a.n += 2;
  const read = await counter.counter.get();
  assert.deepEqual(
    read.values.map((v) => [v.labels.kind, v.value]),
    [
      ['a', 5],
      ['b', 1],
    ],
  );
  assert.deepEqual(await series(registry, 'cells_total'), [
    'cells_total{kind="a"} 5',
    'cells_total{kind="b"} 1',
  ]);
});

test('requests are counted by method; past 32 methods the others share "other", without a cell each', async () => {
  const metrics = new EdgeMetrics('test', () => ({ server: 0, client: 0 }));
  for (let i = 0; i < 40; i++) metrics.requestReceived(`X${i}`);
  metrics.requestReceived('X0');
  metrics.requestReceived('X39');
  const lines = await series(metrics.registry, 'sipfleet_sip_requests_total');
  assert.equal(lines.length, 33);
  assert.ok(lines.includes('sipfleet_sip_requests_total{method="X0",node="test"} 2'));
  assert.ok(lines.includes('sipfleet_sip_requests_total{method="other",node="test"} 9'));
  assert.ok(!lines.some((l) => l.includes('method="X39"')));
});
