// Kamailio's htable matching, removal by regex or prefix, counting and the expired event, on a real
// redis-server with two "edges" (own connection + own cache each) sharing one prefix.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { RedisConnection } from '@sipfleet/redis';
import {
  type RedisServer,
  redisCli,
  startRedis,
  uniquePrefix,
} from '@sipfleet/test-helpers/redis-server';
import { HtableError, type HtableValue, Htables } from '../src/index.js';

async function eventually(what: string, check: () => boolean, deadlineMs = 10_000): Promise<void> {
  const started = performance.now();
  while (!check()) {
    if (performance.now() - started > deadlineMs) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

describe('htable matching, removal and expiry across two edges', () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis.stop());

  async function twoEdges(t: { after(fn: () => Promise<void>): void }) {
    const prefix = uniquePrefix();
    const edges: Htables[] = [];
    const conns: RedisConnection[] = [];
    t.after(async () => {
      for (const ht of edges) await ht.close();
      for (const conn of conns) await conn.close();
    });
    for (let i = 0; i < 2; i++) {
      const conn = new RedisConnection({ redis: redis.url, keyPrefix: prefix });
      conns.push(conn);
      edges.push(
        await Htables.open(conn, [{ name: 'ipban' }, { name: 'calls', autoexpire: 0 }], {
          expirySweepMs: 50,
        }),
      );
    }
    const [a, b] = edges as [Htables, Htables];
    return { prefix, a, b };
  }

  test('sht_match_name / sht_match_str_value and $shtcn / $shtcv count from the cache; integers never match a value', async (t) => {
    const { a, b } = await twoEdges(t);
    await a.sets('ipban', '10.0.0.1', 'flood');
    await a.sets('ipban', '10.0.0.2', 'auth-fail');
    await a.sets('ipban', '192.168.1.9', 'flood');
    await a.seti('ipban', '10.9.9.9', 7);
    await eventually('four items on b', () => b.countNames('ipban', 're', '.') === 4);
    assert.equal(b.matchName('ipban', 'eq', '10.0.0.2'), true);
    assert.equal(b.matchName('ipban', 'sw', '172.'), false);
    assert.equal(b.countNames('ipban', 're', '^10\\.0\\.'), 2);
    assert.equal(b.countNames('ipban', 'sw', '10.'), 3);
    assert.equal(b.countNames('ipban', 'ew', '.9'), 2);
    assert.equal(b.countNames('ipban', 'in', '168'), 1);
    assert.equal(b.countNames('ipban', 'ne', '10.0.0.1'), 3);
    assert.equal(b.countValues('ipban', 'eq', 'flood'), 2);
    assert.equal(b.countValues('ipban', 're', '^(flood|auth)'), 3);
    assert.equal(b.countValues('ipban', 'eq', '7'), 0, 'an integer item never matches a value');
    assert.equal(b.matchValue('ipban', 'sw', 'auth'), true);
    assert.equal(b.matchValue('ipban', 'eq', 'spam'), false);
    assert.throws(() => b.countNames('ipban', 're', '('), HtableError);
    assert.throws(() => b.matchName('ipban', 'xx' as 'eq', 'a'), /unknown match operator/);
  });

  test('sht_rm_name_re / sht_rm_value_re and the sw operator remove from Redis for the whole fleet', async (t) => {
    const { prefix, a, b } = await twoEdges(t);
    for (const [key, value] of [
      ['10.0.0.1', 'flood'],
      ['10.0.0.2', 'auth-fail'],
      ['192.168.1.9', 'flood'],
      ['172.16.0.1', 'scan'],
    ] as const) {
      await a.sets('ipban', key, value);
    }
    await a.seti('ipban', '8.8.8.8', 1);
    // Written by an operator: a removal must find items the removing edge never cached as such.
    await redisCli(redis.port, 'HSET', `${prefix}:{ht:ipban}:10.1.1.1`, 's', 'manual');
    await eventually('six items on a', () => a.countNames('ipban', 're', '.') === 6);

    assert.equal(await b.removeNames('ipban', 're', '^10\\.0\\.'), 2);
    assert.equal(await b.removeValues('ipban', 're', '^flo'), 1, '192.168.1.9');
    assert.equal(await a.removeNames('ipban', 'sw', '10.'), 1, '10.1.1.1');
    assert.equal(
      await a.removeValues('ipban', 'eq', '1'),
      0,
      'an integer item is not a value match',
    );
    const left = ['172.16.0.1', '8.8.8.8'];
    for (const ht of [a, b]) {
      await eventually('both caches in step', () => ht.countNames('ipban', 're', '.') === 2);
      assert.deepEqual(
        (await ht.dump('ipban')).map((e) => e.key),
        left,
      );
    }
  });

  test('htable:expired: each edge emits once per expired item, with its key and value; a delete emits nothing', async (t) => {
    const { prefix, a, b } = await twoEdges(t);
    const seen: [string, string, string, HtableValue][] = [];
    a.on('expired', (table, key, value) => seen.push(['a', table, key, value]));
    b.on('expired', (table, key, value) => seen.push(['b', table, key, value]));
    // Written without expiry first, so both caches hold every item before any can expire.
    await a.sets('ipban', 'short', 'flood');
    await a.seti('calls', 'gone', 5);
    await a.sets('ipban', 'deleted', 'x', 60);
    await redisCli(redis.port, 'HSET', `${prefix}:{ht:ipban}:cli`, 's', 'op');
    await eventually('every item on both edges', () =>
      [a, b].every(
        (ht) =>
          ht.get('calls', 'gone') === 5 &&
          ['short', 'deleted', 'cli'].every((k) => ht.get('ipban', k) !== undefined),
      ),
    );
    await b.delete('ipban', 'deleted');
    await a.setex('ipban', 'short', 2);
    await b.setex('calls', 'gone', 2);
    // An operator's PEXPIRE: both edges learn the expiry from Redis' invalidation only.
    await redisCli(redis.port, 'PEXPIRE', `${prefix}:{ht:ipban}:cli`, '2000');
    await eventually('six expired events', () => seen.length >= 6, 30_000);
    // Another sweep or invalidation must not emit again.
    await sleep(300);
    const sorted = seen.map((e) => e.join(' ')).sort();
    assert.deepEqual(sorted, [
      'a calls gone 5',
      'a ipban cli op',
      'a ipban short flood',
      'b calls gone 5',
      'b ipban cli op',
      'b ipban short flood',
    ]);
    assert.equal(a.get('ipban', 'short'), undefined);
  });
});
