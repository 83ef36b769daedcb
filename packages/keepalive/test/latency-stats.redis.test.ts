// The prober's latency statistics (probe-record script) on a real redis-server, against numbers
// worked out by hand from Kamailio's latency_stats_update: the estimate's alpha weighs the NEW
// round trip, STD / MAX / timeouts are kept, and readLatency gives what `dispatcher.list` shows.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RedisConnection } from '@sipfleet/redis';
import { startRedis, uniquePrefix, type RedisServer } from '@sipfleet/test-helpers/redis-server';
import { keepaliveScripts, readLatency } from '../src/index.js';

describe('latency statistics', () => {
  let redis: RedisServer;
  before(async () => (redis = await startRedis()));
  after(() => redis.stop());

  async function rig(t: { after(fn: () => Promise<void>): void }) {
    const conn = new RedisConnection({ redis: redis.url, keyPrefix: uniquePrefix() });
    t.after(() => conn.close());
    await conn.waitUntilReady();
    const uris = ['sip:10.0.0.1:5060', 'sip:10.0.0.2:5060'];
    for (const uri of uris) await conn.call('HSET', conn.keys.dsState('1'), uri, '8 0');
    /** One prober batch: [uri, sample] pairs, sample = RTT ms, 't' timeout, '' other failure. */
    const record = (alpha: number, ...pairs: [string, string][]) =>
      keepaliveScripts(conn).run(
        'probe-record',
        [conn.keys.dsLatency('1'), conn.keys.dsState('1')],
        [alpha, ...pairs.flat()],
      );
    const raw = async (uri: string) => conn.call('HGET', conn.keys.dsLatency('1'), uri);
    return { conn, uris, record, raw };
  }

  test('first samples: the estimate is the average; Welford STD; MAX', async (t) => {
    const { conn, uris, record } = await rig(t);
    const [a] = uris as [string];
    await record(250, [a, '20']);
    await record(250, [a, '40']);
    const stats = (await readLatency(conn, 1)).get(a);
    // n = 2: average 30, m2 = 20 * (40 - 30) = 200, std = sqrt(200 / 1).
    assert.deepEqual(stats, {
      estimate: 30,
      average: 30,
      samples: 2,
      std: 14.142,
      max: 40,
      timeouts: 0,
    });
  });

  test('after 10 samples the EWMA weighs the new sample by alpha (Kamailio ds_latency_estimator_alpha)', async (t) => {
    const { conn, uris, record, raw } = await rig(t);
    const [a] = uris as [string];
    for (let i = 0; i < 10; i++) await record(250, [a, '10']);
    assert.equal(await raw(a), '10.000 10.000 10 0.000 10.000 0 0.000000');
    await record(250, [a, '110']);
    // Sample 11: a stable destination (std < 0.5) is trained to 10000 samples; then
    // average 10 + 100 / 10000, m2 = 100 * (110 - 10.01), std = sqrt(m2 / 9999) = 1, and
    // estimate = 0.25 * 110 + 0.75 * 10 = 35 (alpha on the old estimate would give 85).
    assert.deepEqual((await readLatency(conn, 1)).get(a), {
      estimate: 35,
      average: 10.01,
      samples: 10000,
      std: 1,
      max: 110,
      timeouts: 0,
    });
  });

  test('a timeout counts in TIMEOUT, another failure changes nothing, a removed URI is skipped', async (t) => {
    const { conn, uris, record, raw } = await rig(t);
    const [a, b] = uris as [string, string];
    await record(100, [a, '15'], [b, 't']);
    await record(100, [a, 't'], [b, '']);
    const latency = await readLatency(conn, 1);
    assert.deepEqual(latency.get(a), {
      estimate: 15,
      average: 15,
      samples: 1,
      std: 0,
      max: 15,
      timeouts: 1,
    });
    // Only timeouts so far: no round trip measured yet, the estimate stays 0 (alg 13: 0 ms).
    assert.equal((latency.get(b) ?? { timeouts: -1 }).timeouts, 1);
    assert.equal(latency.get(b)?.samples, 0);
    // A destination without state (removed from the list) gets no statistics.
    const gone = 'sip:10.0.0.9:5060';
    const reply = await record(100, [gone, '5']);
    assert.deepEqual(reply, [0, '']);
    assert.equal(await raw(gone), null);
  });

  test('a value written by an earlier release (three fields) starts afresh', async (t) => {
    const { conn, uris, record } = await rig(t);
    const [a] = uris as [string];
    await conn.call('HSET', conn.keys.dsLatency('1'), a, '12.5 10.25 40');
    // Read as it is until the prober writes again...
    assert.deepEqual((await readLatency(conn, 1)).get(a), {
      estimate: 12.5,
      average: 10.25,
      samples: 40,
      std: 0,
      max: 0,
      timeouts: 0,
    });
    await record(100, [a, '30']);
    assert.equal((await readLatency(conn, 1)).get(a)?.samples, 1);
    assert.equal((await readLatency(conn, 1)).get(a)?.average, 30);
  });
});
