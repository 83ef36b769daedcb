// Redis dies under running edges: the view keeps routing on its snapshot, round-robin falls back
// to a local counter, call load and writes fail typed, nothing is thrown unhandled; when Redis
// comes back (empty: no AOF) the view re-reads, keeps its snapshot while the list is missing and
// takes the next load.
import assert from 'node:assert/strict';
import { collectUnhandledRejections } from '@sipfleet/test-helpers/processes';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { RedisConnection, SipfleetRedisError } from '@sipfleet/redis';
import { startRedis, uniquePrefix } from '@sipfleet/test-helpers/redis-server';
import { DispatcherFleet, DispatcherView, DS_ALG } from '../src/index.js';

async function eventually(what: string, check: () => boolean): Promise<void> {
  const until = Date.now() + 20_000;
  while (!check()) {
    if (Date.now() > until) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

const unavailable = (e: unknown) =>
  e instanceof SipfleetRedisError && e.code === 'SIPFLEET_ERR_REDIS_UNAVAILABLE';

test('redis killed and restarted under an edge', async (t) => {
  const unhandled = collectUnhandledRejections(t);
  const server = await startRedis();
  t.after(() => server.stop());
  const prefix = uniquePrefix();
  const admin = new RedisConnection({ redis: server.url, keyPrefix: prefix, maxRetryDelayMs: 200 });
  t.after(() => admin.close());
  const conn = new RedisConnection({ redis: server.url, keyPrefix: prefix, maxRetryDelayMs: 200 });
  t.after(() => conn.close());
  await admin.waitUntilReady();
  const fleet = new DispatcherFleet(admin);
  await fleet.load('1 sip:10.0.0.1 0 0 duid=a\n1 sip:10.0.0.2 0 0 duid=b\n');
  const errors: Error[] = [];
  const view = await DispatcherView.open(conn, {
    reconcileIntervalMs: 50,
    onError: (e) => errors.push(e),
  });
  t.after(() => view.close());
  const transitions: string[] = [];
  view.on('up', () => transitions.push('up'));
  view.on('down', () => transitions.push('down'));
  assert.equal(view.ready, true);
  const before = view.snapshot;

  await server.kill();
  await eventually('ready=false', () => !view.ready);
  assert.equal(view.snapshot, before, 'the snapshot is kept as it was');
  const hashed = await view.selectDestinations(1, DS_ALG.HASH_CALLID, { callId: 'x@y' });
  assert.equal(hashed.candidates.length, 2, 'hash algorithms route on');
  const rr = await Promise.all(
    [0, 1, 2, 3].map(() => view.selectDestinations(1, DS_ALG.ROUND_ROBIN, {})),
  );
  assert.ok(
    rr.every((s) => s.candidates.length === 2),
    'round-robin goes on, locally',
  );
  assert.ok(errors.some(unavailable), 'and says so through onError');
  assert.deepEqual(
    new Set(rr.map((s) => s.candidates[0]?.destination.uri)),
    new Set(['sip:10.0.0.1', 'sip:10.0.0.2']),
    'the local counter still alternates',
  );
  await assert.rejects(view.callLoad.reserve(1, 'c1'), unavailable);
  await assert.rejects(view.selectDestinations(1, DS_ALG.CALL_LOAD, { callId: 'c1' }), unavailable);
  await assert.rejects(view.callLoad.release(1, 'c1'), unavailable);
  await assert.rejects(fleet.setState(1, 'sip:10.0.0.1', 'ip'), unavailable);
  assert.equal(view.isFromList('10.0.0.2')?.uri, 'sip:10.0.0.2');
  await sleep(150); // let the reconcile timer fail a few times: reported, never thrown

  await server.restart(); // same port, no AOF: the list is gone
  await eventually('ready again', () => view.ready);
  await eventually('re-read on reconnect noticed the missing list', () =>
    errors.some((e) => 'code' in e && e.code === 'SIPFLEET_ERR_DISPATCHER_LIST_MISSING'),
  );
  assert.equal(view.snapshot.sets.get(1)?.destinations.length, 2, 'still routing on the snapshot');
  assert.equal(view.listVersion, 0);
  await eventually('admin connection back', () => admin.ready);
  await fleet.load('1 sip:10.0.0.3 0 0\n');
  await eventually(
    'the next load is taken',
    () => view.snapshot.sets.get(1)?.destinations[0]?.uri === 'sip:10.0.0.3',
  );
  const reserved = await view.callLoad.reserve(1, 'c2');
  assert.equal(reserved.ok && reserved.uri, 'sip:10.0.0.3');
  assert.deepEqual(transitions.slice(0, 2), ['down', 'up']);
  assert.deepEqual(unhandled, []);
  console.log(`# background errors while down (reported, not thrown): ${errors.length}`);
});

test('a view started with Redis down routes on its list file, loads it when Redis appears', async (t) => {
  const server = await startRedis();
  t.after(() => server.stop());
  await server.kill();
  const prefix = uniquePrefix();
  const conn = new RedisConnection({ redis: server.url, keyPrefix: prefix, maxRetryDelayMs: 100 });
  t.after(() => conn.close());
  const errors: Error[] = [];
  const view = DispatcherView.start(conn, {
    reconcileIntervalMs: 0,
    initialList: '1 sip:10.0.0.1 0 0\n1 sip:10.0.0.2 0 0\n',
    onError: (e) => errors.push(e),
    // round-robin leases blocks here (the edge's default): no block can be had while Redis is down
    roundRobinLease: 10,
  });
  t.after(() => view.close());
  assert.equal(view.ready, false);
  const loaded: number[] = [];
  view.on('list-loaded', (r) => loaded.push(r.version));

  const hashed = await view.selectDestinations(1, DS_ALG.HASH_CALLID, { callId: 'a@b' });
  assert.equal(hashed.candidates.length, 2, 'hashes route on the file');
  const rr = await Promise.all(
    [0, 1].map(() => view.selectDestinations(1, DS_ALG.ROUND_ROBIN, {})),
  );
  assert.deepEqual(
    new Set(rr.map((s) => s.candidates[0]?.destination.uri)),
    new Set(['sip:10.0.0.1', 'sip:10.0.0.2']),
    'round-robin alternates on a local counter',
  );
  await assert.rejects(view.selectDestinations(1, DS_ALG.CALL_LOAD, { callId: 'c' }), unavailable);

  await server.restart();
  await view.mirror.waitUntilReady(20_000);
  assert.equal(loaded.length, 1, 'the file was loaded into the empty Redis');
  assert.ok(view.listVersion >= 1);
  const reserved = await view.callLoad.reserve(1, 'c2');
  assert.ok(reserved.ok, 'call load works once Redis holds the list');
  const leased = [];
  for (let i = 0; i < 4; i++) leased.push(await view.selectDestinations(1, DS_ALG.ROUND_ROBIN, {}));
  assert.deepEqual(
    leased.map((s) => s.candidates[0]?.destination.uri),
    [0, 1, 0, 1].map((i) => view.snapshot.sets.get(1)?.destinations[i]?.uri),
    'round-robin takes positions 0, 1, 2, 3 of a leased block of the fleet counter again',
  );
  assert.equal(await conn.call('GET', conn.keys.dsRoundRobin('1')), '10', 'one INCRBY of 10');
  assert.ok(errors.every(unavailable), 'only "unavailable" was reported while Redis was away');

  // Redis restarts without its data (no AOF): the file is loaded again, call load comes back.
  await server.kill();
  await server.restart();
  for (let i = 0; loaded.length < 2; i++) {
    if (i > 400) assert.fail('the file was not loaded into the emptied Redis');
    await sleep(50);
  }
  await view.mirror.waitUntilReady(20_000);
  assert.ok((await view.callLoad.reserve(1, 'c3')).ok, 'call load works again');
});
