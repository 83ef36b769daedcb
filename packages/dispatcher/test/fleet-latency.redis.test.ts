// The edge's view of the prober's latency statistics on a real redis-server: read with the
// snapshot and refreshed on a timer, used by algorithms 13 and 11 (cc=1) from memory, with no
// round trip on the call path; a refresh that fails keeps the last statistics.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { RedisConnection } from '@sipfleet/redis';
import { Redis } from 'ioredis';
import { startRedis, uniquePrefix, type RedisServer } from '@sipfleet/test-helpers/redis-server';
import { monitorCommands } from './monitor.js';
import { DispatcherFleet, DispatcherView, DS_ALG } from '../src/index.js';

// Equal priorities: alg 13 rotates among the ones latency does not push down.
const LIST = [
  '1 sip:10.0.0.1:5060 0 10 weight=50;cc=1',
  '1 sip:10.0.0.2:5060 0 10 weight=50;cc=1',
  '1 sip:10.0.0.3:5060 0 10 weight=50;cc=1',
  '',
].join('\n');
const [A, B, C] = ['sip:10.0.0.1:5060', 'sip:10.0.0.2:5060', 'sip:10.0.0.3:5060'] as const;

async function waitFor(what: string, check: () => boolean, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/**
 * "<est> <avg> <n> <std> <max> <timeouts> <m2>", as the prober writes it. The destinations have
 * cc=1, so what counts is estimate - average (the congestion).
 */
const stats = (estimate: number, average = 0) => `${estimate} ${average} 100 1 ${estimate} 0 99`;

describe('edge latency statistics', () => {
  let server: RedisServer;
  before(async () => (server = await startRedis()));
  after(() => server.stop());

  async function rig(t: { after(fn: () => Promise<void> | void): void }, latencyRefreshMs: number) {
    const conn = new RedisConnection({ redis: server.url, keyPrefix: uniquePrefix() });
    t.after(() => conn.close());
    await conn.waitUntilReady();
    await new DispatcherFleet(conn).load(LIST);
    const write = async (values: Record<string, string>) => {
      for (const [uri, value] of Object.entries(values))
        await conn.call('HSET', conn.keys.dsLatency('1'), uri, value);
    };
    return { conn, write, open: () => openView(t, conn, latencyRefreshMs) };
  }

  async function openView(
    t: { after(fn: () => Promise<void> | void): void },
    conn: RedisConnection,
    latencyRefreshMs: number,
  ) {
    const errors: Error[] = [];
    const view = await DispatcherView.open(conn, {
      reconcileIntervalMs: 0,
      latencyRefreshMs,
      onError: (e) => errors.push(e),
    });
    t.after(() => view.close());
    return { view, errors };
  }

  /** The first candidate of `n` alg 13 (or `alg`) selections, as a count per URI. */
  async function firsts(view: DispatcherView, n: number, alg: number = DS_ALG.LATENCY) {
    const out = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const uri = (await view.selectDestinations(1, alg, {})).candidates[0]?.destination.uri ?? '';
      out.set(uri, (out.get(uri) ?? 0) + 1);
    }
    return out;
  }

  test('alg 13 ranks by the prober statistics read with the snapshot, and follows them as they change', async (t) => {
    const { write, open } = await rig(t, 100);
    // A is slow: 200 ms at priority 10 costs it 20 points (floored at 1).
    await write({ [A]: stats(200), [B]: stats(1), [C]: stats(1) });
    const { view } = await open();
    await waitFor('latency read', () => view.latency(1).size === 3);
    assert.equal(view.latency(1).get(A)?.estimate, 200);
    assert.equal(view.latency(1).get(A)?.max, 200);
    // Kamailio's rotation runs over all three and the sort is stable, so B (after A in set
    // order) is first two times in three: what matters is that A never is.
    let picks = await firsts(view, 30);
    assert.equal(picks.get(A), undefined, 'the slow one is never first');
    assert.equal((picks.get(B) ?? 0) + (picks.get(C) ?? 0), 30);
    // The candidate list still holds A, last (failover), as Kamailio's ordering does.
    const all = await view.selectDestinations(1, DS_ALG.LATENCY, {});
    assert.equal(all.candidates.at(-1)?.destination.uri, A);

    // Now B turns slow and A recovers: the periodic refresh brings it without a reload.
    await write({ [A]: stats(1), [B]: stats(300) });
    await waitFor('refresh', () => view.latency(1).get(B)?.estimate === 300);
    picks = await firsts(view, 30);
    assert.equal(picks.get(B), undefined);
    assert.equal((picks.get(A) ?? 0) + (picks.get(C) ?? 0), 30);
  });

  test('alg 11 with cc=1 takes the congestion from the same statistics', async (t) => {
    const { write, open } = await rig(t, 100);
    // A is 50 ms above its average: weight 50 - 50 = 0, so it gets no share.
    await write({ [A]: stats(80, 30), [B]: stats(5), [C]: stats(5) });
    const { view } = await open();
    await waitFor('latency read', () => view.latency(1).size === 3);
    const picks = await firsts(view, 100, DS_ALG.RELATIVE_WEIGHT);
    assert.equal(picks.get(A), undefined);
    assert.equal((picks.get(B) ?? 0) + (picks.get(C) ?? 0), 100);
    assert.equal(picks.get(B), 50);
  });

  test('selection reads the statistics from memory: no command reaches Redis per call', async (t) => {
    const { write, open } = await rig(t, 60_000);
    await write({ [A]: stats(200), [B]: stats(1), [C]: stats(1) });
    const { view } = await open();
    await waitFor('latency read with the snapshot', () => view.latency(1).size === 3);
    const seen: string[] = [];
    const stop = await monitorCommands(server.port, (args) => seen.push(String(args[0])));
    t.after(stop);
    const picks = await firsts(view, 20);
    assert.equal(picks.get(A), undefined);
    // A marker from another client proves the MONITOR stream caught up.
    const probe = new Redis({ port: server.port, host: '127.0.0.1' });
    t.after(() => probe.disconnect());
    await probe.echo('latency-mark');
    await waitFor('monitor caught up', () => seen.includes('echo'));
    assert.deepEqual(
      // INFO is the connection's own health check, not the call path.
      seen.filter((c) => c !== 'echo' && c !== 'info'),
      [],
    );
  });

  test('a refresh that cannot reach Redis keeps the last statistics and says so', async (t) => {
    const own = await startRedis();
    t.after(() => own.stop());
    const conn = new RedisConnection({ redis: own.url, keyPrefix: uniquePrefix() });
    t.after(() => conn.close());
    await conn.waitUntilReady();
    await new DispatcherFleet(conn).load(LIST);
    await conn.call('HSET', conn.keys.dsLatency('1'), A, stats(200));
    const { view, errors } = await openView(t, conn, 60_000);
    await waitFor('latency read', () => view.latency(1).size === 1);
    await own.stop();
    await view.refreshLatency();
    assert.ok(errors.length > 0, 'the failure is reported');
    assert.equal(view.latency(1).get(A)?.estimate, 200, 'the last statistics stay');
    const picks = await firsts(view, 10);
    assert.equal(picks.get(A), undefined, 'and keep steering calls');
  });
});
