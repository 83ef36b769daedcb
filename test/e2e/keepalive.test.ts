// Kamailio's keepalive module on the fleet, end to end: `sipfleet ctl keepalive` against a real
// redis-server and a real prober pinging UDP responders (one answers 200, one stays silent); and
// a routing module on a real edge adding a destination through the module API with its own
// interval and a state-change callback, seen on the edge's /metrics when a real sipp UAS stops
// answering OPTIONS.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { KeepaliveStore, aliveOf, uriField } from '@sipfleet/keepalive';
import { RedisConnection } from '@sipfleet/redis';
import { startEdge } from '@sipfleet/test-helpers/edge';
import { freePort } from '@sipfleet/test-helpers/ports';
import { startProber } from '@sipfleet/test-helpers/prober';
import { startRedis, uniquePrefix } from '@sipfleet/test-helpers/redis-server';
import { startSipp } from '@sipfleet/test-helpers/sipp';
import { UdpResponders } from '@sipfleet/test-helpers/udp-responders';
import { ctl } from '../../services/sipfleet/test/ctl-run.js';

async function until(what: string, check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('keepalive module', { concurrency: 1 }, () => {
  test('ctl keepalive add, list, is-alive, remove and flush against a real prober', async (t) => {
    const redis = await startRedis();
    t.after(() => redis.stop());
    const prefix = uniquePrefix();
    const env = { SIPFLEET_REDIS_URL: redis.url, SIPFLEET_PREFIX: prefix };
    const run = (...args: string[]) => ctl(['keepalive', ...args], env);
    const responders = await UdpResponders.start(2);
    t.after(() => responders.close());
    responders.setMode(1, 'silent');
    const [alive, dead] = responders.responders.map((r) => r.uri) as [string, string];
    await startProber(t, redis.url, prefix, {}, { keepalive: { pingIntervalMs: 1000 } });
    // Waits read the states straight from Redis (each ctl run is a process start); ctl answers
    // the assertions.
    const conn = new RedisConnection({ redis: redis.url, keyPrefix: prefix });
    t.after(() => conn.close());
    const store = new KeepaliveStore(conn);
    const state = async (uri: string) => aliveOf((await store.states()).get(uriField(uri)));

    assert.equal((await run('add', alive, '--owner', 'ops')).code, 0);
    const added = await run('add', dead, '--interval', '1500');
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, /interval 1500 ms/);
    assert.equal((await run('add', dead, '--interval', '50')).code, 2, 'interval under 100 ms');

    await until('UAS up', async () => (await state(alive)) === 'up');
    await until('silent socket down', async () => (await state(dead)) === 'down');
    assert.deepEqual(await run('is-alive', alive), { code: 0, stdout: 'up\n', stderr: '' });
    assert.deepEqual(await run('is-alive', dead), { code: 0, stdout: 'down\n', stderr: '' });
    const list = await run('list', '--json');
    // sorted by URI
    const rows = [
      { uri: alive, owner: 'ops', intervalMs: null, state: 'up' },
      { uri: dead, owner: 'ctl', intervalMs: 1500, state: 'down' },
    ].sort((x, y) => x.uri.localeCompare(y.uri));
    assert.deepEqual(JSON.parse(list.stdout), rows);
    assert.match((await run('list')).stdout, /^URI\s+OWNER\s+INTERVAL\s+STATE$/m);

    assert.equal((await run('remove', dead)).code, 0);
    const gone = await run('is-alive', dead);
    assert.equal(gone.code, 3);
    assert.match(gone.stdout, /no keepalive destination/);
    // The probers drop its schedule: while the other one is pinged on, it is not (one ping may
    // have been under way).
    const deadPings = responders.get(1).pings.length;
    const alivePings = responders.get(0).pings.length;
    await until('three more pings of the other', async () => {
      return responders.get(0).pings.length >= alivePings + 3;
    });
    assert.ok(responders.get(1).pings.length <= deadPings + 1, 'removed destination not pinged');

    const flushed = await run('flush', '--json');
    assert.deepEqual(JSON.parse(flushed.stdout), { removed: 1 });
    assert.equal((await run('is-alive', alive)).code, 3);
  });

  test('routing-module API: a destination added with its own interval; the state-change callback fires when the UAS stops answering OPTIONS', async (t) => {
    const redis = await startRedis();
    t.after(() => redis.stop());
    const prefix = uniquePrefix();
    const uasPort = await freePort();
    const uas = await startSipp({
      scenario: 'uas-call',
      localPort: uasPort,
      autoAnswer: true,
      owner: t,
    });
    const uri = `sip:127.0.0.1:${uasPort}`;
    const dir = mkdtempSync(join(tmpdir(), 'sipfleet-ka-module-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const module = join(dir, 'routes.mjs');
    // The module counts each callback on its own metric: the edge's /metrics shows what it saw.
    writeFileSync(
      module,
      `export default async function (services) {
  const changes = services.metrics.counter('sipfleet_test_ka_changes_total', 'callbacks', ['state', 'attr']);
  await services.keepalive.mirror.waitUntilReady(10000);
  await services.keepalive.addDestination(${JSON.stringify(uri)}, {
    owner: 'media-check',
    intervalMs: 1000,
    userAttr: 'ms1',
    onStateChange: (_uri, state, attr) => changes.inc({ state, attr }),
    onRemoved: (_uri, attr) => changes.inc({ state: 'removed', attr }),
  });
  return { request: (ctx) => ctx.reply(ctx.request.method === 'OPTIONS' ? 200 : 404) };
}
`,
    );
    const edge = await startEdge(t, {
      redis: { url: redis.url, prefix },
      routing: { module },
    });
    // The prober's own keepalive interval is a minute: only the destination's 1 s can
    // make the state change within the waits below.
    await startProber(t, redis.url, prefix, {}, { keepalive: { pingIntervalMs: 60_000 } });
    const seen = (state: string) =>
      edge.metric('sipfleet_test_ka_changes_total', { state, attr: 'ms1' });

    await until('callback: up', async () => (await seen('up')) === 1);
    const listed = await ctl(['keepalive', 'list', '--json'], {
      SIPFLEET_REDIS_URL: redis.url,
      SIPFLEET_PREFIX: prefix,
    });
    assert.deepEqual(JSON.parse(listed.stdout), [
      { uri, owner: 'media-check', intervalMs: 1000, state: 'up' },
    ]);

    await uas.stop(2000);
    await until('callback: down', async () => (await seen('down')) === 1);
    assert.equal(await seen('up'), 1);

    const removed = await ctl(['keepalive', 'remove', uri], {
      SIPFLEET_REDIS_URL: redis.url,
      SIPFLEET_PREFIX: prefix,
    });
    assert.equal(removed.code, 0);
    await until('callback: removed', async () => (await seen('removed')) === 1);
  });
});
