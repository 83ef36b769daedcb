// Issue 5 acceptance: two edges, several sipp UASes, one dispatcher list shared in Redis.
// Round-robin is fleet-wide, hashes agree across edges, a UAS answering 500 or not answering is
// failed over and shows inactive on every edge, call load (alg 10) stays balanced when INVITEs
// alternate edges and BYEs arrive at the other edge, and counters heal after an edge crash.
// Issue 11: only INVITE takes a call-load slot and every way an attempt ends frees it (timeout
// without failover, failover past the candidate list), releases owed during a Redis restart are
// sent after it, and the call path marks a destination only on evidence, never the last one.
// Issue 13: the built-in route hashes the digest username (alg 5) and a hash_pvar template
// (alg 7), and ranks alg 13 by the prober's latency statistics read from Redis.
import assert from 'node:assert/strict';
import { type TestContext, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { EdgeHandle } from '@sipfleet/test-helpers/edge';
import { callLoads, startFleet, sum } from '@sipfleet/test-helpers/fleet';
import type { Fleet, FleetOptions } from '@sipfleet/test-helpers/fleet';
import { freePort } from '@sipfleet/test-helpers/ports';
import type { CleanupOwner } from '@sipfleet/test-helpers/processes';
import { redisCli, startRedis } from '@sipfleet/test-helpers/redis-server';
import type { RedisServer, StartRedisOptions } from '@sipfleet/test-helpers/redis-server';
import { DialogClient } from '@sipfleet/test-helpers/sip-dialog';
import { runSipp, startSipp } from '@sipfleet/test-helpers/sipp';

interface FleetExtra extends FleetOptions {
  redis?: StartRedisOptions;
}

/** Redis, then `startFleet`: the UASes and two edges on it. */
async function fleet(
  t: CleanupOwner,
  algorithm: number,
  uasScenarios: (string | null)[],
  extra: FleetExtra = {},
  /** Runs after the UASes are up and before the edges start (e.g. to seed Redis). */
  beforeEdges?: (uris: string[], redis: RedisServer, prefix: string) => Promise<void>,
): Promise<Fleet & { redis: RedisServer }> {
  const redis = await startRedis(extra.redis);
  t.after(() => redis.stop());
  const seed = beforeEdges;
  return {
    ...(await startFleet(t, redis.url, algorithm, uasScenarios, {
      ...extra,
      ...(seed === undefined ? {} : { beforeEdges: (uris, prefix) => seed(uris, redis, prefix) }),
    })),
    redis,
  };
}

async function calls(edge: EdgeHandle, t: CleanupOwner, count: number, localPort?: number) {
  return runSipp({
    scenario: 'uac-call',
    remote: { host: '127.0.0.1', port: edge.port },
    service: 'bob',
    rate: 10,
    maxCalls: count,
    callLengthMs: 100,
    owner: t,
    ...(localPort === undefined ? {} : { localPort }),
  });
}

/** Polls `check` until it holds (every 100 ms, at most `ms`). */
async function until(what: string, check: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe('dispatcher across two edges', { concurrency: 1 }, () => {
  test('round-robin (alg 4) is fleet-wide: 30 calls over two edges give each UAS 10', async (t) => {
    const { edges, uases } = await fleet(t, 4, ['uas-call', 'uas-call', 'uas-call']);
    const results = await Promise.all(edges.map((edge) => calls(edge, t, 15)));
    for (const r of results) assert.equal(r.failed, 0);
    const perUas = await Promise.all(uases.map(async (u) => (await u.stop()).successful));
    assert.deepEqual(perUas, [10, 10, 10]);
  });

  test('a From-URI hash (alg 1) sends a caller to the same UAS through either edge', async (t) => {
    const { edges, uases } = await fleet(t, 1, ['uas-call', 'uas-call', 'uas-call']);
    const callerPort = await freePort(); // the same From URI for both runs
    for (const edge of edges) assert.equal((await calls(edge, t, 10, callerPort)).failed, 0);
    const perUas = await Promise.all(uases.map(async (u) => (await u.stop()).successful));
    assert.deepEqual(
      [...perUas].sort(),
      [0, 0, 20],
      `one UAS took every call: ${perUas.join(',')}`,
    );
  });

  test('the digest username (alg 5) sends a user to one UAS through either edge', async (t) => {
    const { edges, uases } = await fleet(t, 5, ['uas-call', 'uas-call', 'uas-call']);
    for (const edge of edges) {
      const stats = await runSipp({
        scenario: 'uac-call-auth',
        remote: { host: '127.0.0.1', port: edge.port },
        service: 'bob',
        keys: { authuser: 'alice' },
        rate: 10,
        maxCalls: 10,
        callLengthMs: 100,
        owner: t,
      });
      assert.equal(stats.failed, 0);
    }
    // Round-robin (what the route did without the username) would give 7/7/6.
    const perUas = await Promise.all(uases.map(async (u) => (await u.stop()).successful));
    assert.deepEqual(
      [...perUas].sort(),
      [0, 0, 20],
      `one UAS took every call: ${perUas.join(',')}`,
    );
  });

  test('a hash template (alg 7, $fU@$rU) sends one caller and callee to one UAS through either edge', async (t) => {
    const { edges, uases } = await fleet(t, 7, ['uas-call', 'uas-call', 'uas-call'], {
      routing: { hashTemplate: '$fU@$rU' },
    });
    for (const edge of edges) assert.equal((await calls(edge, t, 10)).failed, 0);
    const perUas = await Promise.all(uases.map(async (u) => (await u.stop()).successful));
    assert.deepEqual(
      [...perUas].sort(),
      [0, 0, 20],
      `one UAS took every call: ${perUas.join(',')}`,
    );
  });

  test('latency (alg 13): the UAS the prober measured slow gets no first attempts', async (t) => {
    // What the prober writes ("<est> <avg> <n> <std> <max> <timeouts> <m2>"), seeded before the
    // edges start: they read it with their first snapshot, before /readyz answers.
    const seed = async (uris: string[], redis: RedisServer, prefix: string) => {
      const values = ['250 240 100 3 260 0 900', '2 2 100 0.1 3 0 1', '3 3 100 0.1 4 0 1'];
      for (const [i, uri] of uris.entries()) {
        await redisCli(redis.port, 'HSET', `${prefix}:{ds:1}:latency`, uri, values[i] ?? '');
      }
    };
    const { edges, uases } = await fleet(
      t,
      13,
      ['uas-call', 'uas-call', 'uas-call'],
      { priorities: [10, 10, 10] },
      seed,
    );
    for (const edge of edges) assert.equal((await calls(edge, t, 12)).failed, 0);
    const perUas = await Promise.all(uases.map(async (u) => (await u.stop()).successful));
    // 250 ms at priority 10 costs 25 points (floored at 1): the first UAS is only a failover.
    // Priority alone (what the route did without the statistics) rotates over all three.
    assert.equal(perUas[0], 0, `calls per UAS: ${perUas.join(',')}`);
    assert.equal((perUas[1] ?? 0) + (perUas[2] ?? 0), 24);
  });

  test('500 and silence fail over; the bad destinations show inactive on every edge', async (t) => {
    const { edges, uris } = await fleet(t, 4, ['uas-500', null, 'uas-call', 'uas-call']);
    const stats = await calls(edges[0] as EdgeHandle, t, 12);
    assert.equal(stats.failed, 0, `failed: ${JSON.stringify(stats.failures)}`);
    assert.equal(stats.successful, 12);
    for (const edge of edges) {
      for (const bad of [uris[0], uris[1]]) {
        assert.equal(
          await edge.metric('sipfleet_dispatcher_destination_active', { uri: bad ?? '' }),
          0,
          `${bad} inactive on edge :${edge.port}`,
        );
      }
      assert.equal(await edge.metric('sipfleet_dispatcher_destination_active'), 2);
    }
    const failovers = (await edges[0]?.metric('sipfleet_dispatcher_failovers_total')) ?? 0;
    assert.ok(failovers >= 2, `failovers counted: ${failovers}`);
  });

  // Picked by the atomic reserve, every pick sees every slot: balanced to within one call. Picked
  // on the edge (the default), an edge does not see the other's picks since its last batch; the
  // test lets each slot reach Redis before the next INVITE, so at most one pick is unseen, every
  // pick goes to a destination at most one over the least loaded, and the spread stays within 2.
  async function alternatingCalls(t: TestContext, pick: 'local' | 'reserve', spread: number) {
    const { edges, uris } = await fleet(t, 10, ['demo', 'demo', 'demo'], {
      dispatcher: { callLoadPick: pick },
    });
    const [a, b] = edges as [EdgeHandle, EdgeHandle];
    const client = await DialogClient.open();
    t.after(() => client.close());
    const dialogs = [];
    for (let i = 0; i < 30; i++) {
      const [via, other] = i % 2 === 0 ? [a, b] : [b, a];
      const dialog = await client.invite(via.port);
      assert.equal(dialog.status, 200);
      client.ack(dialog, other.port);
      dialogs.push({ dialog, other });
      await until(`call ${i} in the counters`, async () => sum(await callLoads(a, uris)) === i + 1);
    }
    const during = await callLoads(a, uris);
    t.diagnostic(`active calls per destination: ${during.join(', ')}`);
    assert.ok(
      Math.max(...during) - Math.min(...during) <= spread,
      `balanced: ${during.join(', ')}`,
    );
    for (const { dialog, other } of dialogs)
      assert.equal(await client.bye(dialog, other.port), 200);
    // A release rides with the edge's next batch, or goes on its own within settleDelayMs.
    await until('every slot released', async () => sum(await callLoads(b, uris)) === 0);
    assert.deepEqual(await callLoads(b, uris), [0, 0, 0]);
    // A duplicate BYE releases nothing twice.
    const first = dialogs[0];
    assert.ok(first);
    await client.bye(first.dialog, first.other.port).catch(() => 0);
    assert.deepEqual(await callLoads(a, uris), [0, 0, 0]);
  }

  test('call load (alg 10, callLoadPick local): INVITEs alternate edges, BYEs go to the other edge, counters return to 0', (t) =>
    alternatingCalls(t, 'local', 2));

  test('call load (alg 10, callLoadPick reserve): INVITEs alternate edges, BYEs go to the other edge, counters return to 0', (t) =>
    alternatingCalls(t, 'reserve', 1));

  test('an edge killed mid-call: the call-load counters heal within the configured expiry', async (t) => {
    const { edges, uris } = await fleet(t, 10, ['demo', 'demo'], {
      dispatcher: { initExpireSeconds: 2, expireSeconds: 2, reconcileIntervalMs: 500 },
    });
    const [a, b] = edges as [EdgeHandle, EdgeHandle];
    const client = await DialogClient.open();
    t.after(() => client.close());
    for (let i = 0; i < 6; i++) {
      const dialog = await client.invite(a.port);
      assert.equal(dialog.status, 200);
      client.ack(dialog, a.port);
    }
    // An edge's own picks reach Redis with its next batch (settleDelayMs).
    await until('the 6 slots in Redis', async () => sum(await callLoads(b, uris)) === 6);
    await a.stop(); // SIGKILL: the BYEs never come
    let healed = -1;
    const start = Date.now();
    while (Date.now() - start < 20_000) {
      if ((await callLoads(b, uris)).every((n) => n === 0)) {
        healed = Date.now() - start;
        break;
      }
      await sleep(250);
    }
    t.diagnostic(`counters back to 0 after ${healed} ms (expiry 2 s, reconcile every 0.5 s)`);
    assert.ok(healed >= 0, 'counters healed');
  });
  test('kill -9 of an edge with ringing calls: the other edge reclaims their slots once its heartbeat ends', async (t) => {
    // Slot expiry stays at its default (2 h): only the fleet membership can free these slots.
    const { edges, uris } = await fleet(t, 10, ['uas-cancel', 'uas-cancel']);
    const [a, b] = edges as [EdgeHandle, EdgeHandle];
    const client = await DialogClient.open();
    t.after(() => client.close());
    // The UASes ring and never answer: these INVITEs stay unanswered until the edge dies.
    const ringing = Array.from({ length: 4 }, () => client.invite(a.port).catch(() => undefined));
    await until('four slots are taken', async () => sum(await callLoads(b, uris)) === 4);
    await a.stop(); // SIGKILL
    const killedAt = Date.now();
    await until(
      "the dead edge's slots are reclaimed",
      async () => sum(await callLoads(b, uris)) === 0,
      30_000,
    );
    t.diagnostic(
      `slots back ${Date.now() - killedAt} ms after kill -9 (bound: fleet.ttlMs + fleet.heartbeatMs = 4 s)`,
    );
    await Promise.all(ringing);
  });

  test('call load (alg 10): only INVITE takes a slot; MESSAGEs routed by the set leave none', async (t) => {
    const { edges, uris } = await fleet(t, 10, ['uas-nonInvite']);
    const [a] = edges as [EdgeHandle];
    const stats = await runSipp({
      scenario: 'uac-message',
      remote: { host: '127.0.0.1', port: a.port },
      service: 'bob',
      maxCalls: 3,
      owner: t,
    });
    assert.equal(stats.successful, 3, `failed: ${JSON.stringify(stats.failures)}`);
    assert.deepEqual(await callLoads(a, uris), [0]);
  });

  test('call load: a CANCEL after 180 (the UAS answers 487) frees the slot', async (t) => {
    const { edges, uris } = await fleet(t, 10, ['uas-cancel']);
    const [a] = edges as [EdgeHandle];
    const stats = await runSipp({
      scenario: 'uac-cancel',
      remote: { host: '127.0.0.1', port: a.port },
      service: 'bob',
      rate: 10,
      maxCalls: 5,
      owner: t,
    });
    assert.equal(stats.successful, 5, `failed: ${JSON.stringify(stats.failures)}`);
    await until('every slot is free', async () => sum(await callLoads(a, uris)) === 0);
  });

  test('call load, failover off: a branch timeout frees the slot', async (t) => {
    const { edges, uris } = await fleet(t, 10, [null], { routing: { failover: false } });
    const [a] = edges as [EdgeHandle];
    const client = await DialogClient.open();
    t.after(() => client.close());
    assert.equal((await client.invite(a.port)).status, 408);
    await until('the slot is free', async () => sum(await callLoads(a, uris)) === 0);
  });

  test('call load: failover past the candidate list (limit 1) reaches the next destination, BYE frees it', async (t) => {
    const { edges, uris } = await fleet(t, 10, ['uas-503', 'demo'], {
      routing: { limit: 1 },
      priorities: [10, 0],
    });
    const [a, b] = edges as [EdgeHandle, EdgeHandle];
    const client = await DialogClient.open();
    t.after(() => client.close());
    const dialog = await client.invite(a.port);
    assert.equal(dialog.status, 200, 'answered by the second destination, not 404');
    client.ack(dialog, b.port);
    assert.deepEqual(await callLoads(b, uris), [0, 1]);
    assert.equal(await client.bye(dialog, b.port), 200);
    await until('the slot released', async () => sum(await callLoads(a, uris)) === 0);
    assert.deepEqual(await callLoads(a, uris), [0, 0]);
  });

  test('one failure marks nothing; with markFailures 1 the last active destination still stays up', async (t) => {
    for (const markFailures of [3, 1]) {
      const { edges } = await fleet(t, 4, ['uas-500', 'uas-500'], { routing: { markFailures } });
      const [a, b] = edges as [EdgeHandle, EdgeHandle];
      const client = await DialogClient.open();
      t.after(() => client.close());
      assert.equal((await client.invite(a.port)).status, 404, 'both answered 500');
      const marks = (result: string) => a.metric('sipfleet_dispatcher_marks_total', { result });
      if (markFailures === 3) {
        assert.equal(await marks('below-threshold'), 2);
        assert.equal(await marks('marked'), 0);
        assert.equal(await b.metric('sipfleet_dispatcher_destination_active'), 2);
      } else {
        assert.equal(await marks('marked'), 1);
        assert.equal(await marks('last-active'), 1);
        await until(
          'the mark reaches the other edge',
          async () => (await b.metric('sipfleet_dispatcher_destination_active')) === 1,
        );
      }
    }
  });

  test('Redis restart under call load: releases owed meanwhile are sent after it, counters equal live calls', async (t) => {
    const { edges, uris, redis } = await fleet(t, 10, ['demo', 'demo'], {
      redis: { appendonly: true, args: ['--appendfsync', 'always'] },
    });
    const [a, b] = edges as [EdgeHandle, EdgeHandle];
    const client = await DialogClient.open();
    t.after(() => client.close());
    const dialogs = [];
    for (let i = 0; i < 10; i++) {
      const dialog = await client.invite(a.port);
      assert.equal(dialog.status, 200);
      client.ack(dialog, b.port);
      dialogs.push(dialog);
    }
    // An edge's own picks reach Redis with its next batch (settleDelayMs).
    await until('the 10 slots in Redis', async () => sum(await callLoads(b, uris)) === 10);
    await redis.kill();
    await until('edge b sees Redis down', async () => (await b.metric('sipfleet_redis_up')) === 0);
    // Six calls end during the outage (BYE through the other edge); new calls are refused 503.
    for (const dialog of dialogs.splice(0, 6)) assert.equal(await client.bye(dialog, b.port), 200);
    assert.equal((await client.invite(a.port)).status, 503);
    await redis.restart();
    await until('counters equal the 4 live calls', async () => {
      const now = await callLoads(b, uris).catch(() => []);
      return now.length === 2 && sum(now) === 4;
    });
    assert.equal(
      await b.metric('sipfleet_dispatcher_call_load_deferred_total', { op: 'release' }),
      6,
    );
    for (const dialog of dialogs) assert.equal(await client.bye(dialog, a.port), 200);
    await until('every slot released', async () => sum(await callLoads(a, uris)) === 0);
    assert.deepEqual(await callLoads(a, uris), [0, 0]);
  });
  test('Redis restart under sipp call-load traffic: afterwards the counters equal the live calls (0)', async (t) => {
    const { edges, uris, redis } = await fleet(t, 10, ['demo', 'demo'], {
      redis: { appendonly: true, args: ['--appendfsync', 'always'] },
    });
    const [a] = edges as [EdgeHandle];
    const sipp = await startSipp({
      scenario: 'uac-call',
      remote: { host: '127.0.0.1', port: a.port },
      service: 'bob',
      rate: 40,
      maxCalls: 160,
      callLengthMs: 500,
      recvTimeoutMs: 5000,
      owner: t,
    });
    await until('calls in progress', async () => sum(await callLoads(a, uris)) >= 10);
    await redis.kill();
    await until(
      'the edge sees Redis down',
      async () => (await a.metric('sipfleet_redis_up')) === 0,
    );
    await redis.restart();
    const stats = await sipp.waitForExit();
    t.diagnostic(`sipp: ${stats.successful} answered, ${stats.failed} refused or failed`);
    assert.ok(stats.successful > 0);
    await until('no slot left once every call ended', async () => {
      const now = await callLoads(a, uris).catch(() => []);
      return now.length === 2 && sum(now) === 0;
    });
  });
});
