// SIGTERM drains an edge: new INVITEs get 503 at once, /readyz says draining, transactions in
// progress finish, and the process exits by itself within the drain timeout.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startEdge } from '@sipfleet/test-helpers/edge';
import { probeInvite, PROBE_ROUTES } from '@sipfleet/test-helpers/sip-probe';

test('SIGTERM: new INVITEs get 503 Draining, /readyz goes 503, the edge exits on its own', async (t) => {
  const edge = await startEdge(
    t,
    { routing: { module: PROBE_ROUTES }, shutdown: { drainTimeoutMs: 3000 } },
    { TEST_DESTINATION: 'sip:127.0.0.1:9' },
  );
  assert.equal(await probeInvite(edge.port), 480, 'serving before the signal');
  edge.process.signal('SIGTERM');
  let status = 0;
  for (let i = 0; i < 40 && status !== 503; i++) {
    status = await probeInvite(edge.port);
    if (status !== 503) await sleep(25);
  }
  assert.equal(status, 503, 'new INVITEs refused while draining');
  // The refused probe's INVITE transaction keeps the drain waiting, so the admin port still answers.
  const ready = await edge.admin('/readyz');
  assert.equal(ready.status, 503);
  assert.match(ready.body, /draining/);
  const exit = await edge.process.waitForExit(10_000);
  assert.equal(exit.code, 0, 'clean exit after the drain');
});
