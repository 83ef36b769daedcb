// `sipfleet prober` end to end: real prober processes, a real redis-server, a real sipp UAS
// answering OPTIONS (-aa) and UDP responders. What edges act on is asserted where edges read it:
// the fleet's state in Redis (what `sipfleet ctl dispatcher list` prints) and a DispatcherView.
// Intervals are 1 s; waits have deadlines (liveness), assertions are about what happened.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DispatcherFleet, DispatcherView, formatFlags } from '@sipfleet/dispatcher';
import { RedisConnection } from '@sipfleet/redis';
import { SIPFLEET_BIN, startEdge } from '@sipfleet/test-helpers/edge';
import { freePort } from '@sipfleet/test-helpers/ports';
import { PROBER_INTERVAL_MS, startProber } from '@sipfleet/test-helpers/prober';
import { spawnTracked } from '@sipfleet/test-helpers/processes';
import { startRedis, uniquePrefix } from '@sipfleet/test-helpers/redis-server';
import { runSipp, startSipp } from '@sipfleet/test-helpers/sipp';
import { UdpResponders } from '@sipfleet/test-helpers/udp-responders';

const INTERVAL = PROBER_INTERVAL_MS;

async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms = 20_000) {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('sipfleet prober', { concurrency: 1 }, () => {
  test('UAS stopped -> IP after threshold x interval (Redis and the edge view), restarted -> AP; 480 stays up under class=2;code=480, 503 goes down', async (t) => {
    const redis = await startRedis();
    t.after(() => redis.stop());
    const prefix = uniquePrefix();
    const conn = new RedisConnection({ redis: redis.url, keyPrefix: prefix });
    t.after(() => conn.close());
    await conn.waitUntilReady();
    const uasPort = await freePort();
    let uas = await startSipp({
      scenario: 'uas-call',
      localPort: uasPort,
      autoAnswer: true,
      owner: t,
    });
    const responders = await UdpResponders.start(2);
    t.after(() => responders.close());
    responders.setMode(0, 480);
    responders.setMode(1, 503);
    const uasUri = `sip:127.0.0.1:${uasPort}`;
    const [busy, unavailable] = responders.responders.map((r) => r.uri);
    const fleet = new DispatcherFleet(conn);
    await fleet.load(`1 ${uasUri} 0 0\n1 ${busy} 0 0\n1 ${unavailable} 0 0\n`);
    const view = await DispatcherView.open(conn, { reconcileIntervalMs: 0 });
    t.after(() => view.close());
    const flags = async (uri: string) =>
      (await fleet.list())[0]?.destinations.find((d) => d.uri === uri)?.flagsText;
    const viewFlags = (uri: string) =>
      formatFlags(view.snapshot.sets.get(1)?.destinations.find((d) => d.uri === uri)?.flags ?? -1);

    const prober = await startProber(t, redis.url, prefix, {
      probingThreshold: 2,
      pingReplyCodes: 'class=2;code=480',
    });
    await waitFor('503 destination inactive', async () => (await flags(unavailable!)) === 'IP');
    await waitFor('UAS and 480 answered', () => responders.get(0).pings.length >= 2);
    assert.equal(await flags(uasUri), 'AP');
    assert.equal(await flags(busy!), 'AP');

    await uas.stop(2000);
    await waitFor('stopped UAS inactive in Redis', async () => (await flags(uasUri)) === 'IP');
    await waitFor('and in the view edges hold', () => viewFlags(uasUri) === 'IP');
    const selection = await view.selectDestinations(1, 8, {});
    assert.equal(selection.candidates[0]?.destination.uri, busy, 'calls avoid the stopped UAS');
    assert.ok(!selection.candidates.some((c) => c.destination.uri === uasUri));

    uas = await startSipp({ scenario: 'uas-call', localPort: uasPort, autoAnswer: true, owner: t });
    await waitFor('restarted UAS active again', async () => (await flags(uasUri)) === 'AP');
    await waitFor('view back to AP', () => viewFlags(uasUri) === 'AP');
    assert.equal(await flags(busy!), 'AP');
    assert.ok((await prober.metric('sipfleet_prober_pings_total')) > 0);
    assert.ok((await prober.metric('sipfleet_prober_transitions_total')) >= 3);
    assert.ok((await prober.metric('sipfleet_prober_schedule_lag_seconds_count')) > 0);
  });

  test('two probers share the destinations: about one ping each per interval, not two; one killed, the other pings every destination on', async (t) => {
    const redis = await startRedis();
    t.after(() => redis.stop());
    const prefix = uniquePrefix();
    const conn = new RedisConnection({ redis: redis.url, keyPrefix: prefix });
    t.after(() => conn.close());
    await conn.waitUntilReady();
    const responders = await UdpResponders.start(8);
    t.after(() => responders.close());
    await new DispatcherFleet(conn).load(
      responders.responders.map((r) => `1 ${r.uri} 0 0`).join('\n'),
    );
    const a = await startProber(t, redis.url, prefix, {});
    const b = await startProber(t, redis.url, prefix, {});
    await waitFor('both probers ran jobs', async () => {
      const [jobsA, jobsB] = await Promise.all([
        a.metric('sipfleet_prober_schedule_lag_seconds_count'),
        b.metric('sipfleet_prober_schedule_lag_seconds_count'),
      ]);
      return jobsA > 0 && jobsB > 0;
    });
    // Counted, not timed: a busy host only delays pings, so each destination's count over a
    // window is at most one per interval (plus the edges). Both probers pinging each destination
    // would reach 10 pings in about 5 intervals, over the bound.
    const from = Date.now();
    await waitFor('ten pings of every destination', () =>
      responders.responders.every((r) => r.pings.filter((p) => p > from).length >= 10),
    );
    const intervals = (Date.now() - from) / INTERVAL;
    for (const r of responders.responders) {
      const pings = r.pings.filter((p) => p > from).length;
      assert.ok(
        pings <= intervals + 3,
        `${r.uri}: ${pings} pings in ${intervals.toFixed(1)} intervals`,
      );
    }
    const killedAt = Date.now();
    await a.process.stop({ signal: 'SIGKILL' });
    await waitFor(
      'the survivor pings every destination',
      () => responders.responders.every((r) => r.pings.filter((p) => p > killedAt).length >= 3),
      60_000,
    );
  });
});

describe('prober with edges', () => {
  test('a stopped UAS shows inactive on both edges and calls avoid it; restarted, it takes calls again', async (t) => {
    const redis = await startRedis();
    t.after(() => redis.stop());
    const prefix = uniquePrefix();
    const ports = [await freePort(), await freePort()];
    const media = (port: number) => {
      const proc = spawnTracked(
        process.execPath,
        [SIPFLEET_BIN, 'demo-uas', '--port', String(port)],
        {
          owner: t,
          name: `demo-uas:${port}`,
        },
      );
      return proc.waitForOutput(/listening on/).then(() => proc);
    };
    let first = await media(ports[0]!);
    await media(ports[1]!);
    const uris = ports.map((p) => `sip:127.0.0.1:${p}`);
    const dir = mkdtempSync(join(tmpdir(), 'sipfleet-ds-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'dispatcher.list'), uris.map((u) => `1 ${u} 8 0`).join('\n') + '\n');
    const edgeConfig = {
      redis: { url: redis.url, prefix },
      dispatcher: { listFile: join(dir, 'dispatcher.list') },
      routing: { dispatcher: { set: 1, algorithm: 4, frTimerMs: 1000 } },
    };
    const edges = [await startEdge(t, edgeConfig), await startEdge(t, edgeConfig)];
    await startProber(t, redis.url, prefix, {});
    const active = (uri: string) =>
      Promise.all(edges.map((e) => e.metric('sipfleet_dispatcher_destination_active', { uri })));
    const place = async () => {
      for (const edge of edges) {
        const stats = await runSipp({
          scenario: 'uac-call',
          remote: { host: '127.0.0.1', port: edge.port },
          service: 'bob',
          rate: 10,
          maxCalls: 6,
          callLengthMs: 50,
          owner: t,
        });
        assert.equal(stats.failed, 0, stats.errors.slice(0, 3).join('\n'));
      }
    };

    await first.stop();
    await waitFor('both edges see the stopped UAS inactive', async () =>
      (await active(uris[0]!)).every((v) => v === 0),
    );
    await place();
    for (const edge of edges) {
      assert.equal(await edge.metric('sipfleet_dispatcher_failovers_total'), 0, 'no call tried it');
    }

    first = await media(ports[0]!);
    await waitFor('both edges see it active again', async () =>
      (await active(uris[0]!)).every((v) => v === 1),
    );
    await place();
    await first.stop();
    const invites = Number(/(\d+) INVITEs/.exec(first.output())?.[1] ?? 0);
    assert.ok(invites > 0, `the restarted UAS took calls again (${invites})`);
  });
});
