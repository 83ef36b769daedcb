// The htable suite runs against standalone, Sentinel and a 3-master Cluster (each started once).
// "Operator" writes go through the real redis-cli, never through sipfleet code.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { RedisConnection, SipfleetRedisError } from '@sipfleet/redis';
import {
  redisCli,
  startCluster,
  startRedis,
  startSentinelSetup,
  uniquePrefix,
} from '@sipfleet/test-helpers/redis-server';
import { type HtableDefinition, HtableError, Htables } from '../src/index.js';

interface Setup {
  url: string;
  /** redis-cli target for operator writes (the master; `-c` follows Cluster redirects). */
  cli: (...args: string[]) => Promise<string>;
  stop(): Promise<void>;
}

const setups: Record<string, () => Promise<Setup>> = {
  standalone: async () => {
    const s = await startRedis();
    return { url: s.url, cli: (...a) => redisCli(s.port, ...a), stop: () => s.stop() };
  },
  sentinel: async () => {
    const s = await startSentinelSetup();
    return { url: s.url, cli: (...a) => redisCli(s.masterPort, ...a), stop: () => s.stop() };
  },
  cluster: async () => {
    const c = await startCluster();
    return {
      url: c.url,
      cli: (...a) => redisCli(c.ports[0] ?? 0, '-c', ...a),
      stop: () => c.stop(),
    };
  },
};

async function eventually(what: string, check: () => boolean, deadlineMs = 10_000): Promise<void> {
  const started = performance.now();
  while (!check()) {
    if (performance.now() - started > deadlineMs) assert.fail(`timed out waiting for ${what}`);
    await sleep(1);
  }
}

const TABLES: HtableDefinition[] = [
  { name: 'config', initial: { maint: 0, motd: 'welcome' } },
  { name: 'calls', initval: 0 },
  { name: 'short', autoexpire: 1 },
  { name: 'sticky', autoexpire: 30, updateexpire: false },
];

