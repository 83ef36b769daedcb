// htable matching, removal by regex and the expired event with two real edges on a real
// redis-server, driven by a routing module (test/helpers/htable-routes.mjs) and plain redis-cli.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { type EdgeHandle, startEdge } from '@sipfleet/test-helpers/edge';
import { redisCli, startRedis, uniquePrefix } from '@sipfleet/test-helpers/redis-server';
import { probeInvite } from '@sipfleet/test-helpers/sip-probe';

const HTABLE_ROUTES = fileURLToPath(new URL('../helpers/htable-routes.mjs', import.meta.url));

/** Waits until every edge answers a probe INVITE with `status`. */
async function answers(edges: EdgeHandle[], status: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const got = await Promise.all(edges.map((e) => probeInvite(e.port, 'probe', 5000)));
    if (got.every((s) => s === status)) return;
    if (Date.now() > deadline) assert.fail(`edges answer ${got.join(', ')}, expected ${status}`);
    await sleep(50);
  }
}

test('two edges: a ban written with redis-cli is matched by both, removed by regex from one, and its expiry fires once on each edge', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const prefix = uniquePrefix();
  const config = {
    redis: { url: redis.url, prefix },
    routing: { module: HTABLE_ROUTES },
    htables: [{ name: 'ipban' }, { name: 'events' }],
  };
  const edges = await Promise.all([startEdge(t, config), startEdge(t, config)]);
  const [a] = edges;
  assert.ok(a);
  const ban = (ip: string) => `${prefix}:{ht:ipban}:${ip}`;
  const cli = (...args: string[]) => redisCli(redis.port, ...args);

  await answers(edges, 480);
  await cli('HSET', ban('10.0.0.1'), 's', 'flood');
  await cli('HSET', ban('10.0.0.2'), 's', 'flood');
  await cli('HSET', ban('192.168.0.1'), 's', 'scan');
  await answers(edges, 403);

  // sht_rm_name_re on one edge removes the bans from Redis: both edges stop refusing.
  assert.equal(await probeInvite(a.port, 'unban', 5000), 200);
  await answers(edges, 480);
  assert.equal(await cli('EXISTS', ban('10.0.0.1'), ban('10.0.0.2'), ban('192.168.0.1')), '1\n');

  // A ban both edges hold, then given a lifetime: each edge's event route runs once for it.
  await cli('HSET', ban('10.0.0.3'), 's', 'brute-force');
  await answers(edges, 403);
  await cli('PEXPIRE', ban('10.0.0.3'), '500');
  const expected = edges.map((e) => `edge-${e.port}:10.0.0.3=brute-force`).sort();
  const deadline = Date.now() + 20_000;
  let keys: string[] = [];
  while (keys.length < 2 && Date.now() < deadline) {
    keys = (await cli('--scan', '--pattern', `${prefix}:{ht:events}:*`))
      .split('\n')
      .filter((k) => k !== '')
      .map((k) => k.slice(`${prefix}:{ht:events}:`.length))
      .sort();
    if (keys.length < 2) await sleep(50);
  }
  assert.deepEqual(keys, expected);
  await answers(edges, 480);
  for (const key of expected) {
    assert.equal(await cli('HGET', `${prefix}:{ht:events}:${key}`, 'i'), '1\n', `${key} once`);
  }
});
