// Per-call selection on the edge: round-robin is fleet-wide (one INCR), weights stay exact per
// edge without a round trip, and the per-call Redis budget is measured with INFO commandstats
// on a real redis-server (what the architecture promises: 0 / 1 / 1 round trips).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { RedisConnection } from '@sipfleet/redis';
import { Redis } from 'ioredis';
import { monitorCommands } from './monitor.js';
import {
  redisCli,
  startRedis,
  waitFor,
  uniquePrefix,
  type RedisServer,
} from '@sipfleet/test-helpers/redis-server';
import {
  ALGORITHMS,
  CALL_PATH_ROUND_TRIPS,
  callPathOf,
  DispatcherFleet,
  DispatcherView,
  DS_ALG,
  type CallInput,
} from '../src/index.js';

const LIST = [
  '1 sip:10.0.0.1 0 0 duid=a;weight=50;rweight=1',
  '1 sip:10.0.0.2 0 0 duid=b;weight=30;rweight=2',
  '1 sip:10.0.0.3 0 0 duid=c;weight=20;rweight=1',
  '',
].join('\n');

/** Calls per command since the server started (cmdstat_<name>:calls=N). */
async function commandStats(port: number): Promise<Map<string, number>> {
  const stats = new Map<string, number>();
  for (const m of (await redisCli(port, 'INFO', 'commandstats')).matchAll(
    /^cmdstat_([a-z|]+):calls=(\d+)/gm,
  )) {
    stats.set(m[1] ?? '', Number(m[2]));
  }
  return stats;
}

/** Commands run between two commandstats readings, INFO itself left out. */
function delta(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, n] of after) {
    const d = n - (before.get(name) ?? 0);
    if (d > 0 && name !== 'info') out[name] = d;
  }
  return out;
}

/**
 * The commands clients send (round trips), from MONITOR: commands a Lua script runs show up with
 * source `lua` (commandstats counts them too), so they are left out. `drain()` returns and clears
 * what was seen, after a marker ECHO from another client proves the stream caught up.
 */
async function clientCommands(t: { after(fn: () => Promise<void> | void): void }, port: number) {
  const probe = new Redis({ port, host: '127.0.0.1' });
  t.after(() => probe.disconnect());
  await probe.ping();
  const seen: string[][] = [];
  const stop = await monitorCommands(port, (args, source) => {
    if (source !== 'lua') seen.push(args);
  });
  t.after(stop);
  let marks = 0;
  return async function drain(): Promise<string[]> {
    const marker = `budget-mark-${++marks}`;
    await probe.echo(marker);
    const until = Date.now() + 10_000;
    while (!seen.some((a) => a[1] === marker) && Date.now() < until) await sleep(5);
    const out = seen.splice(0).map((a) => (a[0] ?? '').toLowerCase());
    return out.filter((c) => c !== 'echo' && c !== 'info');
  };
}

function input(i: number): CallInput {
  return {
    callId: `call-${i}@edge`,
    fromUri: `sip:user${i}@example.com`,
    toUri: `sip:dest${i}@example.com`,
    ruri: `sip:dest${i}@10.0.0.100`,
    authUser: `user${i}`,
    hashValue: `value-${i}`,
  };
}