for (const [mode, start] of Object.entries(setups)) {
  describe(`htable on ${mode}`, () => {
    let setup: Setup;
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    before(async () => {
      process.on('unhandledRejection', onUnhandled);
      setup = await start();
    });
    after(async () => {
      process.off('unhandledRejection', onUnhandled);
      await setup.stop();
      assert.deepEqual(unhandled, []);
    });

    /** Two "processes" (own connection + own cache each) on one fresh prefix. */
    async function fleet(t: { after(fn: () => Promise<void>): void }, n = 2) {
      const prefix = uniquePrefix();
      const members: { conn: RedisConnection; ht: Htables }[] = [];
      t.after(async () => {
        for (const m of members) {
          await m.ht.close();
          await m.conn.close();
        }
      });
      for (let i = 0; i < n; i++) {
        const conn = new RedisConnection({ redis: setup.url, keyPrefix: prefix });
        const ht = await Htables.open(conn, TABLES);
        members.push({ conn, ht });
      }
      return { prefix, members };
    }

    test('a redis-cli write reaches every cache; type kept; initial values seeded', async (t) => {
      const { prefix, members } = await fleet(t);
      const [a, b] = members.map((m) => m.ht) as [Htables, Htables];
      assert.equal(a.ready, true);
      assert.equal(a.get('config', 'maint'), 0);
      assert.equal(b.get('config', 'motd'), 'welcome');
      const key = `${prefix}:{ht:config}:maint`;
      const started = performance.now();
      await setup.cli('HSET', key, 'i', '1');
      await eventually('maint=1 in both caches', () =>
        [a, b].every((ht) => ht.get('config', 'maint') === 1),
      );
      // An upper bound: it includes starting the redis-cli process.
      console.log(
        `# ${mode}: redis-cli HSET -> both caches within ${(performance.now() - started).toFixed(1)} ms`,
      );
      await setup.cli('HSET', `${prefix}:{ht:config}:ver`, 's', '42');
      await eventually('string "42"', () => b.get('config', 'ver') === '42');
      await setup.cli('DEL', key);
      await eventually('maint gone', () =>
        [a, b].every((ht) => ht.get('config', 'maint') === undefined),
      );
    });

    test('sets/seti from one process are seen by the other; delete; unknown table', async (t) => {
      const { members } = await fleet(t);
      const [a, b] = members.map((m) => m.ht) as [Htables, Htables];
      await a.seti('config', 'limit', 30);
      await a.sets('config', 'name', 'edge 1');
      assert.equal(a.get('config', 'limit'), 30); // read-your-writes, no round trip
      await eventually(
        'b sees limit',
        () => b.get('config', 'limit') === 30 && b.get('config', 'name') === 'edge 1',
      );
      await a.sets('config', 'limit', '30'); // type changes with the write, like Kamailio
      await eventually('b sees the string', () => b.get('config', 'limit') === '30');
      assert.equal(await b.delete('config', 'limit'), true);
      await eventually('a sees delete', () => a.get('config', 'limit') === undefined);
      assert.equal(await b.delete('config', 'limit'), false);
      assert.throws(
        () => a.get('nope', 'x'),
        (e: unknown) => e instanceof HtableError && e.code === 'SIPFLEET_ERR_HTABLE_UNKNOWN_TABLE',
      );
      await assert.rejects(
        a.seti('config', 'x', 1.5),
        (e: unknown) => e instanceof HtableError && e.code === 'SIPFLEET_ERR_HTABLE_BAD_VALUE',
      );
    });

    test('expiry: per item, redis-cli PEXPIRE, autoexpire and updateexpire', async (t) => {
      const { prefix, members } = await fleet(t);
      const [a, b] = members.map((m) => m.ht) as [Htables, Htables];
      await a.seti('config', 'once', 1, 1);
      await eventually('b sees once', () => b.get('config', 'once') === 1);
      await eventually('once expired in both', () =>
        [a, b].every((h) => h.get('config', 'once') === undefined),
      );

      await a.seti('config', 'op', 5);
      await eventually('b sees op', () => b.get('config', 'op') === 5);
      await setup.cli('PEXPIRE', `${prefix}:{ht:config}:op`, '200');
      await eventually('op expired', () =>
        [a, b].every((h) => h.get('config', 'op') === undefined),
      );

      await a.sets('short', 'k', 'v');
      const [entry] = await b.dump('short');
      assert.ok(entry && entry.expiresInMs !== undefined && entry.expiresInMs <= 1000);
      await eventually('autoexpire', () => [a, b].every((h) => h.get('short', 'k') === undefined));

      await a.seti('sticky', 'n', 1);
      assert.equal(await a.setex('sticky', 'n', 5), true);
      await a.seti('sticky', 'n', 2); // updateexpire=false: keeps the 5 s left
      const [sticky] = await a.dump('sticky');
      assert.ok(
        sticky?.expiresInMs !== undefined && sticky.expiresInMs <= 5000,
        String(sticky?.expiresInMs),
      );
      await a.seti('config', 'p', 1, 100);
      assert.equal(await a.setex('config', 'p', 0), true); // persist
      assert.equal((await a.dump('config')).find((e) => e.key === 'p')?.expiresInMs, undefined);
      assert.equal(await a.setex('config', 'missing', 10), false);
    });

    test('counters: atomic inc/dec across processes, initval, type errors', async (t) => {
      const { prefix, members } = await fleet(t);
      const [a, b] = members.map((m) => m.ht) as [Htables, Htables];
      assert.equal(a.get('calls', 'gw1'), 0); // initval
      await Promise.all([
        ...Array.from({ length: 50 }, () => a.inc('calls', 'gw1')),
        ...Array.from({ length: 50 }, () => b.inc('calls', 'gw1')),
      ]);
      await eventually('100 in both', () => [a, b].every((h) => h.get('calls', 'gw1') === 100));
      assert.equal(await b.dec('calls', 'gw1', 10), 90);
      assert.equal(await setup.cli('HGET', `${prefix}:{ht:calls}:gw1`, 'i'), '90\n');
      await a.sets('calls', 's', 'text');
      await assert.rejects(
        a.inc('calls', 's'),
        (e: unknown) =>
          e instanceof SipfleetRedisError && e.code === 'SIPFLEET_ERR_REDIS_SCRIPT_WRONG_TYPE',
      );
      await setup.cli('SET', `${prefix}:{ht:calls}:plain`, '1'); // not a hash: ignored by readers
      await assert.rejects(
        a.inc('calls', 'plain'),
        (e: unknown) =>
          e instanceof SipfleetRedisError && e.code === 'SIPFLEET_ERR_REDIS_SCRIPT_WRONG_TYPE',
      );
      await a.reload('calls');
      assert.equal(a.get('calls', 'plain'), 0);
      assert.ok((a.stats().find((s) => s.name === 'calls')?.malformed ?? 0) >= 1);
    });

    test('reload re-applies missing initial values without overwriting; flush; list; stats', async (t) => {
      const { prefix, members } = await fleet(t);
      const [a, b] = members.map((m) => m.ht) as [Htables, Htables];
      await setup.cli('HSET', `${prefix}:{ht:config}:maint`, 'i', '1');
      await setup.cli('DEL', `${prefix}:{ht:config}:motd`);
      await eventually('motd gone', () => a.get('config', 'motd') === undefined);
      await a.reload('config');
      assert.equal(a.get('config', 'maint'), 1);
      assert.equal(a.get('config', 'motd'), 'welcome');
      await eventually('b sees re-seeded motd', () => b.get('config', 'motd') === 'welcome');

      await a.seti('config', 'x', 1);
      assert.equal(await a.flush('config'), 3);
      assert.equal(a.get('config', 'maint'), undefined);
      await eventually(
        'b flushed',
        () => b.get('config', 'maint') === undefined && b.get('config', 'x') === undefined,
      );
      assert.equal(await setup.cli('EXISTS', `${prefix}:{ht:config}:maint`), '0\n');

      assert.deepEqual(
        a.list().map((i) => [i.name, i.autoexpire, i.updateexpire, i.initval]),
        [
          ['config', 0, true, undefined],
          ['calls', 0, true, 0],
          ['short', 1, true, undefined],
          ['sticky', 30, false, undefined],
        ],
      );
      const before = b.stats().find((s) => s.name === 'config');
      b.get('config', 'nothing');
      await b.seti('config', 'y', 7);
      b.get('config', 'y');
      const stats = b.stats().find((s) => s.name === 'config');
      assert.ok(before && stats);
      assert.equal(stats.items, 1);
      assert.equal(stats.misses, before.misses + 1);
      assert.equal(stats.hits, before.hits + 1);
      assert.ok(stats.invalidations > 0);
      assert.ok(stats.resyncs >= 1);
    });
  });
}
