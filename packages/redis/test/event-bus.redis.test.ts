import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  redisCli,
  startCluster,
  startRedis,
  uniquePrefix,
} from '@sipfleet/test-helpers/redis-server';
import { EventBus, RedisConnection, type SipfleetRedisError } from '../src/index.js';

interface Events extends Record<string, unknown> {
  ds: { setid: string; uri: string; state: 'up' | 'down' };
}

async function eventually(what: string, check: () => boolean): Promise<void> {
  const until = Date.now() + 15_000;
  while (!check()) {
    if (Date.now() > until) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const setups = {
  standalone: async () => {
    const s = await startRedis();
    return { url: s.url, stop: () => s.stop() };
  },
  cluster: startCluster,
};

for (const [mode, start] of Object.entries(setups)) {
  describe(`event bus on ${mode}`, () => {
    let setup: { url: string; stop(): Promise<void> };
    before(async () => {
      setup = await start();
    });
    after(() => setup.stop());

    test('typed JSON events reach another process-like bus; bad messages are reported, not thrown', async (t) => {
      const prefix = uniquePrefix();
      const a = new RedisConnection({ redis: setup.url, keyPrefix: prefix });
      const b = new RedisConnection({ redis: setup.url, keyPrefix: prefix });
      const errors: SipfleetRedisError[] = [];
      const publisher = new EventBus<Events>(a);
      const bus = new EventBus<Events>(b, { onError: (e) => errors.push(e) });
      t.after(async () => {
        await bus.close();
        await publisher.close();
        await a.close();
        await b.close();
      });
      await Promise.all([a.waitUntilReady(), b.waitUntilReady()]);
      const got: Events['ds'][] = [];
      const unsubscribe = await bus.subscribe('ds', (e) => got.push(e));
      await publisher.publish('ds', { setid: '1', uri: 'sip:a', state: 'down' });
      await eventually('event', () => got.length === 1);
      assert.deepEqual(got[0], { setid: '1', uri: 'sip:a', state: 'down' });

      await a.call('PUBLISH', a.keys.channel('ds'), '{not json');
      await eventually('bad event reported', () => errors.length === 1);
      assert.equal(errors[0]?.code, 'SIPFLEET_ERR_REDIS_BAD_EVENT');

      await unsubscribe();
      await publisher.publish('ds', { setid: '1', uri: 'sip:a', state: 'up' });
      await sleep(100);
      assert.equal(got.length, 1);
    });
  });
}

test('a feed follows its subscriber to another Cluster node when that node dies', async (t) => {
  const cluster = await startCluster({ replicas: 1 });
  t.after(() => cluster.stop());
  const prefix = uniquePrefix();
  const conn = new RedisConnection({ redis: cluster.url, keyPrefix: prefix, maxRetryDelayMs: 200 });
  t.after(() => conn.close());
  const bus = new EventBus<Events>(conn);
  t.after(() => bus.close());
  const got: Events['ds'][] = [];
  const feed = bus.feed('ds', (e) => got.push(e));
  let resyncs = 0;
  feed.on('resync', () => resyncs++);
  feed.start();
  t.after(() => feed.close());
  await eventually('channel live', () => feed.ready && resyncs === 1);

  // Which node holds the subscriber connection: kill exactly that one.
  let subscriberPort: number | undefined;
  for (const port of cluster.ports) {
    if ((await redisCli(port, 'CLIENT', 'LIST')).includes('name=sipfleet-bus'))
      subscriberPort = port;
  }
  assert.ok(subscriberPort !== undefined, 'the subscriber is on one of the nodes');
  await cluster.kill(subscriberPort);
  await eventually('channel lost', () => !feed.ready);
  await eventually('channel live on another node', () => feed.ready && resyncs === 2);

  const live = cluster.ports.find((p) => p !== subscriberPort) ?? 0;
  await redisCli(
    live,
    'PUBLISH',
    conn.keys.channel('ds'),
    JSON.stringify({ setid: '1', uri: 'sip:b', state: 'up' }),
  );
  await eventually('event after the move', () => got.some((e) => e.uri === 'sip:b'));
});
