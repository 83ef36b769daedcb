// The fleet's shared list and state on a real Redis: load/list/add/remove, ds_mark_dst and
// dispatcher.set_state transitions published exactly once, and a second edge (its own connection)
// seeing each change. The state part also runs on a 3-master Cluster (hash tags).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { EventBus, RedisConnection } from '@sipfleet/redis';
import {
  uniquePrefix,
  REDIS_BACKENDS,
  type RedisBackend,
} from '@sipfleet/test-helpers/redis-server';
import {
  DispatcherFleet,
  DispatcherFleetError,
  DispatcherView,
  formatFlags,
  SipfleetDispatcherError,
  type DestinationStateEvent,
  type DispatcherBusEvents,
  type DispatcherEvent,
  parseDispatcherEvent,
} from '../src/index.js';

const LIST = `# two sets
1 sip:10.0.0.1:5060 0 0 duid=a;maxload=2
1 sip:10.0.0.2:5060 0 5 duid=b Main gateway
1 sip:10.0.0.3 8 0
2 sip:gw.example.com 0 0 weight=50
`;

async function eventually(what: string, check: () => boolean): Promise<number> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > 20_000) assert.fail(`timed out waiting for ${what}`);
    await sleep(2);
  }
  return Date.now() - start;
}

for (const [name, start] of REDIS_BACKENDS) {
  describe(`fleet store on ${name}`, () => {
    let backend: RedisBackend;
    before(async () => (backend = await start()));
    after(() => backend.close());

    /** One "edge": its own connection, a view and a raw listener on the bus channel. */
    async function edge(t: { after(fn: () => Promise<void> | void): void }, prefix: string) {
      const conn = new RedisConnection({ redis: backend.url, keyPrefix: prefix });
      t.after(() => conn.close());
      await conn.waitUntilReady();
      const view = await DispatcherView.open(conn, { reconcileIntervalMs: 0 });
      t.after(() => view.close());
      return { conn, view };
    }

    test('load, list, add, remove; one reload event per change; views re-read', async (t) => {
      const prefix = uniquePrefix();
      const admin = new RedisConnection({ redis: backend.url, keyPrefix: prefix });
      t.after(() => admin.close());
      await admin.waitUntilReady();
      const bus = new EventBus<DispatcherBusEvents>(admin);
      t.after(() => bus.close());
      const events: DispatcherEvent[] = [];
      await bus.subscribe('dispatcher', (e) => events.push(e), parseDispatcherEvent);
      const fleet = new DispatcherFleet(admin);
      const { view } = await edge(t, prefix);
      assert.equal(view.snapshot.sets.size, 0);
      assert.equal(view.listExists(1), false);

      const loaded = await fleet.load(LIST);
      assert.deepEqual(loaded, { version: 1, sets: 2, destinations: 4 });
      await eventually('view sees the load', () => view.listVersion === 1);
      // The test's own subscriber is another connection: its copy may come after the view's.
      await eventually('the reload event arrives', () => events.length >= 1);
      assert.deepEqual(events, [{ type: 'reload', version: 1 }]);

      const listed = await fleet.list();
      assert.deepEqual(
        listed.map((s) => [
          s.setid,
          s.destinations.map((d) => `${d.uri} ${d.flagsText} ${d.priority} ${d.attrs}`),
        ]),
        [
          [
            1,
            [
              'sip:10.0.0.2:5060 AX 5 duid=b',
              'sip:10.0.0.3 AP 0 ',
              'sip:10.0.0.1:5060 AX 0 duid=a;maxload=2',
            ],
          ],
          [2, ['sip:gw.example.com AX 0 weight=50']],
        ],
      );
      assert.equal(listed[0]?.destinations[0]?.description, 'Main gateway');
      // The view's set order is Kamailio's: priority, then reverse file order.
      assert.deepEqual(
        view.snapshot.sets.get(1)?.destinations.map((d) => d.uri),
        ['sip:10.0.0.2:5060', 'sip:10.0.0.3', 'sip:10.0.0.1:5060'],
      );
      assert.equal(view.snapshot.sets.get(2)?.weightSlots?.length, 100);
      assert.equal(view.listExists(2), true);
      assert.equal(view.isFromList('10.0.0.1', 5060)?.uri, 'sip:10.0.0.1:5060');
      assert.equal(view.isFromList('10.0.0.1', 5080), undefined, 'listed port must match');
      assert.equal(view.isFromList('10.0.0.3', 5999)?.uri, 'sip:10.0.0.3', 'no port listed: any');
      assert.equal(view.isFromList('10.0.0.3', undefined, 2), undefined, 'other set');
      assert.equal(view.isFromList('GW.example.com')?.setid, 2);

      assert.equal(await fleet.add(3, 'sip:10.0.1.1', 0, 1, 'duid=x'), 2);
      assert.equal(await fleet.add(1, 'sip:10.0.0.4', 0, 5), 3);
      await eventually('view sees the adds', () => view.listVersion === 3);
      assert.deepEqual(
        view.snapshot.sets.get(1)?.destinations.map((d) => d.uri),
        ['sip:10.0.0.4', 'sip:10.0.0.2:5060', 'sip:10.0.0.3', 'sip:10.0.0.1:5060'],
        'an added destination is appended in file order (first among its priority)',
      );
      assert.equal(view.listExists(3), true);

      assert.equal(await fleet.remove(3, 'sip:10.0.1.1'), true);
      assert.equal(await fleet.remove(3, 'sip:10.0.1.1'), false, 'second remove: nothing');
      assert.equal(await fleet.remove(1, '10.0.0.4'), true, 'scheme optional, as in the list');
      await eventually('view sees the removes', () => view.listVersion === 5);
      assert.equal(view.listExists(3), false);
      assert.equal(view.snapshot.sets.get(1)?.destinations.length, 3);
      // A view may reach version 5 by re-reading on an earlier event; wait for every event here.
      await eventually('every reload event arrives', () => events.length >= 5);
      assert.deepEqual(
        events.map((e) => (e.type === 'reload' ? e.version : e.type)),
        [1, 2, 3, 4, 5],
      );

      // Reload with one set less: the other set's keys are gone, the view follows.
      await fleet.load('2 sip:gw2.example.com 0 0\n');
      await eventually('view sees the reload', () => view.listVersion === 6);
      assert.deepEqual([...view.snapshot.sets.keys()], [2]);
      assert.equal(view.snapshot.sets.get(2)?.destinations[0]?.uri, 'sip:gw2.example.com');

      // Bad input is typed and writes nothing.
      await assert.rejects(
        fleet.load('1 sip:a 999\n'),
        (e: unknown) =>
          e instanceof SipfleetDispatcherError && e.code === 'SIPFLEET_ERR_DISPATCHER_LIST',
      );
      await assert.rejects(
        fleet.add(1, 'mailto:x@y'),
        (e: unknown) =>
          e instanceof DispatcherFleetError && e.code === 'SIPFLEET_ERR_DISPATCHER_BAD_ARGUMENT',
      );
      await assert.rejects(fleet.add(1, 'sip:a', 0, 0, 'weight=500'), DispatcherFleetError);
      await assert.rejects(fleet.add(-1, 'sip:a'), DispatcherFleetError);
      assert.equal((await fleet.read()).version, 6);
    });

    test('setState: one event per transition, seen by another edge', async (t) => {
      const prefix = uniquePrefix();
      const admin = new RedisConnection({ redis: backend.url, keyPrefix: prefix });
      t.after(() => admin.close());
      await admin.waitUntilReady();
      const fleet = new DispatcherFleet(admin, { thresholds: { probingThreshold: 2 } });
      await fleet.load(LIST);
      const a = await edge(t, prefix);
      const b = await edge(t, prefix);
      const downs: DestinationStateEvent[] = [];
      const ups: DestinationStateEvent[] = [];
      const others: DestinationStateEvent[] = [];
      b.view.on('dst-down', (e) => downs.push(e));
      b.view.on('dst-up', (e) => ups.push(e));
      b.view.on('dst-state', (e) => others.push(e));
      const flagsOn = (v: DispatcherView, uri: string) =>
        formatFlags(v.snapshot.sets.get(1)?.destinations.find((d) => d.uri === uri)?.flags ?? -1);

      // ds_mark_dst("ip") from edge A's connection: B applies it from the event, no re-read.
      const reloadsBefore = b.view.listVersion;
      const t1 = await fleet.setState(1, 'SIP:10.0.0.1:5060', 'ip');
      assert.equal(t1.wentDown, true);
      const ms = await eventually(
        'edge B sees dst-down',
        () => flagsOn(b.view, 'sip:10.0.0.1:5060') === 'IP',
      );
      console.log(`# state change seen by another edge after ${ms} ms (${name})`);
      await eventually('edge A too', () => flagsOn(a.view, 'sip:10.0.0.1:5060') === 'IP');
      assert.equal(b.view.listVersion, reloadsBefore, 'applied in place, no reload');

      // Same mark again: no transition, nothing published.
      const t2 = await fleet.setState(1, 'sip:10.0.0.1:5060', 'ip');
      assert.equal(t2.changed, false);
      // Trying with threshold 2 on the active 10.0.0.2: first mark = trying (dst-state), second = down.
      assert.equal((await fleet.setState(1, 'sip:10.0.0.2:5060', 'tp')).newFlags, 2 | 8);
      assert.equal((await fleet.setState(1, 'sip:10.0.0.2:5060', 'tp')).wentDown, true);
      // dispatcher.set_state "a" brings both back up.
      assert.equal(
        (await fleet.setState(1, 'sip:10.0.0.1:5060', 'a', { mode: 'rpc' })).wentUp,
        true,
      );
      assert.equal(
        (await fleet.setState(1, 'sip:10.0.0.2:5060', '1', { mode: 'rpc' })).wentUp,
        true,
      );
      // A prober's failed keepalive (mode 1) on 10.0.0.3: trying + probing.
      assert.equal(
        formatFlags((await fleet.probeResult(1, 'sip:10.0.0.3', false, 1)).newFlags),
        'TP',
      );
      await eventually('B got every event', () => downs.length + ups.length + others.length >= 6);
      await sleep(100); // anything extra (a duplicate) would arrive by now
      assert.deepEqual(
        downs.map((e) => e.uri),
        ['sip:10.0.0.1:5060', 'sip:10.0.0.2:5060'],
      );
      assert.deepEqual(
        ups.map((e) => e.uri),
        ['sip:10.0.0.1:5060', 'sip:10.0.0.2:5060'],
      );
      assert.deepEqual(
        others.map((e) => `${e.uri} ${formatFlags(e.newFlags)} ${e.reason}`),
        ['sip:10.0.0.2:5060 TP mark', 'sip:10.0.0.3 TP probe'],
      );
      assert.deepEqual(downs[0], {
        ...downs[0],
        setid: 1,
        oldFlags: 0,
        newFlags: 9,
        reason: 'mark',
      });
      assert.equal(flagsOn(b.view, 'sip:10.0.0.2:5060'), 'AX');
      assert.equal(flagsOn(b.view, 'sip:10.0.0.3'), 'TP');
      assert.deepEqual(
        (await fleet.list())[0]?.destinations.map((d) => d.flagsText),
        ['AX', 'TP', 'AX'],
      );

      await assert.rejects(
        fleet.setState(1, 'sip:nowhere', 'i'),
        (e: unknown) =>
          e instanceof DispatcherFleetError &&
          e.code === 'SIPFLEET_ERR_DISPATCHER_UNKNOWN_DESTINATION',
      );
      await assert.rejects(
        fleet.setState(1, 'sip:10.0.0.3', 'x'),
        (e: unknown) =>
          e instanceof SipfleetDispatcherError && e.code === 'SIPFLEET_ERR_DISPATCHER_STATE',
      );
    });

    test('concurrent marks by many writers: each transition stored and published once', async (t) => {
      const prefix = uniquePrefix();
      const writers: DispatcherFleet[] = [];
      for (let i = 0; i < 4; i++) {
        const conn = new RedisConnection({ redis: backend.url, keyPrefix: prefix });
        t.after(() => conn.close());
        await conn.waitUntilReady();
        writers.push(new DispatcherFleet(conn, { thresholds: { probingThreshold: 3 } }));
      }
      await writers[0]?.load('1 sip:10.0.0.9 0 0\n');
      const { view } = await edge(t, prefix);
      const downs: DestinationStateEvent[] = [];
      const states: DestinationStateEvent[] = [];
      view.on('dst-down', (e) => downs.push(e));
      view.on('dst-state', (e) => states.push(e));
      // 12 concurrent failure marks: trying 1, 2, then inactive at 3; then 9 more on an inactive one.
      const results = await Promise.all(
        Array.from({ length: 12 }, (_, i) => writers[i % 4]?.setState(1, 'sip:10.0.0.9', 'tp')),
      );
      assert.equal(results.filter((r) => r?.wentDown).length, 1, 'exactly one writer took it down');
      await eventually('the down event', () => downs.length === 1);
      await sleep(100);
      assert.equal(downs.length, 1);
      assert.equal(states.length, 1, 'active -> trying once (the second failure keeps TP)');
    });
  });
}
