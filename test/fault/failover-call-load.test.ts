// Issue 11 acceptance, under real call load: two edges, two sipp UASes, sipp UACs calling through
// both edges at a steady rate while Redis is restarted, fails over by Sentinel, or loses the
// Cluster master of the dispatcher set's slot. Afterwards calls complete with zero failures, no
// healthy destination is marked down, the call-load counters come back to the live calls (0 once
// the load ended) and a maintenance flag set after the fault reaches every edge.
import assert from 'node:assert/strict';
import { type TestContext, describe, test } from 'node:test';
import type { EdgeHandle } from '@sipfleet/test-helpers/edge';
import { callLoads, startFleet, untilCallsComplete } from '@sipfleet/test-helpers/fleet';
import type { Fleet } from '@sipfleet/test-helpers/fleet';
import {
  failoverClusterMaster,
  failoverSentinel,
  redisCli,
  startCluster,
  startRedis,
  startSentinelSetup,
  uniquePrefix,
  waitFor,
} from '@sipfleet/test-helpers/redis-server';
import { DialogClient } from '@sipfleet/test-helpers/sip-dialog';
import { messageCount, startSipp } from '@sipfleet/test-helpers/sipp';
import type { SippProcess } from '@sipfleet/test-helpers/sipp';

/** Calls per second through each edge, and how long each lasts. */
const RATE = 20;
const CALL_MS = 500;
/** After the fault, calls through every edge complete with zero failures within this. */
const RECOVERY_MS = 10_000;

const ready = async (edge: EdgeHandle) => (await edge.admin('/readyz')).status === 200;

/** A steady sipp load through every edge; a 503 with Retry-After counts as refused, not failed. */
function load(t: TestContext, edges: EdgeHandle[]): Promise<SippProcess[]> {
  return Promise.all(
    edges.map((edge) =>
      startSipp({
        scenario: 'uac-call-or-503',
        remote: { host: '127.0.0.1', port: edge.port },
        service: 'bob',
        rate: RATE,
        callLengthMs: CALL_MS,
        maxRetrans: 3,
        recvTimeoutMs: 5000,
        owner: t,
      }),
    ),
  );
}

/** Waits for every edge to have routed calls of the load. */
async function loadFlowing(edges: EdgeHandle[]) {
  for (const edge of edges) {
    await waitFor(`calls routed by edge :${edge.port}`, async () => {
      const ok = await edge.metric('sipfleet_dispatcher_selections_total', { result: 'ok' });
      return ok >= 5;
    });
  }
}

/** After the fault: every edge ready, then a batch through every edge with zero failures. */
async function recovers(t: TestContext, edges: EdgeHandle[]) {
  for (const edge of edges) await waitFor(`edge :${edge.port} ready`, () => ready(edge), 30_000);
  const since = Date.now();
  const after = await untilCallsComplete(edges, t, since, RECOVERY_MS);
  assert.notEqual(after, undefined, `calls complete with zero failures within ${RECOVERY_MS} ms`);
  t.diagnostic(`a batch through every edge completed with zero failures ${after} ms after ready`);
}

/** Ends the load (sipp lets its calls finish) and reports what it saw. */
async function endLoad(t: TestContext, sipps: SippProcess[]) {
  const stats = await Promise.all(sipps.map((s) => s.stop(30_000)));
  for (const s of stats) {
    t.diagnostic(
      `load: ${s.callsCreated} calls, ${s.successful} ok (${messageCount(s, 'received', '503')} refused 503), ` +
        `${s.failed} failed ${JSON.stringify(s.failures)}`,
    );
  }
}

/** No healthy destination was marked down, as every edge sees it. */
async function noneMarked(fleet: Fleet) {
  for (const edge of fleet.edges) {
    assert.equal(
      await edge.metric('sipfleet_dispatcher_destination_active'),
      fleet.uris.length,
      `every destination active on edge :${edge.port}`,
    );
  }
}

/**
 * Once the calls ended, every edge reads call-load counters equal to the live calls: 0. When not,
 * the message shows the slots left (`slots()`: the set's calls hash, Call-ID -> state, load key,
 * URI, owner, token), to tell which step of which call went missing.
 */
async function countersAtZero(fleet: Fleet, slots: () => Promise<string>) {
  const zero = fleet.uris.map(() => 0);
  for (const edge of fleet.edges) {
    await waitFor(`call-load counters at 0 on edge :${edge.port}`, async () =>
      (await callLoads(edge, fleet.uris)).every((n) => n === 0),
    ).catch(() => undefined); // the assertion below shows what is left
    const loads = await callLoads(edge, fleet.uris);
    assert.deepEqual(
      loads,
      zero,
      `call-load counters on edge :${edge.port} equal the live calls (none)` +
        (loads.every((n) => n === 0) ? '' : `; slots left: ${await slots()}`),
    );
  }
}