describe('edge selection', () => {
  let server: RedisServer;
  before(async () => (server = await startRedis()));
  after(() => server.stop());

  async function twoEdges(
    t: { after(fn: () => Promise<void> | void): void },
    options: { roundRobinLease?: number; settleDelayMs?: number } = {},
  ) {
    const prefix = uniquePrefix();
    const conns: RedisConnection[] = [];
    for (let i = 0; i < 3; i++) {
      const conn = new RedisConnection({ redis: server.url, keyPrefix: prefix });
      t.after(() => conn.close());
      await conn.waitUntilReady();
      conns.push(conn);
    }
    await new DispatcherFleet(conns[0] as RedisConnection).load(LIST);
    const views: DispatcherView[] = [];
    for (const conn of conns.slice(1)) {
      const view = await DispatcherView.open(conn, { reconcileIntervalMs: 0, ...options });
      t.after(() => view.close());
      views.push(view);
    }
    // The third connection is the operator's, for reading keys.
    return [...views, conns[0]] as [DispatcherView, DispatcherView, RedisConnection];
  }

  test('round-robin (alg 4) is fleet-wide: two edges together cycle exactly', async (t) => {
    const [a, b] = await twoEdges(t);
    const order = a.snapshot.sets.get(1)?.destinations.map((d) => d.uri) ?? [];
    const picks: string[] = [];
    // Irregular interleaving: a, b, b, a, a, a, b, ...
    for (let i = 0; i < 30; i++) {
      const view = (i * 7) % 3 === 0 ? a : b;
      const s = await view.selectDestinations(1, DS_ALG.ROUND_ROBIN, {});
      picks.push(s.candidates[0]?.destination.uri ?? '');
    }
    assert.deepEqual(
      picks,
      Array.from({ length: 30 }, (_, i) => order[i % 3]),
    );
    // Alg 5 without credentials is round-robin on the same counter (Kamailio falls back to it).
    const s = await b.selectDestinations(1, DS_ALG.HASH_AUTH_USER, {});
    assert.equal(s.candidates[0]?.destination.uri, order[0]);
  });

  test('round-robin with roundRobinLease: each edge cycles its blocks, the fleet shares stay exact, one INCRBY per block', async (t) => {
    const [a, b] = await twoEdges(t, { roundRobinLease: 30 });
    const order = a.snapshot.sets.get(1)?.destinations.map((d) => d.uri) ?? [];
    await a.selectDestinations(1, DS_ALG.ROUND_ROBIN, {}); // a leases 0..29, b will lease 30..59
    const drain = await clientCommands(t, server.port);
    const counts = new Map<string, number>();
    const perEdge = new Map<DispatcherView, string[]>([
      [a, []],
      [b, []],
    ]);
    // 1 + 299 calls: 300 positions leased by the two edges (10 blocks), every one used.
    for (let i = 0; i < 299; i++) {
      const view = (i * 7) % 3 === 0 ? a : b;
      const s = await view.selectDestinations(1, DS_ALG.ROUND_ROBIN, {});
      const uri = s.candidates[0]?.destination.uri ?? '';
      counts.set(uri, (counts.get(uri) ?? 0) + 1);
      perEdge.get(view)?.push(uri);
    }
    counts.set(order[0] ?? '', (counts.get(order[0] ?? '') ?? 0) + 1); // a's first call
    const sent = await drain();
    assert.ok(
      sent.every((c) => c === 'incrby') && sent.length <= 12,
      `only INCRBY, about one per 30 calls: ${sent.join(',')}`,
    );
    // Within an edge calls cycle in order, whatever the other edge does.
    for (const picks of perEdge.values()) {
      for (let i = 1; i < picks.length; i++) {
        const step = order.indexOf(picks[i] ?? '') - order.indexOf(picks[i - 1] ?? '');
        assert.ok(step === 1 || step === -2, `in order: ${picks.slice(0, i + 1).join(' ')}`);
      }
    }
    const leased = 30 * (sent.length + 2);
    const unused = leased - 300;
    for (const uri of order) {
      const n = counts.get(uri) ?? 0;
      assert.ok(
        Math.abs(n - 100) <= unused,
        `${uri} took ${n} of 300 calls (${unused} positions leased, not yet used)`,
      );
    }
  });

  test('weights (alg 9) come out exact per edge, with no round trip', async (t) => {
    const [a, b] = await twoEdges(t);
    const counts = new Map<string, number>();
    for (let i = 0; i < 1000; i++) {
      const s = await (i % 2 ? a : b).selectDestinations(1, DS_ALG.WEIGHT, {});
      const uri = s.candidates[0]?.destination.uri ?? '';
      counts.set(uri, (counts.get(uri) ?? 0) + 1);
    }
    // 500 consecutive counter values per edge cover the 100-slot table 5 times each.
    assert.deepEqual(Object.fromEntries(counts), {
      'sip:10.0.0.1': 500,
      'sip:10.0.0.2': 300,
      'sip:10.0.0.3': 200,
    });
  });

  test('per-call Redis budget, measured with INFO commandstats', async (t) => {
    const [a, b, admin] = await twoEdges(t);
    const N = 50;
    // Load every script once (the first EVALSHA of a fresh server answers NOSCRIPT).
    await a.callLoad.reserve(1, 'warm');
    await a.callLoad.confirm(1, 'warm');
    await a.callLoad.release(1, 'warm');
    await a.selectDestinations(1, DS_ALG.ROUND_ROBIN, {});

    const drain = await clientCommands(t, server.port);
    const zero = [0, 1, 2, 3, 5, 6, 7, 8, 9, 11, 12, 13];
    // What the algorithm table promises per call is what is measured here.
    const promised = ALGORITHMS.filter(
      (e) => CALL_PATH_ROUND_TRIPS[callPathOf(e.alg, input(0))] === 0,
    ).map((e) => e.alg);
    assert.deepEqual(promised, zero);
    const figures: string[] = [];
    for (const alg of zero) {
      await drain();
      const before = await commandStats(server.port);
      for (let i = 0; i < N; i++) {
        const s = await a.selectDestinations(1, alg, input(i));
        assert.equal(s.failure, undefined, `alg ${alg}`);
      }
      const d = delta(before, await commandStats(server.port));
      assert.deepEqual(d, {}, `alg ${alg} made round trips: ${JSON.stringify(d)}`);
      assert.deepEqual(await drain(), [], `alg ${alg}`);
    }
    figures.push(`algs ${zero.join(',')}: 0 commands per call`);

    await drain();
    let before = await commandStats(server.port);
    for (let i = 0; i < N; i++) await b.selectDestinations(1, DS_ALG.ROUND_ROBIN, input(i));
    let d = delta(before, await commandStats(server.port));
    assert.deepEqual(d, { incr: N });
    assert.deepEqual(await drain(), Array(N).fill('incr'));
    figures.push(`alg 4: ${JSON.stringify(d)} for ${N} calls`);

    // Alg 10: one EVALSHA per INVITE (reserve), per 2xx (confirm) and per BYE (release), when
    // each waits for the one before.
    for (const step of ['INVITE', '2xx', 'BYE'] as const) {
      await drain();
      before = await commandStats(server.port);
      for (let i = 0; i < N; i++) {
        const callId = `load-${i}`;
        if (step === 'INVITE') {
          const s = await a.selectDestinations(1, DS_ALG.CALL_LOAD, { callId });
          assert.equal(s.candidates.length, 3);
        } else if (step === '2xx') {
          assert.equal(await b.callLoad.confirm(1, callId), true);
        } else {
          assert.equal(await b.callLoad.release(1, callId), true);
        }
      }
      d = delta(before, await commandStats(server.port));
      assert.equal(d.evalsha, N, `alg 10 ${step}: one EVALSHA per message`);
      const sent = await drain();
      assert.deepEqual(sent, Array(N).fill('evalsha'), `alg 10 ${step}: nothing else sent`);
      const inside = Object.entries(d).filter(([name]) => name !== 'evalsha');
      figures.push(
        `alg 10 ${step}: ${sent.length} round trips for ${N} calls; inside the script per call: ${inside
          .map(([name, n]) => `${name} ${n / N}`)
          .join(', ')}`,
      );
    }
    // The INVITEs, 2xx and BYEs of one event-loop turn go together: one script per set and turn.
    await drain();
    before = await commandStats(server.port);
    const selections = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        a.selectDestinations(1, DS_ALG.CALL_LOAD, { callId: `turn-${i}` }),
      ),
    );
    assert.ok(selections.every((s) => s.candidates.length === 3));
    assert.equal(delta(before, await commandStats(server.port)).evalsha, 1, 'INVITEs of one turn');
    assert.deepEqual(await drain(), ['evalsha'], 'alg 10 INVITEs of one turn: one round trip');
    figures.push(`alg 10 call path: ${N} INVITEs in one turn, 1 round trip`);
    for (const step of ['2xx', 'BYE'] as const) {
      await drain();
      before = await commandStats(server.port);
      for (let i = 0; i < N; i++) {
        if (step === '2xx') b.callLoad.confirmOrRetry(1, `turn-${i}`);
        else b.callLoad.releaseOrRetry(1, `turn-${i}`);
      }
      const applied = async () =>
        step === '2xx'
          ? ((await admin.call('HVALS', admin.keys.dsCalls('1'))) as string[]).filter((v) =>
              v.startsWith('c '),
            ).length === N
          : (await b.callLoad.loads(1)).size === 0;
      await waitFor(`gathered ${step}s applied`, applied);
      d = delta(before, await commandStats(server.port));
      assert.equal(d.evalsha, 1, `alg 10 ${step}s of one turn: one EVALSHA`);
      const sent = (await drain()).filter((c) => c !== 'hvals' && c !== 'hgetall'); // the checks'
      assert.deepEqual(sent, ['evalsha'], `alg 10 ${step}s of one turn: one round trip`);
      figures.push(`alg 10 call path: ${N} ${step}s in one turn, 1 round trip`);
    }
    for (const f of figures) console.log(`# ${f}`);
  });

  test('alg 10: a call-path release waits for the next reserve and rides with it', async (t) => {
    const [a] = await twoEdges(t, { settleDelayMs: 60_000 });
    assert.ok((await a.callLoad.reserve(1, 'first')).ok); // loads the script
    const drain = await clientCommands(t, server.port);
    a.callLoad.releaseOrRetry(1, 'first');
    // Turns pass with no reserve: the release waits (for up to settleDelayMs).
    for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
    assert.deepEqual(await drain(), []);
    assert.equal(a.callLoad.queued, 0, 'waiting to ride along, not queued for an outage');
    const next = await a.selectDestinations(1, DS_ALG.CALL_LOAD, { callId: 'next' });
    assert.equal(next.failure, undefined);
    assert.deepEqual(await drain(), ['evalsha'], 'the release and the reserve: one round trip');
    assert.deepEqual([...(await a.callLoad.loads(1)).values()], [1], 'first released, next held');
  });
});
