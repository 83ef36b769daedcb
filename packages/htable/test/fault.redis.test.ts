// Redis dies under a running process: reads keep serving the snapshot, writes fail typed, ready is
// false; Redis comes back on the same port (empty, no AOF): ready again and the cache re-read.
import assert from 'node:assert/strict';
import { collectUnhandledRejections } from '@sipfleet/test-helpers/processes';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { RedisConnection, SipfleetRedisError } from '@sipfleet/redis';
import { redisCli, startRedis, uniquePrefix } from '@sipfleet/test-helpers/redis-server';
import { Htables } from '../src/index.js';

async function eventually(what: string, check: () => boolean): Promise<void> {
  const until = Date.now() + 20_000;
  while (!check()) {
    if (Date.now() > until) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

test('redis killed and restarted while a process runs', async (t) => {
  const unhandled = collectUnhandledRejections(t);
  const server = await startRedis();
  t.after(() => server.stop());
  const prefix = uniquePrefix();
  const conn = new RedisConnection({ redis: server.url, keyPrefix: prefix, maxRetryDelayMs: 200 });
  t.after(() => conn.close());
  const backgroundErrors: SipfleetRedisError[] = [];
  const ht = await Htables.open(conn, [{ name: 'config' }], {
    onError: (e) => backgroundErrors.push(e),
  });
  t.after(() => ht.close());
  const transitions: string[] = [];
  ht.on('up', () => transitions.push('up'));
  ht.on('down', () => transitions.push('down'));

  await ht.seti('config', 'maint', 1);
  await ht.sets('config', 'motd', 'hi');
  assert.equal(ht.ready, true);

  await server.kill();
  await eventually('ready=false', () => !ht.ready);
  assert.equal(ht.get('config', 'maint'), 1, 'reads keep serving the snapshot');
  assert.equal(ht.get('config', 'motd'), 'hi');
  await assert.rejects(
    ht.seti('config', 'maint', 0),
    (e: unknown) => e instanceof SipfleetRedisError && e.code === 'SIPFLEET_ERR_REDIS_UNAVAILABLE',
  );
  await assert.rejects(
    ht.inc('config', 'n'),
    (e: unknown) => e instanceof SipfleetRedisError && e.code === 'SIPFLEET_ERR_REDIS_UNAVAILABLE',
  );

  await server.restart(); // same port, no AOF: the data is gone
  await redisCli(server.port, 'HSET', `${prefix}:{ht:config}:fresh`, 'i', '7');
  await eventually('ready=true', () => ht.ready);
  await eventually(
    'cache re-synced',
    () => ht.get('config', 'maint') === undefined && ht.get('config', 'fresh') === 7,
  );
  assert.deepEqual(transitions.slice(0, 2), ['down', 'up']);
  await redisCli(server.port, 'HSET', `${prefix}:{ht:config}:maint`, 'i', '2');
  await eventually('tracking works again', () => ht.get('config', 'maint') === 2);
  await ht.seti('config', 'after', 1);
  assert.deepEqual(unhandled, []);
  console.log(`# background errors while down (reported, not thrown): ${backgroundErrors.length}`);
});

test('an initial value blocked by a key of another type is reported, the tables are read anyway', async (t) => {
  const server = await startRedis();
  t.after(() => server.stop());
  const prefix = uniquePrefix();
  await redisCli(server.port, 'SET', `${prefix}:{ht:config}:motd`, 'a plain string');
  await redisCli(server.port, 'HSET', `${prefix}:{ht:config}:maint`, 'i', '1');
  const conn = new RedisConnection({ redis: server.url, keyPrefix: prefix });
  t.after(() => conn.close());
  const errors: SipfleetRedisError[] = [];
  const ht = await Htables.open(conn, [{ name: 'config', initial: { motd: 'hello' } }], {
    onError: (e) => errors.push(e),
  });
  t.after(() => ht.close());
  assert.equal(ht.ready, true, 'in step: retrying would not heal it');
  assert.equal(ht.get('config', 'maint'), 1);
  assert.deepEqual(
    errors.map((e) => e.code),
    ['SIPFLEET_ERR_REDIS_SCRIPT_WRONG_TYPE'],
  );
});
