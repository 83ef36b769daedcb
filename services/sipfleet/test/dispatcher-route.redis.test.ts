// The dispatcher route's marking rule, in-process: the real proxy core on the in-memory network
// with a manual clock (the proxy's test harness), silent UASes, a real redis-server behind the
// dispatcher view and fleet, and a loop-health object the test controls. A branch timeout while
// the edge's own event loop lagged is no evidence against the destination; otherwise it counts,
// but the set's last active destination is never marked from the call path.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DispatcherFleet, DispatcherView, isActive } from '@sipfleet/dispatcher';
import { RedisConnection } from '@sipfleet/redis';
import { Uac, Uas, World } from '../../../packages/proxy/test/harness.js';
import { registeredAttrs } from '@sipfleet/keepalive';
import { type RedisServer, startRedis, uniquePrefix } from '@sipfleet/test-helpers/redis-server';
import { edgeConfigSchema } from '../src/config.js';
import { dispatcherRoute } from '../src/edge/routes/dispatcher.js';
import { EdgeMetrics } from '../src/metrics.js';

let redis: RedisServer;
before(async () => (redis = await startRedis()));
after(() => redis.stop());

/** Advances the manual clock until the UAC has a final response (Redis answers in real time). */
async function call(world: World, uac: Uac): Promise<number> {
  const invite = uac.request('INVITE', 'sip:bob@10.0.0.2');
  uac.send(invite);
  const deadline = Date.now() + 10_000;
  for (;;) {
    const final = uac.responses.find((r) => r.status >= 200 && r.callId === invite.callId);
    if (final !== undefined) return final.status;
    if (Date.now() > deadline) assert.fail('no final response');
    await world.advance(100);
  }
}

test('timeouts while the loop lagged mark nothing; otherwise they do, but never the last active destination', async (t) => {
  const conn = new RedisConnection({ redis: redis.url, keyPrefix: uniquePrefix() });
  t.after(() => conn.close());
  await conn.waitUntilReady();
  const fleet = new DispatcherFleet(conn);
  await fleet.load('1 sip:10.0.0.3:5060 0 0\n1 sip:10.0.0.4:5060 0 0\n');
  const view = await DispatcherView.open(conn, { reconcileIntervalMs: 0 });
  t.after(() => view.close());
  const metrics = new EdgeMetrics('test', () => ({ server: 0, client: 0 }));
  const config = edgeConfigSchema.parse({
    redis: { url: redis.url },
    routing: { dispatcher: { set: 1, algorithm: 4, markFailures: 1, frTimerMs: 500 } },
  });
  const routing = config.routing.dispatcher;
  assert.ok(routing);
  let lagged = true;
  const asked: number[] = [];
  const health = {
    laggedWithin(ms: number) {
      asked.push(ms);
      return lagged;
    },
  };
  const world = new World(dispatcherRoute(routing, view, fleet, metrics, health));
  // Nothing listens at 10.0.0.3 and 10.0.0.4: both destinations are silent (not even a 100).
  const marks = async (result: string) =>
    (await metrics.registry.getSingleMetric('sipfleet_dispatcher_marks_total')?.get())?.values.find(
      (v) => v.labels.result === result,
    )?.value ?? 0;
  const active = () => view.snapshot.sets.get(1)?.destinations.filter(isActive).length;

  // The loop lagged: both silent branches time out, neither counts against its destination.
  const uac = new Uac(world);
  assert.equal(await call(world, uac), 404);
  assert.equal(await marks('lagged'), 2);
  assert.equal(await marks('marked'), 0);
  assert.ok(
    asked.every((ms) => ms > 0),
    'asked about the branch duration',
  );
  assert.equal(active(), 2);

  // No lag: the first timeout marks its destination, the second would take the last one.
  lagged = false;
  assert.equal(await call(world, uac), 404);
  assert.equal(await marks('marked'), 1);
  assert.equal(await marks('last-active'), 1);
  for (let i = 0; active() !== 1; i++) {
    if (i > 200) assert.fail('the mark never reached the view');
    await sleep(20);
  }
});

