// startMembership: what the edge puts in its membership record, from its config, on a real
// redis-server; a stopped edge leaves the list at once.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CallLoad, DispatcherFleet, listMembers } from '@sipfleet/dispatcher';
import { RedisConnection } from '@sipfleet/redis';
import { pino } from 'pino';
import { type RedisServer, startRedis, uniquePrefix } from '@sipfleet/test-helpers/redis-server';
import { edgeConfigSchema } from '../src/config.js';
import { startMembership } from '../src/edge/membership.js';

let redis: RedisServer;
before(async () => (redis = await startRedis()));
after(() => redis.stop());

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

test('the record says who the edge is, from its config; its reserves carry its instance', async (t) => {
  const conn = new RedisConnection({ redis: redis.url, keyPrefix: uniquePrefix() });
  t.after(() => conn.close());
  await conn.waitUntilReady();
  await new DispatcherFleet(conn).load('1 sip:10.0.0.1 0 0\n');
  const config = edgeConfigSchema.parse({
    nodeId: 'edge-7',
    listen: [{ protocol: 'udp', address: '127.0.0.1', port: 5070 }],
    admin: { address: '127.0.0.1', port: 9070 },
    fleet: { heartbeatMs: 100, ttlMs: 300 },
  });
  const callLoad = new CallLoad(conn);
  const membership = startMembership(
    config,
    conn,
    () => ({ callsInFlight: 3, maintenance: 'node' }),
    { log: pino({ level: 'silent' }), callLoad },
  );
  t.after(() => membership.stop());
  let members = await listMembers(conn);
  while (members.length === 0) {
    await sleep(20);
    members = await listMembers(conn);
  }
  const [record] = members;
  assert.equal(record?.nodeId, 'edge-7');
  assert.equal(record?.version, pkg.version);
  assert.deepEqual(record?.sip, ['udp:127.0.0.1:5070']);
  assert.equal(record?.admin, '127.0.0.1:9070');
  assert.equal(record?.callsInFlight, 3);
  assert.equal(record?.maintenance, 'node');
  assert.ok((await callLoad.reserve(1, 'ringing')).ok);
  const slot = String(await conn.call('HGET', conn.keys.dsCalls('1'), 'ringing'));
  assert.equal(slot.split(' ')[3], membership.instance, 'the slot names this edge');
  await membership.stop();
  assert.deepEqual(await listMembers(conn), []);
});

test('fleet.ttlMs must exceed fleet.heartbeatMs', () => {
  const parsed = edgeConfigSchema.safeParse({ fleet: { heartbeatMs: 1000, ttlMs: 1000 } });
  assert.equal(parsed.success, false);
});
