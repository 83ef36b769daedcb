// Call load through Redis faults, on a real redis-server: releases and confirms that cannot reach
// Redis are queued and sent after it comes back (one report per outage), the queue is bounded, and
// a reserve applied by Redis after the client gave up on it is undone without touching a later
// reserve of the same Call-ID, or takes nothing when that undo arrives first, and a Cluster
// failover sends the releases of the last moments again.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { RedisConnection } from '@sipfleet/redis';
import {
  type RedisServer,
  failoverClusterMaster,
  redisCli,
  startCluster,
  startRedis,
  uniquePrefix,
} from '@sipfleet/test-helpers/redis-server';
import {
  CallLoad,
  type CallLoadOptions,
  DispatcherFleet,
  DispatcherFleetError,
} from '../src/index.js';
import { scriptsFor } from '../src/fleet/scripts.js';

type TestContext = { after(fn: () => Promise<void> | void): void };

const LIST = '1 sip:10.0.0.1 0 0 duid=a\n1 sip:10.0.0.2 0 0 duid=b\n';

/** Polls `check` every 20 ms until it holds; fails after `ms` with `what`. */
async function until(what: string, check: () => boolean | Promise<boolean>, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function total(loads: Map<string, number>): number {
  return [...loads.values()].reduce((a, b) => a + b, 0);
}

/** An admin and an edge connection on a fresh prefix of `url`, with LIST loaded. */
async function connections(t: TestContext, url: string, commandTimeoutMs = 1000) {
  const prefix = uniquePrefix();
  const admin = new RedisConnection({ redis: url, keyPrefix: prefix });
  const edge = new RedisConnection({
    redis: url,
    keyPrefix: prefix,
    commandTimeoutMs,
    maxRetryDelayMs: 100,
  });
  t.after(() => admin.close());
  t.after(() => edge.close());
  await admin.waitUntilReady();
  await edge.waitUntilReady();
  await new DispatcherFleet(admin).load(LIST);
  return { admin, edge };
}

describe('call load through Redis faults', () => {
  let redis: RedisServer;
  before(async () => {
    // Every write reaches the AOF before the reply, so a kill loses nothing acknowledged.
    redis = await startRedis({ appendonly: true, args: ['--appendfsync', 'always'] });
  });
  after(() => redis.stop());

  async function setup(t: TestContext, options: CallLoadOptions = {}, commandTimeoutMs = 1000) {
    const { admin, edge } = await connections(t, redis.url, commandTimeoutMs);
    const errors: Error[] = [];
    const callLoad = new CallLoad(edge, {
      ...options,
      onError: (err) => errors.push(err),
    });
    t.after(() => callLoad.close());
    const events = { deferred: 0, dropped: 0 };
    callLoad.on('deferred', () => events.deferred++);
    callLoad.on('dropped', () => events.dropped++);
    return { admin, edge, callLoad, errors, events, check: new CallLoad(admin) };
  }

  test('Redis restart: releases and confirms owed meanwhile are sent after it, counters equal live calls', async (t) => {
    const { admin, edge, callLoad, errors, events, check } = await setup(t);
    for (let i = 0; i < 30; i++) assert.ok((await callLoad.reserve(1, `call-${i}`)).ok);
    await redis.kill();
    await until('the edge sees Redis down', () => !edge.ready);
    // During the outage: 0-19 end (BYE or 486), 20-24 are answered, 25-29 still ring.
    for (let i = 0; i < 20; i++) callLoad.releaseOrRetry(1, `call-${i}`);
    for (let i = 20; i < 25; i++) callLoad.confirmOrRetry(1, `call-${i}`);
    // A call answered and then hung up within the outage owes one release, not both.
    callLoad.confirmOrRetry(1, 'call-0');
    await until('every op queued', () => callLoad.queued === 25);
    assert.equal(errors.length, 0, 'nothing reported while the outage lasts');
    await redis.restart();
    await until('the queue drained', () => callLoad.queued === 0);
    await admin.waitUntilReady();
    assert.equal(events.deferred, 25);
    assert.equal(total(await check.loads(1)), 10, 'counters equal the 10 live calls');
    const reconcile = await check.reconcile(1);
    assert.deepEqual(reconcile, { purged: 0, live: 10, corrected: 0 });
    assert.equal(errors.length, 1, 'one report for the outage');
    const report = errors[0];
    assert.ok(report instanceof DispatcherFleetError);
    assert.equal(report.code, 'SIPFLEET_ERR_DISPATCHER_CALL_LOAD_DEFERRED');
    assert.match(report.message, /^call load: 25 release\(s\)\/confirm\(s\)\/assign\(s\)/);
    // The 5 confirmed calls now outlive the initial expiry; the 5 ringing ones do not.
    const calls = await edge.call('HGETALL', edge.keys.dsCalls('1'));
    const states = (calls as string[]).filter((_, i) => i % 2 === 1).map((v) => v.split(' ')[0]);
    assert.deepEqual(states.sort(), ['c', 'c', 'c', 'c', 'c', 'i', 'i', 'i', 'i', 'i']);
  });

  test('the queue is bounded: past retryQueueLimit ops are dropped and counted', async (t) => {
    const { admin, edge, callLoad, errors, events, check } = await setup(t, {
      retryQueueLimit: 4,
    });
    for (let i = 0; i < 6; i++) assert.ok((await callLoad.reserve(1, `call-${i}`)).ok);
    await redis.kill();
    await until('the edge sees Redis down', () => !edge.ready);
    for (let i = 0; i < 6; i++) callLoad.releaseOrRetry(1, `call-${i}`);
    await until('4 queued, 2 dropped', () => callLoad.queued === 4 && events.dropped === 2);
    await redis.restart();
    await until('the queue drained', () => callLoad.queued === 0);
    await admin.waitUntilReady();
    assert.equal(total(await check.loads(1)), 2, 'the two dropped releases left their slots');
    assert.equal(errors.length, 1);
    assert.match(errors[0]?.message ?? '', /; 2 dropped \(queue full\)/);
  });

  test('a reserve applied after the client timed out is released; a later reserve of the Call-ID is not', async (t) => {
    const { admin, callLoad, check } = await setup(t, { retryQueueDelayMs: 1500 }, 150);
    // Redis knows the scripts already (EVALSHA of an unknown one would just answer NOSCRIPT).
    assert.ok((await callLoad.reserve(1, 'warm-up')).ok);
    assert.ok(await callLoad.release(1, 'warm-up'));
    // Writes wait 600 ms inside Redis: the reserve times out on the client, then Redis applies it.
    await redisCli(redis.port, 'CLIENT', 'PAUSE', '600', 'WRITE');
    await assert.rejects(callLoad.reserve(1, 'lost'), { code: 'SIPFLEET_ERR_REDIS_TIMEOUT' });
    await until('Redis applied the reserve', async () =>
      Boolean(await admin.call('HGET', admin.keys.dsCalls('1'), 'lost')),
    );
    assert.equal(callLoad.queued, 1, 'a release of that reserve is queued');
    // Before it is sent, that attempt ends and a new INVITE with the same Call-ID takes a slot.
    assert.equal(await check.release(1, 'lost'), true);
    const again = await check.reserve(1, 'lost');
    assert.ok(again.ok && !again.existing);
    await until('the queue drained', () => callLoad.queued === 0);
    assert.equal(total(await check.loads(1)), 1, 'the new slot stays');
    // Without the second INVITE the same path frees the slot.
    await redisCli(redis.port, 'CLIENT', 'PAUSE', '600', 'WRITE');
    await assert.rejects(callLoad.reserve(1, 'lost-2'), { code: 'SIPFLEET_ERR_REDIS_TIMEOUT' });
    await until('the queue drained', () => callLoad.queued === 0);
    assert.equal(await admin.call('HGET', admin.keys.dsCalls('1'), 'lost-2'), null);
    assert.equal(total(await check.loads(1)), 1);
  });

  test('a new INVITE of the Call-ID takes over: a release still owed for the earlier attempt is dropped', async (t) => {
    const { admin, callLoad, check } = await setup(t, { retryQueueDelayMs: 60_000 }, 150);
    assert.ok((await callLoad.reserve(1, 'retried')).ok);
    assert.equal(await callLoad.release(1, 'warm-up'), false); // Redis knows ds-call-ops now
    // The 407 (or 503) ending the first attempt: its release times out on the client, queued.
    await redisCli(redis.port, 'CLIENT', 'PAUSE', '400', 'WRITE');
    callLoad.releaseOrRetry(1, 'retried');
    await until('the release is queued', () => callLoad.queued === 1);
    await until(
      'Redis applied it after the pause',
      async () => !(await admin.call('HGET', admin.keys.dsCalls('1'), 'retried')),
    );
    // The INVITE with credentials, same Call-ID, before the queue is sent again.
    const again = await callLoad.reserve(1, 'retried');
    assert.ok(again.ok && !again.existing);
    assert.equal(callLoad.queued, 0, 'nothing left that could free the new slot');
    assert.equal(total(await check.loads(1)), 1);
  });

  test('a release naming a reserve that has not run yet voids it: the late reserve takes no slot', async (t) => {
    const { admin, callLoad, check } = await setup(t, { initExpireSeconds: 0.5 });
    // The reserve's reply was lost and its release (naming its token) reached Redis first.
    assert.equal(await callLoad.release(1, 'late', 'tok.1'), false, 'no slot to free yet');
    const k = (key: 'dsDestinations' | 'dsState' | 'dsLoad' | 'dsCalls' | 'dsExpiry' | 'dsVoid') =>
      admin.keys[key]('1');
    const keys = ['dsDestinations', 'dsState', 'dsLoad', 'dsCalls', 'dsExpiry', 'dsVoid'] as const;
    // Then the reserve itself arrives: the same ds-call-ops step the edge sent.
    const late = (token: string) =>
      scriptsFor(admin).run('ds-call-ops', keys.map(k), [
        500,
        7_200_000,
        32,
        '-',
        'v',
        'late',
        '',
        token,
      ]);
    assert.deepEqual(await late('tok.1'), [0, [13]], 'voided: nothing taken');
    assert.equal(total(await check.loads(1)), 0);
    assert.equal(await admin.call('HGET', k('dsCalls'), 'late'), null);
    // A void is used once: the same token again (never sent twice by an edge) would reserve.
    const again = (await late('tok.1')) as [number, unknown[]];
    assert.equal(again[1]?.[0], 1);
    assert.equal(await check.release(1, 'late'), true);
    // An unused void ends with the reserve it stood for (initExpireSeconds), key and all.
    assert.equal(await callLoad.release(1, 'never-sent', 'tok.2'), false);
    assert.equal(await admin.call('ZCARD', k('dsVoid')), 1);
    await until(
      'the void expired',
      async () => Number(await admin.call('EXISTS', k('dsVoid'))) === 0,
    );
  });

  test('edge picks whose assign cannot reach Redis are owed: a 2xx confirms it, a BYE undoes it', async (t) => {
    const { admin, edge, callLoad, errors, events, check } = await setup(t, {
      localPickHeadroom: 0,
    });
    assert.ok((await callLoad.reserve(1, 'before')).ok);
    assert.ok(callLoad.pickLoads(1), 'loads seen: the edge may pick');
    await redis.kill();
    await until('the edge sees Redis down', () => !edge.ready);
    assert.equal(callLoad.pickLoads(1), undefined, 'Redis away: the reserve decides (and fails)');
    // Picked just before the edge saw it go: answered, hung up and still ringing in the outage.
    callLoad.assign(1, 'answered', 'a', 'sip:10.0.0.1');
    callLoad.assign(1, 'hung-up', 'b', 'sip:10.0.0.2');
    callLoad.assign(1, 'ringing', 'b', 'sip:10.0.0.2');
    await until('the assigns queued', () => callLoad.queued === 3 && events.deferred === 3);
    callLoad.confirmOrRetry(1, 'answered');
    callLoad.releaseOrRetry(1, 'hung-up');
    // The release of hung-up's token replaces its assign; the confirm folds into answered's.
    await until('the release queued', () => callLoad.queued === 3 && events.deferred === 4);
    await redis.restart();
    await until('the queue drained', () => callLoad.queued === 0);
    await admin.waitUntilReady();
    assert.deepEqual(Object.fromEntries(await check.loads(1)), { a: 1, b: 2 }); // before: b
    const state = async (callId: string) =>
      String(await admin.call('HGET', admin.keys.dsCalls('1'), callId)).split(' ')[0];
    assert.equal(await state('answered'), 'c', 'its 2xx came while it waited: confirmed');
    assert.equal(await state('ringing'), 'i');
    assert.equal(await admin.call('HGET', admin.keys.dsCalls('1'), 'hung-up'), null);
    assert.deepEqual(await check.reconcile(1), { purged: 0, live: 3, corrected: 0 });
    assert.equal(errors.length, 1, 'one report for the outage');
    assert.match(errors[0]?.message ?? '', /^call load: 4 release\(s\)\/confirm\(s\)\/assign\(s\)/);
  });

  test('an assign sent again takes its slot once; a release first (of its token or Call-ID) voids it', async (t) => {
    const { admin, check } = await setup(t);
    const keys = ['dsDestinations', 'dsState', 'dsLoad', 'dsCalls', 'dsExpiry', 'dsVoid'] as const;
    const run = (...steps: string[]) =>
      scriptsFor(admin).run(
        'ds-call-ops',
        keys.map((key) => admin.keys[key]('1')),
        [500, 7_200_000, 32, '-', ...steps],
      );
    const loads = ['l', '-', '', ''];
    const x = ['a', 'x', 'a sip:10.0.0.1', 'tok.1'];
    assert.deepEqual(
      await run(...x, ...x, ...loads),
      [0, 1, 2, ['a', '1']],
      'the second is a no-op',
    );
    // A newer attempt of the Call-ID, picked elsewhere: the slot moves.
    assert.deepEqual(await run('a', 'x', 'b sip:10.0.0.2', 'tok.2', ...loads), [0, 1, ['b', '1']]);
    // The release of a lost assign's token arrived before the assign: it takes nothing.
    assert.equal(await check.release(1, 'y', 'tok.3'), false);
    assert.deepEqual(await run('a', 'y', 'a sip:10.0.0.1', 'tok.3'), [0, 13]);
    assert.deepEqual(await run('a', 'y', 'no-uri', 'tok.4'), [0, -2], 'refused: bad target');
    // A BYE through another edge before the picking edge's assign: the release finds no slot,
    // and the assign of that Call-ID arriving after it takes nothing.
    assert.equal(await check.release(1, 'quick'), false);
    assert.deepEqual(await run('a', 'quick', 'a sip:10.0.0.1', 'tok.5'), [0, 13]);
    assert.deepEqual(Object.fromEntries(await check.loads(1)), { b: 1 });
  });

  test('a reserve refused before it was sent (Redis down) queues nothing', async (t) => {
    const { edge, callLoad } = await setup(t);
    await redis.kill();
    await until('the edge sees Redis down', () => !edge.ready);
    await assert.rejects(callLoad.reserve(1, 'x'), { code: 'SIPFLEET_ERR_REDIS_UNAVAILABLE' });
    assert.equal(callLoad.queued, 0);
    await redis.restart();
    await edge.waitUntilReady();
  });
});

describe('call load through a Cluster failover', () => {
  test("when the master of the set's slot is lost, releases of the last moments are sent again to the promoted replica", async (t) => {
    const cluster = await startCluster({ replicas: 1 });
    t.after(() => cluster.stop());
    const { admin, edge } = await connections(t, cluster.url);
    const callLoad = new CallLoad(edge, { retryQueueDelayMs: 200 });
    t.after(() => callLoad.close());
    let replayed = 0;
    callLoad.on('replayed', (n) => (replayed += n));
    for (const id of ['ended-1', 'ended-2', 'live']) assert.ok((await callLoad.reserve(1, id)).ok);
    // Two calls end: Redis acknowledges both releases (the old master could lose them to the
    // failover, asynchronous replication being what it is).
    assert.ok(await callLoad.release(1, 'ended-1'));
    assert.ok(await callLoad.release(1, 'ended-2'));
    // The replica has them all, so the counters below do not depend on what the kill loses.
    const master = await cluster.masterOf(edge.keys.dsLoad('1'));
    await until('the replica caught up', async () => {
      const info = await redisCli(master, 'INFO', 'replication');
      const offset = /master_repl_offset:(\d+)/.exec(info)?.[1];
      return offset !== undefined && new RegExp(`slave0:.*offset=${offset},`).test(info);
    });
    await failoverClusterMaster(cluster, edge.keys.dsLoad('1'));
    await until('the releases were sent again', () => replayed === 2, 30_000);
    await until('and reached the promoted master', () => callLoad.queued === 0, 30_000);
    assert.ok(edge.ready, 'the connection stayed up through the failover');
    const loads = await new CallLoad(admin).loads(1);
    assert.equal(total(loads), 1, 'the live call keeps its slot');
  });
});
