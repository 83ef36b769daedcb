import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  type ClusterSetup,
  type RedisServer,
  redisCli,
  startCluster,
  startRedis,
  uniquePrefix,
} from '@sipfleet/test-helpers/redis-server';
import {
  REDIS_LUA_DIR,
  RedisConnection,
  ScriptRunner,
  SipfleetRedisError,
  loadScripts,
} from '../src/index.js';

test('scripts load from lua/ next to src (and dist), with includes expanded', () => {
  const scripts = loadScripts(REDIS_LUA_DIR);
  const del = scripts.find((s) => s.name === 'del-if-equal');
  assert.ok(del);
  assert.equal(del.numberOfKeys, 1);
  assert.match(del.lua, /local ERR_WRONG_TYPE = -1/);
  assert.match(del.lua, /^-- Deletes a key/m);
});

const setups: [string, () => Promise<{ url: string; ports: number[]; stop(): Promise<void> }>][] = [
  [
    'standalone',
    async () => {
      const s: RedisServer = await startRedis();
      return { url: s.url, ports: [s.port], stop: () => s.stop() };
    },
  ],
  [
    'cluster',
    async () => {
      const c: ClusterSetup = await startCluster();
      return c;
    },
  ],
];

for (const [mode, start] of setups) {
  describe(`Lua scripts on ${mode}`, () => {
    let setup: Awaited<ReturnType<typeof start>>;
    let conn: RedisConnection;
    let scripts: ScriptRunner;
    before(async () => {
      setup = await start();
      conn = new RedisConnection({ redis: setup.url, keyPrefix: uniquePrefix() });
      await conn.waitUntilReady();
      scripts = new ScriptRunner(conn, [REDIS_LUA_DIR]);
    });
    after(async () => {
      await conn.close();
      await setup.stop();
    });

    test('EVALSHA survives SCRIPT FLUSH (EVAL fallback on NOSCRIPT)', async () => {
      const key = conn.keys.dsRoundRobin('abc');
      await conn.call('SET', key, 'node-1');
      assert.deepEqual(await scripts.run('del-if-equal', [key], ['node-2']), [0]);
      for (const port of setup.ports) await redisCli(port, 'SCRIPT', 'FLUSH');
      assert.deepEqual(await scripts.run('del-if-equal', [key], ['node-1']), [1]);
      assert.equal(await conn.call('EXISTS', key), 0);
      // and EVALSHA works again once EVAL has cached it
      assert.deepEqual(await scripts.run('del-if-equal', [key], ['node-1']), [0]);
    });

    test('a negative script code becomes the typed error from the one table', async () => {
      const key = conn.keys.dsLoad('7');
      await conn.call('HSET', key, 'sip:a', 1);
      await assert.rejects(
        scripts.run('del-if-equal', [key], ['x']),
        (e: unknown) =>
          e instanceof SipfleetRedisError && e.code === 'SIPFLEET_ERR_REDIS_SCRIPT_WRONG_TYPE',
      );
      await assert.rejects(
        scripts.run('del-if-equal', [key, key], ['x']),
        (e: unknown) => e instanceof SipfleetRedisError && e.code === 'SIPFLEET_ERR_REDIS_CONFIG',
      );
    });
  });
}
