import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type RedisServer, startRedis, uniquePrefix } from '@sipfleet/test-helpers/redis-server';
import { RedisConnection, SipfleetRedisError, backoff } from '../src/index.js';

let server: RedisServer;
before(async () => {
  server = await startRedis();
});
after(() => server.stop());

async function eventually(what: string, check: () => boolean, deadlineMs = 15_000): Promise<void> {
  const until = Date.now() + deadlineMs;
  while (!check()) {
    if (Date.now() > until) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

test('backoff doubles from 50 ms and stays under the cap', () => {
  assert.deepEqual(
    [0, 1, 2, 3, 10, 100].map((n) => backoff(n, 1000)),
    [50, 100, 200, 400, 1000, 1000],
  );
});

test('fail fast while Redis is down, ready flag and up/down events, recovery on the same port', async (t) => {
  const conn = new RedisConnection({
    redis: server.url,
    keyPrefix: uniquePrefix(),
    maxRetryDelayMs: 200,
  });
  t.after(() => conn.close());
  const events: string[] = [];
  conn.on('up', () => events.push('up'));
  conn.on('down', () => events.push('down'));
  await conn.waitUntilReady();
  assert.equal(conn.ready, true);
  assert.equal(await conn.call('PING'), 'PONG');

  await server.kill();
  await eventually('ready=false', () => !conn.ready);
  const started = Date.now();
  await assert.rejects(
    conn.call('GET', 'x'),
    (e: unknown) => e instanceof SipfleetRedisError && e.code === 'SIPFLEET_ERR_REDIS_UNAVAILABLE',
  );
  console.log(`# rejected while down after ${Date.now() - started} ms (not queued)`);

  await server.restart();
  await conn.waitUntilReady(15_000);
  assert.equal(await conn.call('PING'), 'PONG');
  assert.deepEqual(events, ['up', 'down', 'up']);
});

test('waitUntilReady rejects with a typed error when nothing listens', async (t) => {
  const conn = new RedisConnection({ redis: 'redis://127.0.0.1:1', maxRetryDelayMs: 100 });
  t.after(() => conn.close());
  await assert.rejects(
    conn.waitUntilReady(300),
    (e: unknown) => e instanceof SipfleetRedisError && e.code === 'SIPFLEET_ERR_REDIS_UNAVAILABLE',
  );
  assert.equal(conn.ready, false);
});

test('a Redis error reply is SIPFLEET_ERR_REDIS_COMMAND', async (t) => {
  const conn = new RedisConnection({ redis: server.url });
  t.after(() => conn.close());
  await conn.waitUntilReady();
  await assert.rejects(
    conn.call('NOSUCHCOMMAND'),
    (e: unknown) => e instanceof SipfleetRedisError && e.code === 'SIPFLEET_ERR_REDIS_COMMAND',
  );
});
