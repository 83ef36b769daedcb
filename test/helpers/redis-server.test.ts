import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import {
  redisCli,
  startCluster,
  startRedis,
  startSentinelSetup,
  uniquePrefix,
} from './redis-server.js';

test('startRedis: a real server that answers, survives kill/restart on its port, and stop() cleans up', async (t) => {
  const server = await startRedis();
  t.after(() => server.stop());
  assert.equal(server.url, `redis://127.0.0.1:${server.port}`);
  assert.equal((await redisCli(server.port, 'CONFIG', 'GET', 'appendonly')).split('\n')[1], 'no');
  await server.kill();
  await assert.rejects(redisCli(server.port, 'PING'));
  await server.restart();
  assert.equal((await redisCli(server.port, 'PING')).trim(), 'PONG');
  const dir = (await redisCli(server.port, 'CONFIG', 'GET', 'dir')).split('\n')[1] ?? '';
  assert.ok(existsSync(dir));
  await server.stop();
  assert.equal(existsSync(dir), false);
  await assert.rejects(redisCli(server.port, 'PING'));
});

test('startSentinelSetup: three sentinels agree on the master', async (t) => {
  const setup = await startSentinelSetup();
  t.after(() => setup.stop());
  assert.match(
    setup.url,
    /^redis-sentinel:\/\/127\.0\.0\.1:\d+,127\.0\.0\.1:\d+,127\.0\.0\.1:\d+\/sipfleet$/,
  );
  for (const port of setup.sentinelPorts) {
    const addr = await redisCli(port, 'SENTINEL', 'get-master-addr-by-name', setup.masterName);
    assert.equal(addr.split('\n')[1], String(setup.masterPort));
  }
  assert.match(await redisCli(setup.replicaPort, 'ROLE'), /slave/);
});

test('startCluster: three masters covering all slots', async (t) => {
  const cluster = await startCluster();
  t.after(() => cluster.stop());
  const info = await redisCli(cluster.ports[0] ?? 0, 'CLUSTER', 'INFO');
  assert.match(info, /cluster_slots_assigned:16384/);
  assert.match(info, /cluster_known_nodes:3/);
});

test('uniquePrefix differs between calls', () => {
  assert.notEqual(uniquePrefix(), uniquePrefix());
  assert.match(uniquePrefix(), /^t-[0-9a-f]{8}$/);
});
