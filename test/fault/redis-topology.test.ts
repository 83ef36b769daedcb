// Issue 11 acceptance: Redis is not a start-up dependency, and every edge's mirrors (htable
// tracking, dispatcher view, keepalive states) follow Redis through restarts, Sentinel failovers
// and Cluster failovers. Real edges, real redis-server, Sentinel and Cluster; the flips are the
// operator's redis-cli commands.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startEdge } from '@sipfleet/test-helpers/edge';
import type { EdgeHandle } from '@sipfleet/test-helpers/edge';
import { freePort } from '@sipfleet/test-helpers/ports';
import type { CleanupOwner } from '@sipfleet/test-helpers/processes';
import {
  failoverClusterMaster,
  failoverSentinel,
  redisCli,
  startCluster,
  startRedis,
  startSentinelSetup,
  uniquePrefix,
} from '@sipfleet/test-helpers/redis-server';
import { probeInvite, probeUntil, PROBE_ROUTES } from '@sipfleet/test-helpers/sip-probe';
import { runSipp, startSipp } from '@sipfleet/test-helpers/sipp';

/** Polls `check` until it holds (a condition, never a fixed wait). */
async function eventually(what: string, check: () => Promise<boolean>, ms = 30_000) {
  const deadline = Date.now() + ms;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const ready = async (edge: EdgeHandle) => (await edge.admin('/readyz')).status === 200;

/** Two edges on `url` routing with the probe module: 480 = taking calls, 503 = maintenance. */
async function twoEdges(t: CleanupOwner, url: string, prefix: string): Promise<EdgeHandle[]> {
  const config = { redis: { url, prefix }, routing: { module: PROBE_ROUTES } };
  const env = { TEST_DESTINATION: 'sip:127.0.0.1:9' };
  return Promise.all([startEdge(t, config, env), startEdge(t, config, env)]);
}

/** The fleet flag set with `redis-cli` on `port` reaches every edge, and so does turning it off. */
async function flipReachesEvery(edges: EdgeHandle[], port: number, key: string, t: TestContext) {
  const on = Date.now();
  await redisCli(port, 'HSET', key, 'i', '1');
  const reached = await Promise.all(edges.map((e) => probeUntil(e.port, 503, on)));
  const off = Date.now();
  await redisCli(port, 'HSET', key, 'i', '0');
  const back = await Promise.all(edges.map((e) => probeUntil(e.port, 480, off)));
  t.diagnostic(`flip on after ${reached.join(', ')} ms, off after ${back.join(', ')} ms`);
}

describe('redis topology changes', { concurrency: 1 }, () => {
  test('an edge started with Redis down binds its ports, says why, routes from the list file, catches up', async (t) => {
    const redis = await startRedis();
    t.after(() => redis.stop());
    await redis.kill(); // its port is known and nothing listens there
    const prefix = uniquePrefix();
    const uasPort = await freePort();
    const uas = await startSipp({
      scenario: 'uas-call',
      localPort: uasPort,
      autoAnswer: true,
      owner: t,
    });
    const dir = mkdtempSync(join(tmpdir(), 'sipfleet-ds-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const listFile = join(dir, 'dispatcher.list');
    writeFileSync(listFile, `1 sip:127.0.0.1:${uasPort} 0 0\n`);

    // Returns once the admin port answers /healthz: the edge did not wait for Redis.
    const edge = await startEdge(
      t,
      {
        redis: { url: redis.url, prefix },
        dispatcher: { listFile },
        // Round-robin: a fleet counter in Redis, a local one while Redis is away.
        routing: { dispatcher: { set: 1, algorithm: 4 } },
        // Its mirror starts without Redis too; a density sipp's calls stay under.
        secfilter: { enabled: true, reqsDensityPerUnit: 1000 },
      },
      {},
      { ready: false },
    );
    const notReady = await edge.admin('/readyz');
    assert.equal(notReady.status, 503);
    assert.match(notReady.body, /redis unavailable/);
    for (const mirror of ['htables', 'keepalive', 'dispatcher', 'secfilter']) {
      assert.match(notReady.body, new RegExp(`${mirror} not in step`));
    }
    assert.equal(await edge.metric('sipfleet_redis_up'), 0);

    const calls = await runSipp({
      scenario: 'uac-call',
      remote: { host: '127.0.0.1', port: edge.port },
      service: 'bob',
      rate: 10,
      maxCalls: 5,
      callLengthMs: 100,
      owner: t,
    });
    assert.equal(calls.successful, 5, 'calls routed from the list file without Redis');

    await redis.restart();
    await eventually('edge ready once Redis appears', () => ready(edge));
    assert.equal(await edge.metric('sipfleet_redis_up'), 1);
    const version = await redisCli(redis.port, 'HGET', `${prefix}:{ds}:index`, 'version');
    assert.ok(Number(version) >= 1, `the list file was loaded into Redis (version ${version})`);

    await redisCli(redis.port, 'HSET', `${prefix}:{ht:config}:maint`, 'i', '1');
    await probeUntil(edge.port, 503);
    assert.equal(edge.process.exitStatus, undefined, 'the edge never exited');
    assert.equal((await uas.stop()).failed, 0);
  });

  test('Redis restarted: a flip reaches every edge', async (t) => {
    const redis = await startRedis();
    t.after(() => redis.stop());
    const prefix = uniquePrefix();
    const edges = await twoEdges(t, redis.url, prefix);
    await redis.kill();
    for (const edge of edges)
      await eventually(`edge :${edge.port} not ready`, async () => !(await ready(edge)));
    await redis.restart();
    for (const edge of edges) await eventually(`edge :${edge.port} ready`, () => ready(edge));
    await flipReachesEvery(edges, redis.port, `${prefix}:{ht:config}:maint`, t);
  });

  test('Sentinel failover: a flip reaches every edge', async (t) => {
    const sentinel = await startSentinelSetup();
    t.after(() => sentinel.stop());
    const prefix = uniquePrefix();
    const edges = await twoEdges(t, sentinel.url, prefix);
    await failoverSentinel(sentinel);
    for (const edge of edges) await eventually(`edge :${edge.port} ready`, () => ready(edge));
    await flipReachesEvery(edges, sentinel.replicaPort, `${prefix}:{ht:config}:maint`, t);
  });

  test('Cluster master failover: a flip set afterwards reaches every edge, and so does turning it off', async (t) => {
    const cluster = await startCluster({ replicas: 1 });
    t.after(() => cluster.stop());
    const prefix = uniquePrefix();
    const key = `${prefix}:{ht:config}:maint`;
    const edges = await twoEdges(t, cluster.url, prefix);
    assert.equal(await probeInvite(edges[0]?.port ?? 0), 480);

    // Kill the master holding the flag's slot; its replica takes over after the node timeout.
    const promoted = await failoverClusterMaster(cluster, key);
    for (const edge of edges) await eventually(`edge :${edge.port} ready`, () => ready(edge));
    await flipReachesEvery(edges, promoted, key, t);
    for (const edge of edges) assert.equal(edge.process.exitStatus, undefined);
  });
});