/**
 * Sets the fleet maintenance flag with redis-cli on `port` and waits until every edge refuses a
 * new INVITE for it (its refusal counter moves); then clears it and waits until every edge
 * connects a call again. A call connected before the flag arrived is ended at once (ACK, BYE), so
 * it holds no call-load slot.
 */
async function flipReachesEvery(edges: EdgeHandle[], port: number, key: string, t: TestContext) {
  const client = await DialogClient.open();
  t.after(() => client.close());
  const attempt = async (edge: EdgeHandle) => {
    const dialog = await client.invite(edge.port);
    if (dialog.status === 200) {
      client.ack(dialog, edge.port);
      assert.equal(await client.bye(dialog, edge.port), 200);
    }
    return dialog.status;
  };
  const on = Date.now();
  await redisCli(port, 'HSET', key, 'i', '1');
  for (const edge of edges) {
    await waitFor(`edge :${edge.port} refuses for maintenance`, async () => {
      const before = await edge.metric('sipfleet_maintenance_refusals_total');
      return (
        (await attempt(edge)) === 503 &&
        (await edge.metric('sipfleet_maintenance_refusals_total')) > before
      );
    });
  }
  const off = Date.now();
  await redisCli(port, 'HSET', key, 'i', '0');
  for (const edge of edges) {
    await waitFor(
      `edge :${edge.port} connects calls again`,
      async () => (await attempt(edge)) === 200,
    );
  }
  t.diagnostic(`flip on reached both edges in ${off - on} ms, off in ${Date.now() - off} ms`);
}

describe('Redis faults under call load', { concurrency: 1 }, () => {
  test('Redis restart under algorithm 4 (round-robin) load: calls complete with zero failures within seconds, no destination marked down', async (t) => {
    // No AOF: Redis comes back empty, and the edges put the fleet state back themselves.
    const redis = await startRedis();
    t.after(() => redis.stop());
    const fleet = await startFleet(t, redis.url, 4, ['uas-call', 'uas-call']);
    const sipps = await load(t, fleet.edges);
    await loadFlowing(fleet.edges);
    await redis.kill();
    for (const edge of fleet.edges) {
      await waitFor(
        `edge :${edge.port} sees Redis down`,
        async () => (await edge.metric('sipfleet_redis_up')) === 0,
      );
    }
    await redis.restart();
    await recovers(t, fleet.edges);
    await endLoad(t, sipps);
    await noneMarked(fleet);
    for (const edge of fleet.edges) {
      assert.equal(await edge.metric('sipfleet_dispatcher_marks_total', { result: 'marked' }), 0);
    }
  });

  test('Sentinel failover under algorithm 10 (call load) load: counters equal live calls, a flag flip reaches every edge', async (t) => {
    const sentinel = await startSentinelSetup();
    t.after(() => sentinel.stop());
    const prefix = uniquePrefix();
    const fleet = await startFleet(t, sentinel.url, 10, ['uas-call', 'uas-call'], { prefix });
    const sipps = await load(t, fleet.edges);
    await loadFlowing(fleet.edges);
    const master = await failoverSentinel(sentinel);
    await recovers(t, fleet.edges);
    await endLoad(t, sipps);
    await noneMarked(fleet);
    await flipReachesEvery(fleet.edges, master, `${prefix}:{ht:config}:maint`, t);
    await countersAtZero(fleet, () => redisCli(master, 'HGETALL', `${prefix}:{ds:1}:calls`));
  });

  test('Cluster master failover (the master of {ds:1}) under algorithm 10 load: counters equal live calls, a flag flip reaches every edge', async (t) => {
    const cluster = await startCluster({ replicas: 1 });
    t.after(() => cluster.stop());
    const prefix = uniquePrefix();
    const fleet = await startFleet(t, cluster.url, 10, ['uas-call', 'uas-call'], { prefix });
    const sipps = await load(t, fleet.edges);
    await loadFlowing(fleet.edges);
    await failoverClusterMaster(cluster, `${prefix}:{ds:1}:load`);
    await recovers(t, fleet.edges);
    await endLoad(t, sipps);
    await noneMarked(fleet);
    const key = `${prefix}:{ht:config}:maint`;
    await flipReachesEvery(fleet.edges, await cluster.masterOf(key), key, t);
    const calls = `${prefix}:{ds:1}:calls`;
    await countersAtZero(fleet, async () =>
      redisCli(await cluster.masterOf(calls), 'HGETALL', calls),
    );
  });
});
