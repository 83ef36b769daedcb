// Issue 4 acceptance: the maintenance flag flipped with the documented redis-cli command reaches
// two edges; new INVITEs get 503 while calls in progress finish; flipping back restores service.
// Also: Redis killed under load; edges keep routing on cached state, report not-ready, recover.
// And issue 3: the routing hooks come from a user routing file (fixtures/probe-routes.mjs).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startEdge } from '@sipfleet/test-helpers/edge';
import type { EdgeHandle } from '@sipfleet/test-helpers/edge';
import { freePort } from '@sipfleet/test-helpers/ports';
import { redisCli, startRedis, uniquePrefix } from '@sipfleet/test-helpers/redis-server';
import { probeInvite, probeUntil, PROBE_ROUTES } from '@sipfleet/test-helpers/sip-probe';
import { runSipp, startSipp } from '@sipfleet/test-helpers/sipp';

/** Probes until the edge answers `status`; returns how long that took after `since`. */
const until = (edge: EdgeHandle, status: number, since: number) =>
  probeUntil(edge.port, status, since);

describe('shared state across edges', { concurrency: 1 }, () => {
  test('redis-cli flips maintenance fleet-wide; calls in progress finish; no call lost', async (t) => {
    const redis = await startRedis();
    t.after(() => redis.stop());
    const prefix = uniquePrefix();
    const uasPort = await freePort();
    const uas = await startSipp({
      scenario: 'uas-call',
      localPort: uasPort,
      autoAnswer: true,
      owner: t,
    });
    const env = { TEST_DESTINATION: `sip:127.0.0.1:${uasPort}` };
    const config = {
      redis: { url: redis.url, prefix },
      routing: { module: PROBE_ROUTES },
      maintenance: { retryAfter: 30 },
    };
    const edges = await Promise.all([startEdge(t, config, env), startEdge(t, config, env)]);
    for (const edge of edges)
      assert.equal(await probeInvite(edge.port), 480, 'route answers probes');

    // Calls in progress on both edges: 10 each, 4 s long, placed before the flip.
    const inProgress = edges.map((edge) =>
      runSipp({
        scenario: 'uac-call',
        remote: { host: '127.0.0.1', port: edge.port },
        service: 'bob',
        rate: 20,
        maxCalls: 10,
        callLengthMs: 4000,
        owner: t,
      }),
    );
    await sleep(1500);

    // The README's command, with this test's prefix.
    const flippedAt = Date.now();
    await redisCli(redis.port, 'HSET', `${prefix}:{ht:config}:maint`, 'i', '1');
    const latencies = await Promise.all(edges.map((edge) => until(edge, 503, flippedAt)));
    t.diagnostic(`maintenance on reached the edges after ${latencies.join(' ms, ')} ms`);

    // A real caller during maintenance: every INVITE refused with 503 (counted by the edge).
    const refused = await runSipp({
      scenario: 'uac-reject',
      remote: { host: '127.0.0.1', port: edges[1]?.port ?? 0 },
      service: 'bob',
      rate: 10,
      maxCalls: 5,
      owner: t,
    });
    assert.equal(refused.successful, 5, 'every INVITE got a final error response');
    const refusals = await Promise.all(
      edges.map((e) => e.metric('sipfleet_maintenance_refusals_total')),
    );
    assert.ok((refusals[1] ?? 0) >= 5, `edge 2 counted its refusals (${refusals.join(', ')})`);

    // The calls that were up when the flag flipped complete, BYE included.
    for (const stats of await Promise.all(inProgress)) {
      assert.equal(stats.failed, 0, stats.errors.slice(0, 3).join('\n'));
      assert.equal(stats.successful, 10);
    }

    const clearedAt = Date.now();
    await redisCli(redis.port, 'HSET', `${prefix}:{ht:config}:maint`, 'i', '0');
    const back = await Promise.all(edges.map((edge) => until(edge, 480, clearedAt)));
    t.diagnostic(`maintenance off reached the edges after ${back.join(' ms, ')} ms`);
    for (const edge of edges) {
      const stats = await runSipp({
        scenario: 'uac-call',
        remote: { host: '127.0.0.1', port: edge.port },
        service: 'bob',
        rate: 20,
        maxCalls: 10,
        callLengthMs: 100,
        owner: t,
      });
      assert.equal(stats.successful, 10, 'service restored');
    }
    assert.equal((await uas.stop()).failed, 0);
  });

  test('one node drains alone with its per-node flag', async (t) => {
    const redis = await startRedis();
    t.after(() => redis.stop());
    const prefix = uniquePrefix();
    const config = { redis: { url: redis.url, prefix }, routing: { module: PROBE_ROUTES } };
    const env = { TEST_DESTINATION: 'sip:127.0.0.1:9' };
    const [a, b] = await Promise.all([startEdge(t, config, env), startEdge(t, config, env)]);
    assert.ok(a && b);
    const at = Date.now();
    await redisCli(redis.port, 'HSET', `${prefix}:{ht:config}:maint:edge-${a.port}`, 'i', '1');
    await until(a, 503, at);
    assert.equal(await probeInvite(b.port), 480, 'the other edge keeps taking calls');
  });

  test('an INVITE refused by maintenance: the 100 and the 503 counted with their origins', async (t) => {
    const redis = await startRedis();
    t.after(() => redis.stop());
    const prefix = uniquePrefix();
    const config = { redis: { url: redis.url, prefix }, routing: { module: PROBE_ROUTES } };
    const edge = await startEdge(t, config, { TEST_DESTINATION: 'sip:127.0.0.1:9' });
    const at = Date.now();
    await redisCli(redis.port, 'HSET', `${prefix}:{ht:config}:maint`, 'i', '1');
    await until(edge, 503, at);
    const count = (cls: string, origin: string) =>
      edge.metric('sipfleet_sip_responses_total', { class: cls, origin });
    const origins = ['relayed', 'local', 'stateless', 'transaction'];
    const read = async () =>
      Object.fromEntries(
        await Promise.all(
          ['1xx', '5xx'].flatMap((cls) =>
            origins.map(async (o) => [`${cls} ${o}`, await count(cls, o)] as const),
          ),
        ),
      );
    const before = await read();
    const refused = await runSipp({
      scenario: 'uac-reject',
      remote: { host: '127.0.0.1', port: edge.port },
      service: 'bob',
      rate: 10,
      maxCalls: 5,
      owner: t,
    });
    assert.equal(refused.successful, 5, 'every INVITE got a final error response');
    const after = await read();
    const delta = Object.fromEntries(
      Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]),
    );
    assert.deepEqual(delta, {
      '1xx relayed': 0,
      '1xx local': 0,
      '1xx stateless': 0,
      '1xx transaction': 5, // the transaction layer's 100 Trying
      '5xx relayed': 0,
      '5xx local': 5, // the maintenance step's 503
      '5xx stateless': 0,
      '5xx transaction': 0,
    });
  });

  test('Redis killed under load: edges route on cached state, say not-ready, recover', async (t) => {
    const redis = await startRedis();
    t.after(() => redis.stop());
    const prefix = uniquePrefix();
    const uasPort = await freePort();
    const uas = await startSipp({
      scenario: 'uas-call',
      localPort: uasPort,
      autoAnswer: true,
      owner: t,
    });
    const edge = await startEdge(
      t,
      { redis: { url: redis.url, prefix }, routing: { module: PROBE_ROUTES } },
      { TEST_DESTINATION: `sip:127.0.0.1:${uasPort}` },
    );
    assert.equal((await edge.admin('/readyz')).status, 200);
    const calls = runSipp({
      scenario: 'uac-call',
      remote: { host: '127.0.0.1', port: edge.port },
      service: 'bob',
      rate: 10,
      maxCalls: 40,
      callLengthMs: 500,
      owner: t,
    });
    await sleep(1000);
    await redis.kill();
    // The mirrors may say "not in step" before the command connection says "unavailable".
    let ready = await edge.admin('/readyz');
    for (let i = 0; i < 100 && !/redis unavailable/.test(ready.body); i++) {
      await sleep(50);
      ready = await edge.admin('/readyz');
    }
    assert.equal(ready.status, 503);
    assert.match(ready.body, /redis unavailable/);
    assert.equal(await edge.metric('sipfleet_redis_up'), 0);

    const stats = await calls;
    assert.equal(stats.failed, 0, 'calls kept flowing without Redis');
    assert.equal(stats.successful, 40);

    await redis.restart();
    for (let i = 0; i < 200 && (await edge.admin('/readyz')).status !== 200; i++) await sleep(50);
    assert.equal((await edge.admin('/readyz')).status, 200, 'ready again once Redis is back');
    assert.equal(await edge.metric('sipfleet_redis_up'), 1);
    assert.equal(edge.process.exitStatus, undefined, 'the edge never crashed');
    await uas.stop();
  });
});