test('call load: a CANCEL towards a silent server releases the slot (the failure hook sees t_is_canceled())', async (t) => {
  const conn = new RedisConnection({ redis: redis.url, keyPrefix: uniquePrefix() });
  t.after(() => conn.close());
  await conn.waitUntilReady();
  const fleet = new DispatcherFleet(conn);
  await fleet.load('1 sip:10.0.0.3:5060 0 0 maxload=5\n');
  const view = await DispatcherView.open(conn, { reconcileIntervalMs: 0 });
  t.after(() => view.close());
  const metrics = new EdgeMetrics('test', () => ({ server: 0, client: 0 }));
  const config = edgeConfigSchema.parse({
    redis: { url: redis.url },
    routing: { dispatcher: { set: 1, algorithm: 10, frTimerMs: 500 } },
  });
  const routing = config.routing.dispatcher;
  assert.ok(routing);
  const world = new World(
    dispatcherRoute(routing, view, fleet, metrics, { laggedWithin: () => false }),
  );
  const uac = new Uac(world);
  const invite = uac.request('INVITE', 'sip:bob@10.0.0.2');
  const tx = uac.send(invite);
  const load = async () => [...(await view.callLoad.loads(1)).values()].reduce((a, b) => a + b, 0);
  for (let i = 0; (await load()) !== 1; i++) {
    if (i > 200) assert.fail('the INVITE never took its slot');
    await world.advance(10);
  }
  tx.cancel();
  const deadline = Date.now() + 10_000;
  while (!uac.responses.some((r) => r.status >= 200 && r.callId === invite.callId)) {
    if (Date.now() > deadline) assert.fail('no final response');
    await world.advance(100);
  }
  assert.equal(uac.responses.find((r) => r.status >= 200)?.status, 487);
  for (let i = 0; (await load()) !== 0; i++) {
    if (i > 200) assert.fail('the slot was never released');
    await sleep(20);
  }
});

test('a destination registered through a Path is reached through it; a failover to another one drops that route set', async (t) => {
  const conn = new RedisConnection({ redis: redis.url, keyPrefix: uniquePrefix() });
  t.after(() => conn.close());
  await conn.waitUntilReady();
  const fleet = new DispatcherFleet(conn);
  const path = registeredAttrs('sip:ms@example', ['<sip:10.0.0.8:5060;lr>']);
  // q 1.0 behind the Path proxy 10.0.0.8 (which answers 503), q 0.5 registered directly.
  await fleet.load(`2 sip:ms@10.0.0.7:5070 0 1000 ${path}\n2 sip:10.0.0.9:5060 0 500\n`);
  const view = await DispatcherView.open(conn, { reconcileIntervalMs: 0 });
  t.after(() => view.close());
  const metrics = new EdgeMetrics('test', () => ({ server: 0, client: 0 }));
  const config = edgeConfigSchema.parse({
    redis: { url: redis.url },
    routing: { dispatcher: { set: 2, algorithm: 8, frTimerMs: 500 } },
  });
  const routing = config.routing.dispatcher;
  assert.ok(routing);
  const world = new World(dispatcherRoute(routing, view, fleet, metrics));
  const pathProxy = new Uas(world, '10.0.0.8');
  pathProxy.script = [[0, 503]];
  const direct = new Uas(world, '10.0.0.9');
  assert.equal(await call(world, new Uac(world)), 200);
  const [viaPath] = pathProxy.received.filter((r) => r.method === 'INVITE');
  assert.equal(viaPath?.uri, 'sip:ms@10.0.0.7:5070', 'the Contact is the Request-URI');
  assert.deepEqual(viaPath?.getHeaders('route'), ['<sip:10.0.0.8:5060;lr>']);
  const [failover] = direct.received.filter((r) => r.method === 'INVITE');
  assert.equal(failover?.uri, 'sip:bob@10.0.0.2', 'the original Request-URI again');
  assert.deepEqual(failover?.getHeaders('route'), []);
});
