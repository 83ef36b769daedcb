// The prober against real parts: a real redis-server, the fleet's dispatcher store and view, and
// real UDP responders answering OPTIONS. Intervals are 1 s; waits have deadlines (liveness), and
// assertions are about what happened, never about how fast.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DISPATCHER_CHANNEL,
  DispatcherFleet,
  DispatcherView,
  formatFlags,
  parseDispatcherEvent,
  type DestinationStateEvent,
  type DispatcherBusEvents,
} from '@sipfleet/dispatcher';
import { EventBus, RedisConnection } from '@sipfleet/redis';
import { freePort } from '@sipfleet/test-helpers/ports';
import { startRedis, uniquePrefix, type RedisServer } from '@sipfleet/test-helpers/redis-server';
import { type Responder, UdpResponders } from '@sipfleet/test-helpers/udp-responders';
import {
  KeepaliveMonitor,
  KeepaliveStore,
  Pinger,
  Prober,
  readLatency,
  registrationSeen,
  setPingActive,
  type PingerOptions,
  type ProberOptions,
} from '../src/index.js';

const INTERVAL = 1000;

async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms = 20_000) {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('prober', () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis.stop();
  });

  interface Rig {
    conn: RedisConnection;
    fleet: DispatcherFleet;
    responders: UdpResponders;
    flags(setid: number, uri: string): Promise<string>;
    prober(extra?: Partial<ProberOptions>, pinger?: PingerOptions): Promise<Prober>;
  }

  async function rig(
    t: { after(fn: () => unknown): void },
    count: number,
    list: (uris: string[]) => string,
    thresholds = { probingThreshold: 2, inactiveThreshold: 1 },
  ): Promise<Rig> {
    const conn = new RedisConnection({ redis: redis.url, keyPrefix: uniquePrefix() });
    await conn.waitUntilReady();
    const responders = await UdpResponders.start(count);
    const fleet = new DispatcherFleet(conn, { thresholds });
    await fleet.load(list(responders.responders.map((r) => r.uri)));
    const probers: Prober[] = [];
    const pingers: Pinger[] = [];
    t.after(async () => {
      for (const p of probers) await p.close();
      for (const p of pingers) await p.close();
      await responders.close();
      await conn.close();
    });
    return {
      conn,
      fleet,
      responders,
      async flags(setid, uri) {
        const sets = await fleet.list();
        const d = sets.find((s) => s.setid === setid)?.destinations.find((x) => x.uri === uri);
        return d?.flagsText ?? 'missing';
      },
      async prober(extra = {}, pingerOptions = {}) {
        const pinger = await Pinger.start({
          address: '127.0.0.1',
          timeoutMs: 500,
          tcp: false,
          ...pingerOptions,
        });
        pingers.push(pinger);
        const prober = await Prober.start({
          conn,
          fleet,
          pinger,
          settings: {
            pingIntervalMs: INTERVAL,
            timeoutMs: 500,
            probingMode: 1,
            ...thresholds,
            replyCodes: 'class=2;code=480',
            shardSize: 2,
          },
          ...extra,
        });
        probers.push(prober);
        return prober;
      },
    };
  }

  test('silent and 503 go inactive+probing after the threshold, 480 stays up under class=2;code=480, recovery back to AP; each transition published once', async (t) => {
    const r = await rig(t, 4, (u) => u.map((uri) => `1 ${uri} 0 0`).join('\n'));
    const [ok, busy, unavailable, silent] = r.responders.responders.map((x) => x.uri);
    r.responders.setMode(1, 480);
    r.responders.setMode(2, 503);
    r.responders.setMode(3, 'silent');
    const events: DestinationStateEvent[] = [];
    const bus = new EventBus<DispatcherBusEvents>(r.conn);
    t.after(() => bus.close());
    await bus.subscribe(
      DISPATCHER_CHANNEL,
      (e) => {
        if (e.type !== 'reload') events.push(e);
      },
      parseDispatcherEvent,
    );
    const view = await DispatcherView.open(r.conn, { reconcileIntervalMs: 0 });
    t.after(() => view.close());

    await r.prober();
    await waitFor(
      '503 and silent destinations inactive',
      async () => (await r.flags(1, unavailable!)) === 'IP' && (await r.flags(1, silent!)) === 'IP',
    );
    // What edges hold sees it too.
    await waitFor('the view to see IP', () => {
      const set = view.snapshot.sets.get(1);
      const f = (uri: string) =>
        formatFlags(set?.destinations.find((d) => d.uri === uri)?.flags ?? -1);
      return f(unavailable!) === 'IP' && f(silent!) === 'IP';
    });
    // Two more rounds: nothing flaps, nothing is published twice.
    await sleep(2 * INTERVAL);
    assert.equal(await r.flags(1, ok!), 'AP');
    assert.equal(await r.flags(1, busy!), 'AP', '480 is accepted by class=2;code=480');
    const down = (uri: string) =>
      events.filter((e) => e.type === 'dst-down' && e.uri === uri).length;
    assert.equal(down(unavailable!), 1);
    assert.equal(down(silent!), 1);
    assert.equal(down(ok!), 0);
    assert.equal(down(busy!), 0);
    // threshold 2: active -> trying (dst-state) -> inactive (dst-down)
    assert.ok(
      events.some(
        (e) => e.type === 'dst-state' && e.uri === silent && formatFlags(e.newFlags) === 'TP',
      ),
    );

    r.responders.setMode(3, 200);
    await waitFor('silent destination back up', async () => (await r.flags(1, silent!)) === 'AP');
    await waitFor(
      'view back to AP',
      () =>
        formatFlags(
          view.snapshot.sets.get(1)?.destinations.find((d) => d.uri === silent)?.flags ?? -1,
        ) === 'AP',
    );
    assert.equal(events.filter((e) => e.type === 'dst-up' && e.uri === silent).length, 1);

    const latency = await readLatency(r.conn, 1);
    const est = latency.get(ok!);
    assert.ok(est && est.samples >= 2 && est.estimate >= 0, 'RTT estimate recorded for alg 13');
    assert.equal(
      latency.has(silent!) && latency.get(silent!)!.samples > 0,
      true,
      'recovered one has samples',
    );
    // What dispatcher.list shows under LATENCY: the silent rounds counted as timeouts.
    assert.ok(latency.get(silent!)!.timeouts >= 2, 'silent pings counted as timeouts');
    assert.equal(est.timeouts, 0);
    assert.ok(est.max >= est.average && est.std >= 0, 'MAX and STD recorded');
  });

  test('two probers share the work: one ping per destination per interval, both probers busy', async (t) => {
    const r = await rig(t, 6, (u) => u.map((uri) => `1 ${uri} 0 0`).join('\n'));
    const jobs = { a: 0, b: 0 };
    await r.prober({ observer: { onScheduleLag: () => jobs.a++ } });
    await r.prober({ observer: { onScheduleLag: () => jobs.b++ } });
    await sleep(6 * INTERVAL);
    assert.ok(jobs.a > 0 && jobs.b > 0, `both probers ran jobs: ${jobs.a}, ${jobs.b}`);
    for (const resp of r.responders.responders) {
      const pings = resp.pings.slice(1); // the first may come from a start-up upsert
      assert.ok(pings.length >= 3, `${resp.uri} pinged ${pings.length} times`);
      for (let i = 1; i < pings.length; i++) {
        const gap = pings[i]! - pings[i - 1]!;
        assert.ok(
          gap > INTERVAL / 2,
          `${resp.uri}: two pings ${gap} ms apart (one interval is ${INTERVAL})`,
        );
        assert.ok(gap < 2 * INTERVAL, `${resp.uri}: a gap of ${gap} ms`);
      }
    }
  });

  test('a prober restart neither loses nor duplicates schedules', async (t) => {
    const r = await rig(t, 5, (u) => u.map((uri) => `1 ${uri} 0 0`).join('\n'));
    const a = await r.prober();
    const schedulers = (await a.queue.getJobSchedulers(0, -1)).map((s) => s.key).sort();
    assert.equal(schedulers.length, 3, '5 destinations in shards of 2');
    await a.close();
    const b = await r.prober();
    assert.deepEqual((await b.queue.getJobSchedulers(0, -1)).map((s) => s.key).sort(), schedulers);
    // one script reads the three counts: read one by one, a job moving from delayed to waiting
    // between two reads would count twice
    const counts = await b.queue.getJobCounts('delayed', 'active', 'waiting');
    const queued = (counts.delayed ?? 0) + (counts.active ?? 0) + (counts.waiting ?? 0);
    assert.ok(queued <= schedulers.length, `${queued} jobs queued: ${JSON.stringify(counts)}`);
    const before = r.responders.totalPings;
    await waitFor(
      'pinging goes on after the restart',
      () => r.responders.totalPings - before >= 5 * 2,
    );
    // Adding a destination re-plans: 6 destinations -> 3 shards, 7 -> 4.
    await r.fleet.add(1, 'sip:127.0.0.1:9', 0, 0);
    await r.fleet.add(1, 'sip:127.0.0.1:11', 0, 0);
    await waitFor('4 schedulers', async () => (await b.queue.getJobSchedulers(0, -1)).length === 4);
    await r.fleet.remove(1, 'sip:127.0.0.1:9');
    await r.fleet.remove(1, 'sip:127.0.0.1:11');
    await waitFor(
      '3 schedulers again',
      async () => (await b.queue.getJobSchedulers(0, -1)).length === 3,
    );
  });

  test('ping-active off stops every ping, on resumes them', async (t) => {
    const r = await rig(t, 2, (u) => u.map((uri) => `1 ${uri} 0 0`).join('\n'));
    await r.prober();
    await waitFor('first pings', () => r.responders.totalPings >= 2);
    await setPingActive(r.conn, false);
    await sleep(INTERVAL); // a batch already under way may finish
    const frozen = r.responders.totalPings;
    await sleep(3 * INTERVAL);
    assert.equal(r.responders.totalPings, frozen);
    await setPingActive(r.conn, true);
    await waitFor('pings again', () => r.responders.totalPings > frozen);
  });

  test('probing mode 0: only P-flagged destinations are pinged and a good reply clears P; probe-now pings any', async (t) => {
    const r = await rig(t, 2, ([a, b]) => `1 ${a} 8 0\n1 ${b} 0 0`);
    const p = await r.prober({
      settings: { pingIntervalMs: INTERVAL, timeoutMs: 500, probingMode: 0, shardSize: 2 },
    });
    const flagged = r.responders.get(0);
    await waitFor(
      'the flagged one answered and lost its P flag',
      async () => (await r.flags(1, flagged.uri)) === 'AX',
    );
    await sleep(2 * INTERVAL);
    assert.equal(flagged.pings.length, 1, 'no more pings once P is cleared (Kamailio mode 0)');
    assert.equal(r.responders.get(1).pings.length, 0, 'no P flag: not pinged in mode 0');
    await p.probeNow(1, r.responders.get(1).uri);
    await waitFor('probe-now ping', () => r.responders.get(1).pings.length === 1);
  });

  test('ds_outbound_proxy: pings go to the proxy, Request-URI unchanged; an obproxy attribute wins', async (t) => {
    // Responder 0 is the prober's outbound proxy, 1 a destination's own obproxy; the listed
    // destinations (2, 3) stay silent, so only answers relayed by a proxy keep them up.
    const r = await rig(t, 4, ([, own, a, b]) => `1 ${a} 0 0\n1 ${b} 0 0 obproxy=${own}`);
    const [proxy, own, a, b] = r.responders.responders as [
      Responder,
      Responder,
      Responder,
      Responder,
    ];
    r.responders.setMode(2, 'silent');
    r.responders.setMode(3, 'silent');
    await r.prober({
      settings: {
        pingIntervalMs: INTERVAL,
        timeoutMs: 500,
        probingMode: 1,
        shardSize: 2,
        outboundProxy: proxy.uri,
      },
    });
    await waitFor(
      'three pings through each proxy',
      () => proxy.pings.length >= 3 && own.pings.length >= 3,
    );
    assert.equal(proxy.lastRequestUri, a.uri);
    assert.equal(own.lastRequestUri, b.uri);
    assert.equal(a.pings.length + b.pings.length, 0, 'nothing sent to the destinations themselves');
    assert.equal(await r.flags(1, a.uri), 'AP', 'up: the proxy answered');
    assert.equal(await r.flags(1, b.uri), 'AP');
  });

  test('ping_socket and socket attributes: pings leave from that socket of the prober', async (t) => {
    const [main, extra] = [await freePort(), await freePort()];
    const sock = (port: number) => `udp:127.0.0.1:${port}`;
    const r = await rig(
      t,
      3,
      ([x, y, z]) =>
        `1 ${x} 0 0 socket=${sock(main)}\n` +
        `1 ${y} 0 0 socket=${sock(main)};ping_socket=${sock(extra)}\n1 ${z} 0 0`,
    );
    await r.prober({}, { sockets: [sock(main), sock(extra)] });
    const [x, y, z] = r.responders.responders as [Responder, Responder, Responder];
    await waitFor('a ping to each', () => [x, y, z].every((d) => d.lastSource !== undefined));
    assert.equal(x.lastSource?.port, main, 'socket=');
    assert.equal(y.lastSource?.port, extra, 'ping_socket wins over socket');
    assert.ok(![main, extra].includes(z.lastSource?.port ?? main), 'no attribute: the default');
  });

  test('keepalive module: isAlive unknown -> up -> down from the monitor snapshot', async (t) => {
    const r = await rig(t, 1, () => '');
    const uri = r.responders.get(0).uri;
    const monitor = await KeepaliveMonitor.open(r.conn);
    t.after(() => monitor.close());
    const changes: string[] = [];
    monitor.on('change', (u, state) => changes.push(`${u} ${state}`));
    assert.equal(monitor.isAlive(uri), 'unknown');
    await r.prober({ keepalive: { pingIntervalMs: INTERVAL } });
    await new KeepaliveStore(r.conn).add(uri, 'test');
    await waitFor('up', () => monitor.isAlive(uri) === 'up');
    r.responders.setMode(0, 'silent');
    await waitFor('down', () => monitor.isAlive(uri) === 'down');
    assert.deepEqual(changes, [`${uri} up`, `${uri} down`]);
    await new KeepaliveStore(r.conn).remove(uri);
    await waitFor('unknown again', () => monitor.isAlive(uri) === 'unknown');
  });

  test('keepalive destinations with their own interval get their own schedulers and pings; flush removes every one', async (t) => {
    const r = await rig(t, 2, () => '');
    const [slow, fast] = r.responders.responders.map((x) => x.uri) as [string, string];
    // The default interval is a minute: three pings within the wait need the 1 s schedule.
    const prober = await r.prober({ keepalive: { pingIntervalMs: 60_000 } });
    const store = new KeepaliveStore(r.conn);
    await store.add(slow, 'test');
    await store.add(fast, 'test', { intervalMs: 1000 });
    const keys = async () => (await prober.queue.getJobSchedulers(0, -1)).map((x) => x.key).sort();
    await waitFor('one scheduler per interval', async () => (await keys()).length === 2);
    assert.deepEqual(await keys(), ['ka:0/1', 'ka:1000:0/1']);
    await waitFor('the 1 s one pinged', () => r.responders.get(1).pings.length >= 3);
    assert.deepEqual((await store.list()).map((d) => d.intervalMs ?? null).sort(), [1000, null]);
    assert.equal(await store.flush(), 2);
    assert.deepEqual(await store.list(), []);
    await waitFor('schedulers gone', async () => (await keys()).length === 0);
  });

  test('register mode: up while a registration lives, down when it expires, never pinged', async (t) => {
    const r = await rig(t, 1, ([a]) => `2 ${a} 1 0`);
    const uri = r.responders.get(0).uri;
    await r.prober({ registerSets: [2] });
    assert.equal(await r.flags(2, uri), 'IX');
    await registrationSeen(r.conn, r.fleet, 2, uri, 2);
    assert.equal(await r.flags(2, uri), 'AX');
    await waitFor(
      'expired registration marks it down',
      async () => (await r.flags(2, uri)) === 'IX',
    );
    await registrationSeen(r.conn, r.fleet, 2, uri, 60);
    assert.equal(await r.flags(2, uri), 'AX');
    await registrationSeen(r.conn, r.fleet, 2, uri, 0);
    assert.equal(await r.flags(2, uri), 'IX', 'Expires: 0 takes it down at once');
    assert.equal(r.responders.get(0).pings.length, 0);
  });
});
