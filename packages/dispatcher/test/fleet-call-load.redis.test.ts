// Call load (alg 10) exact across the fleet on a real Redis, standalone and 3-master Cluster:
// two "edges" (own connections and views) share every counter; INVITE, 2xx and BYE may land on
// different edges; releases happen once; maxload is never overbooked; expired slots heal.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { RedisConnection } from '@sipfleet/redis';
import {
  uniquePrefix,
  waitFor,
  REDIS_BACKENDS,
  type RedisBackend,
} from '@sipfleet/test-helpers/redis-server';
import {
  CallLoad,
  DispatcherFleet,
  DispatcherFleetError,
  DispatcherView,
  DS_ALG,
  type CallLoadOptions,
} from '../src/index.js';

type TestContext = { after(fn: () => Promise<void> | void): void };

for (const [name, start] of REDIS_BACKENDS) {
  describe(`call load on ${name}`, () => {
    let backend: RedisBackend;
    before(async () => (backend = await start()));
    after(() => backend.close());

    async function connect(t: TestContext, prefix: string): Promise<RedisConnection> {
      const conn = new RedisConnection({ redis: backend.url, keyPrefix: prefix });
      t.after(() => conn.close());
      await conn.waitUntilReady();
      return conn;
    }

    /** Loads `list` and opens two edges on their own connections. */
    async function fleetOf(t: TestContext, list: string, options: CallLoadOptions = {}) {
      const prefix = uniquePrefix();
      const admin = await connect(t, prefix);
      await new DispatcherFleet(admin).load(list);
      const views: DispatcherView[] = [];
      for (let i = 0; i < 2; i++) {
        const view = await DispatcherView.open(await connect(t, prefix), {
          ...options,
          reconcileIntervalMs: 0,
        });
        t.after(() => view.close());
        views.push(view);
      }
      const [a, b] = views as [DispatcherView, DispatcherView];
      return { admin, a, b, callLoad: new CallLoad(admin, options) };
    }

    test('200 INVITEs over two edges spread evenly over 3 destinations', async (t) => {
      const { a, b, callLoad } = await fleetOf(
        t,
        '1 sip:10.0.0.1 0 0 duid=a\n1 sip:10.0.0.2 0 0 duid=b\n1 sip:10.0.0.3 0 0\n',
      );
      const selections = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          (i % 2 ? a : b).selectDestinations(1, DS_ALG.CALL_LOAD, { callId: `call-${i}` }),
        ),
      );
      const chosen = new Map<string, number>();
      for (const s of selections) {
        assert.equal(s.failure, undefined);
        assert.equal(s.candidates.length, 3, 'reserved one first, then the failover order');
        const uri = s.candidates[0]?.destination.uri ?? '';
        chosen.set(uri, (chosen.get(uri) ?? 0) + 1);
      }
      const loads = await callLoad.loads(1);
      // The destination without duid is counted under its URI.
      assert.deepEqual([...loads.keys()].sort(), ['a', 'b', 'sip:10.0.0.3']);
      const counts = [...loads.values()];
      assert.equal(
        counts.reduce((x, y) => x + y, 0),
        200,
      );
      assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `uneven: ${[...loads]}`);
      assert.deepEqual([...chosen.values()].sort(), [...counts].sort());
      console.log(`# loads after 200 reserves (${name}): ${JSON.stringify([...loads])}`);
    });

    test('INVITE on one edge, 2xx and BYE on the other; duplicates release nothing', async (t) => {
      const { a, b, callLoad } = await fleetOf(t, '1 sip:10.0.0.1 0 0 duid=a\n');
      const s = await a.selectDestinations(1, DS_ALG.CALL_LOAD, { callId: 'c1' });
      assert.equal(s.candidates[0]?.destination.uri, 'sip:10.0.0.1');
      // A retransmitted INVITE reaching edge B gets the same slot back, nothing added.
      const again = await b.callLoad.reserve(1, 'c1');
      assert.deepEqual(again.ok && [again.uri, again.existing], ['sip:10.0.0.1', true]);
      assert.deepEqual([...(await callLoad.loads(1))], [['a', 1]]);
      assert.equal(await b.callLoad.confirm(1, 'c1'), true, '200 OK on edge B');
      assert.equal(await b.callLoad.confirm(1, 'c1'), true, 'retransmitted 200 refreshes');
      assert.equal(await b.callLoad.release(1, 'c1'), true, 'BYE on edge B');
      assert.equal(await a.callLoad.release(1, 'c1'), false, 'BYE from the other side on A');
      assert.equal(await b.callLoad.release(1, 'c1'), false, 'retransmitted BYE');
      assert.equal(await a.callLoad.confirm(1, 'c1'), false, 'a late 2xx never resurrects it');
      assert.deepEqual([...(await callLoad.loads(1))], []);
      // CANCEL racing a 487: one of the two releases wins.
      await a.callLoad.reserve(1, 'c2');
      const both = await Promise.all([a.callLoad.release(1, 'c2'), b.callLoad.release(1, 'c2')]);
      assert.deepEqual(both.sort(), [false, true]);
      assert.deepEqual([...(await callLoad.loads(1))], []);
      await assert.rejects(a.callLoad.release(1, ''), DispatcherFleetError);
    });

    test('call-path confirms and releases: gathered per turn, in order, before a reserve of the call', async (t) => {
      const errors: Error[] = [];
      const { a, callLoad } = await fleetOf(t, '1 sip:10.0.0.1 0 0 duid=a\n', {
        onError: (err) => errors.push(err),
        settleDelayMs: 60_000, // releases go with a reserve or at close, never by the timer
      });
      for (const id of ['g1', 'g2', 'g3']) assert.ok((await a.callLoad.reserve(1, id)).ok);
      // One turn: 2xx and BYE of g1, a bad op (it alone is refused), the 503 of g2's first
      // attempt and at once its failover reserve with `replace`.
      a.callLoad.confirmOrRetry(1, 'g1');
      a.callLoad.releaseOrRetry(1, 'g1');
      a.callLoad.releaseOrRetry(1, '');
      a.callLoad.releaseOrRetry(1, 'g2');
      const failover = a.callLoad.reserve(1, 'g2', { replace: true });
      const moved = await failover;
      // Sent after the release: a new slot, not g2's old one handed back and then freed.
      assert.deepEqual(moved.ok && moved.existing, false);
      await waitFor(
        'the gathered ops applied',
        async () => (await callLoad.loads(1)).get('a') === 2,
      );
      assert.deepEqual(Object.fromEntries(await callLoad.loads(1)), { a: 2 }, 'g2 (new) and g3');
      assert.deepEqual(
        errors.map((e) => (e as DispatcherFleetError).code),
        ['SIPFLEET_ERR_DISPATCHER_BAD_ARGUMENT'],
      );
      // Closing the view sends what was gathered (a release waits up to settleDelayMs otherwise).
      a.callLoad.releaseOrRetry(1, 'g3');
      await a.close();
      await waitFor(
        'the release sent on close',
        async () => (await callLoad.loads(1)).get('a') === 1,
      );
    });

    test('maxload is never overbooked, even by concurrent edges', async (t) => {
      const { a, b, callLoad } = await fleetOf(
        t,
        '7 sip:10.0.0.1 0 0 duid=a;maxload=3\n7 sip:10.0.0.2 0 0 duid=b;maxload=2\n7 sip:10.0.0.3 1 0 duid=c\n',
      );
      const results = await Promise.all(
        Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).callLoad.reserve(7, `m${i}`)),
      );
      assert.equal(results.filter((r) => r.ok).length, 5, 'exactly 3 + 2 slots; c is inactive');
      assert.ok(results.every((r) => r.ok || r.reason === 'all-at-maxload'));
      assert.deepEqual(Object.fromEntries(await callLoad.loads(7)), { a: 3, b: 2 });
      const refused = await a.selectDestinations(7, DS_ALG.CALL_LOAD, { callId: 'late' });
      assert.equal(refused.failure?.reason, 'all-at-maxload');
      const freed = results.findIndex((r) => r.ok && r.loadKey === 'b');
      assert.equal(await b.callLoad.release(7, `m${freed}`), true);
      const next = await a.selectDestinations(7, DS_ALG.CALL_LOAD, { callId: 'late' });
      assert.equal(next.candidates[0]?.destination.uri, 'sip:10.0.0.2');
      // Failover (ds_next_dst with alg 10): move the slot, leaving the failed one out.
      const moved = await a.callLoad.reserve(7, 'late', {
        replace: true,
        exclude: ['sip:10.0.0.2'],
      });
      assert.equal(moved.ok, false, 'a is full and b excluded: refused, the old slot is gone');
      assert.deepEqual(Object.fromEntries(await callLoad.loads(7)), { a: 3, b: 1 });
      assert.deepEqual(await a.callLoad.reserve(99, 'x'), { ok: false, reason: 'unknown-set' });
    });

    test('expired slots: reserve drops some, reconcile heals all, concurrently', async (t) => {
      const short = { initExpireSeconds: 0.2, expireSeconds: 30, purgePerReserve: 1 };
      const { admin, a, b, callLoad } = await fleetOf(
        t,
        '1 sip:10.0.0.1 0 0 duid=a\n1 sip:10.0.0.2 0 0 duid=b\n',
        short,
      );
      for (let i = 0; i < 6; i++) await a.callLoad.reserve(1, `e${i}`);
      assert.equal(await b.callLoad.confirm(1, 'e0'), true, 'confirmed: lives 30 s');
      await sleep(300); // e1..e5 expired (server time), nobody sent BYE
      // A hand-broken counter, as after a crash between writes or an operator's edit.
      await admin.call('HSET', admin.keys.dsLoad('1'), 'a', 42, 'ghost', 5);
      const after = await b.callLoad.reserve(1, 'fresh'); // drops one expired slot first
      assert.equal(after.ok, true);
      const results = await Promise.all([
        a.callLoad.reconcile(1),
        b.callLoad.reconcile(1),
        callLoad.reconcile(1),
      ]);
      assert.equal(
        results.reduce((n, r) => n + r.purged, 0),
        4,
        'each expired slot purged once',
      );
      assert.deepEqual(
        results.map((r) => r.live),
        [2, 2, 2],
      );
      const loads = Object.fromEntries(await callLoad.loads(1));
      assert.equal(
        Object.values(loads).reduce((x, y) => x + y, 0),
        2,
      );
      assert.equal(loads.ghost, undefined);
      assert.equal(await a.callLoad.release(1, 'e3'), false, 'an expired call is already gone');
      assert.equal(await a.callLoad.release(1, 'e0'), true);
      assert.equal(await a.callLoad.release(1, 'fresh'), true);
      assert.deepEqual(Object.fromEntries(await callLoad.loads(1)), {});
      assert.throws(() => new CallLoad(admin, { initExpireSeconds: 0 }), DispatcherFleetError);
    });

    /** Three slots of set 1 whose expiry has passed (scored at 0), without waiting for it. */
    async function expiredSlots(admin: RedisConnection, callLoad: CallLoad): Promise<void> {
      for (let i = 0; i < 3; i++) await callLoad.reserve(1, `old${i}`);
      for (let i = 0; i < 3; i++) await admin.call('ZADD', admin.keys.dsExpiry('1'), 0, `old${i}`);
    }

    const total = (loads: ReadonlyMap<string, number>): number =>
      [...loads.values()].reduce((x, y) => x + y, 0);

    test('one script of reserves: each purges up to the limit, each reply has the loads after it', async (t) => {
      const { admin, a, callLoad } = await fleetOf(
        t,
        '1 sip:10.0.0.1 0 0 duid=a\n1 sip:10.0.0.2 0 0 duid=b\n',
        { purgePerReserve: 1 },
      );
      await expiredSlots(admin, callLoad);
      // submitted in one turn: one script, four reserves, one expired slot dropped before each
      // of the first three
      const results = await Promise.all([0, 1, 2, 3].map((i) => a.callLoad.reserve(1, `new${i}`)));
      assert.deepEqual(
        results.map((r) => (r.ok ? total(r.loads) : -1)),
        [3, 3, 3, 4],
      );
      const last = results[3];
      assert.ok(last?.ok);
      assert.deepEqual(last.loads, await callLoad.loads(1));
      assert.equal(await a.callLoad.release(1, 'old0'), false, 'purged');
      assert.equal((await callLoad.reconcile(1)).purged, 0, 'nothing left to purge');
    });

    test('purgePerReserve 0: reserves leave expired slots to reconcile', async (t) => {
      const { admin, a, callLoad } = await fleetOf(
        t,
        '1 sip:10.0.0.1 0 0 duid=a\n1 sip:10.0.0.2 0 0 duid=b\n',
        { purgePerReserve: 0 },
      );
      await expiredSlots(admin, callLoad);
      const fresh = await a.callLoad.reserve(1, 'fresh');
      assert.ok(fresh.ok);
      assert.equal(total(fresh.loads), 4);
      assert.deepEqual(await callLoad.reconcile(1), { purged: 3, live: 1, corrected: 0 });
    });

    test('picked on the edge: no round trip before routing, its own picks counted, slots exact', async (t) => {
      const { a, b, callLoad } = await fleetOf(
        t,
        '1 sip:10.0.0.1 0 0 duid=a\n1 sip:10.0.0.2 0 0 duid=b\n1 sip:10.0.0.3 0 0\n',
        // assigns go with a reserve or at close, never by the timer: what Redis holds shows
        // which selections waited for it
        { localPickHeadroom: 0, settleDelayMs: 60_000 },
      );
      const pick = async (view: DispatcherView, callId: string) => {
        const s = await view.selectDestinations(1, DS_ALG.CALL_LOAD, { callId });
        assert.equal(s.failure, undefined);
        assert.equal(s.candidates.length, 3, 'picked one first, then the failover order');
        return s.candidates[0]?.destination.uri;
      };
      // No loads seen yet: the atomic reserve, which returns them. Ties go to the earlier
      // destination in set order, the list's last line first (as Kamailio reads it).
      assert.equal(await pick(a, 'c0'), 'sip:10.0.0.3');
      const before = { 'sip:10.0.0.3': 1 };
      assert.deepEqual(Object.fromEntries(await callLoad.loads(1)), before);
      // Then the edge picks from what it saw plus its own picks: nothing reaches Redis yet.
      const picked = [];
      for (const id of ['c1', 'c2', 'c3', 'c4', 'c5']) picked.push(await pick(a, id));
      assert.deepEqual(picked, [
        'sip:10.0.0.2',
        'sip:10.0.0.1',
        'sip:10.0.0.3',
        'sip:10.0.0.2',
        'sip:10.0.0.1',
      ]);
      assert.deepEqual(Object.fromEntries(await callLoad.loads(1)), before);
      // Edge B has seen nothing: its INVITE waits for the reserve, which finds A's one slot.
      assert.equal(await pick(b, 'd0'), 'sip:10.0.0.2');
      // A's picks reach Redis with its next batch; a BYE on B releases one of them.
      a.callLoad.confirmOrRetry(1, 'c1');
      await a.close();
      await waitFor("a's picks recorded", async () => (await callLoad.loads(1)).size === 3);
      assert.deepEqual(Object.fromEntries(await callLoad.loads(1)), {
        a: 2,
        b: 3,
        'sip:10.0.0.3': 2,
      });
      assert.equal(await b.callLoad.release(1, 'c1'), true);
      assert.equal(await b.callLoad.release(1, 'c1'), false, 'released once');
      assert.deepEqual(await callLoad.reconcile(1), { purged: 0, live: 6, corrected: 0 });
    });

    test('picked on the edge: within the headroom of maxload the atomic reserve decides', async (t) => {
      const { a, b, callLoad } = await fleetOf(
        t,
        '7 sip:10.0.0.2 0 0 duid=b;maxload=3\n7 sip:10.0.0.1 0 0 duid=a;maxload=3\n',
        { localPickHeadroom: 1, settleDelayMs: 60_000 },
      );
      const held = async () => Object.fromEntries(await callLoad.loads(7));
      const pick = async (callId: string) => {
        const s = await a.selectDestinations(7, DS_ALG.CALL_LOAD, { callId });
        return s.failure?.reason ?? s.candidates[0]?.destination.uri;
      };
      assert.equal(await pick('m0'), 'sip:10.0.0.1', 'nothing seen: reserved');
      // a 1, b 0 -> b; a 1, b 1 -> a; a 2, b 1 -> b: each leaves 1 under maxload, picked here.
      for (const [id, uri] of [
        ['m1', 'sip:10.0.0.2'],
        ['m2', 'sip:10.0.0.1'],
        ['m3', 'sip:10.0.0.2'],
      ]) {
        assert.equal(await pick(id ?? ''), uri);
        assert.deepEqual(await held(), { a: 1 }, `${id} not in Redis yet`);
      }
      // a 2, b 2: a pick would leave none, so the reserve goes, after the three assigns.
      assert.equal(await pick('m4'), 'sip:10.0.0.1');
      assert.deepEqual(await held(), { a: 3, b: 2 });
      // Another edge takes b's last slot; this edge's view (b 2) does not know: still reserved.
      assert.ok((await b.callLoad.reserve(7, 'other')).ok);
      assert.equal(await pick('m5'), 'all-at-maxload', 'never overbooked');
      assert.deepEqual(await held(), { a: 3, b: 3 });
    });
  });
}
