// The reference routing API on a real redis-server: rule management, matching (source, caller,
// longest callee prefix), rtjson answers the edge's parser accepts, and the real subcommand.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parseRtjson } from '@sipfleet/rtjson';
import { createRedisConnection } from '@sipfleet/redis';
import type { RedisConnection } from '@sipfleet/redis';
import { pino } from 'pino';
import { freePort } from '@sipfleet/test-helpers/ports';
import { spawnTracked } from '@sipfleet/test-helpers/processes';
import { redisCli, startRedis, uniquePrefix } from '@sipfleet/test-helpers/redis-server';
import type { RedisServer } from '@sipfleet/test-helpers/redis-server';
import { buildRouteApi } from '../src/route-api/server.js';
import type { RouteApi } from '../src/route-api/server.js';

const bin = new URL('../bin/sipfleet.js', import.meta.url).pathname;
const silent = pino({ level: 'silent' });

let redis: RedisServer;
before(async () => {
  redis = await startRedis();
});
after(() => redis.stop());

async function api(t: {
  after(fn: () => unknown): void;
}): Promise<{ api: RouteApi; conn: RedisConnection; prefix: string }> {
  const prefix = uniquePrefix();
  const conn = createRedisConnection({ redis: redis.url, keyPrefix: prefix });
  await conn.waitUntilReady();
  const built = buildRouteApi({ redis: conn, log: silent });
  t.after(async () => {
    await built.app.close();
    await conn.close();
  });
  return { api: built, conn, prefix };
}

function query(ruri: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    event: 'sip-routing',
    source_ip: '10.1.2.3',
    source_port: 5060,
    call_id: 'c1',
    from_uri: 'sip:alice@example.com',
    to_uri: ruri,
    ruri,
    method: 'INVITE',
    ...extra,
  };
}

const gw = (n: number) => ({ uri: `sip:gw${n}@127.0.0.1:50${n}0` });

describe('route-api', () => {
  test('longest callee prefix wins; source and caller narrow; no match is success:false', async (t) => {
    const { api: a } = await api(t);
    const put = await a.app.inject({
      method: 'PUT',
      url: '/rules',
      payload: {
        rules: [
          { id: 'default', routes: [gw(1)] },
          { id: 'uk', match: { calleePrefix: '44' }, routes: [gw(2)] },
          {
            id: 'london',
            match: { calleePrefix: '4420' },
            routing: 'parallel',
            routes: [gw(3), gw(4)],
          },
          { id: 'vip', match: { calleePrefix: '44', caller: 'boss' }, routes: [gw(5)] },
          { id: 'lan', match: { calleePrefix: '44', sourceIp: '192.168.0.0/16' }, routes: [gw(6)] },
          {
            id: 'only-lan',
            match: { calleePrefix: '99', sourceIp: '192.168.1.1' },
            routes: [gw(7)],
          },
        ],
      },
    });
    assert.equal(put.statusCode, 200, put.body);
    const route = async (q: Record<string, unknown>) => {
      const res = await a.app.inject({ method: 'POST', url: '/route', payload: q });
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json() as Record<string, unknown>;
      const parsed = parseRtjson(body);
      assert.ok(parsed.ok, 'the edge parser accepts the answer');
      return body;
    };
    const firstUri = (body: Record<string, unknown>) =>
      (body.routes as { uri: string }[] | undefined)?.[0]?.uri;
    assert.equal(firstUri(await route(query('sip:4420555@x'))), 'sip:gw3@127.0.0.1:5030');
    assert.equal((await route(query('sip:4420555@x'))).routing, 'parallel');
    assert.equal(firstUri(await route(query('sip:4479@x'))), 'sip:gw2@127.0.0.1:5020');
    assert.equal(firstUri(await route(query('sip:1555@x'))), 'sip:gw1@127.0.0.1:5010');
    // Same prefix length: the more specific rule (caller, source block) wins.
    assert.equal(
      firstUri(await route(query('sip:4479@x', { from_uri: 'sip:boss@example.com' }))),
      'sip:gw5@127.0.0.1:5050',
    );
    assert.equal(
      firstUri(await route(query('sip:4479@x', { source_ip: '192.168.7.7' }))),
      'sip:gw6@127.0.0.1:5060',
    );
    // The R-URI without a user: the To user is the callee.
    assert.equal(
      firstUri(await route(query('sip:x', { to_uri: 'sip:4479@x' }))),
      'sip:gw2@127.0.0.1:5020',
    );
    // Source-restricted rule: other sources fall back to the default rule.
    assert.equal(firstUri(await route(query('sip:991@x'))), 'sip:gw1@127.0.0.1:5010');
    assert.equal(
      firstUri(await route(query('sip:991@x', { source_ip: '192.168.1.1' }))),
      'sip:gw7@127.0.0.1:5070',
    );
    // Without the default rule, an unmatched callee gets success:false.
    assert.equal((await a.app.inject({ method: 'DELETE', url: '/rules/default' })).statusCode, 200);
    assert.deepEqual(await route(query('sip:1555@x')), { success: false });
  });

  test('rule management: GET/PUT/DELETE /rules and /rules/:id, stored under the KeyBuilder key', async (t) => {
    const { api: a, conn, prefix } = await api(t);
    const rule = {
      id: 'r1',
      match: { calleePrefix: '33' },
      routes: [{ uri: 'sip:fr@127.0.0.1', headers: { extra: 'X-Tenant: 7\r\n' }, fr_timer: 3000 }],
    };
    const put = await a.app.inject({ method: 'PUT', url: '/rules/r1', payload: rule });
    assert.equal(put.statusCode, 200, put.body);
    assert.deepEqual(put.json(), {
      ...rule,
      priority: 0,
      routing: 'serial',
      match: { calleePrefix: '33' },
    });
    const key = conn.keys.routeRules();
    assert.equal(key, `${prefix}:{rt}:rules`);
    const raw = await redisCli(redis.port, 'HGET', key, 'r1');
    assert.equal(JSON.parse(raw).routes[0].fr_timer, 3000);
    assert.equal((await a.app.inject({ method: 'GET', url: '/rules/r1' })).json().id, 'r1');
    assert.equal((await a.app.inject({ method: 'GET', url: '/rules/nope' })).statusCode, 404);
    assert.equal((await a.app.inject({ method: 'GET', url: '/rules' })).json().rules.length, 1);
    assert.equal((await a.app.inject({ method: 'DELETE', url: '/rules/r1' })).statusCode, 200);
    assert.equal((await a.app.inject({ method: 'DELETE', url: '/rules/r1' })).statusCode, 404);
    await a.app.inject({ method: 'PUT', url: '/rules', payload: [rule, { ...rule, id: 'r2' }] });
    assert.deepEqual((await a.app.inject({ method: 'DELETE', url: '/rules' })).json(), {
      deleted: 2,
    });
    assert.deepEqual((await a.app.inject({ method: 'GET', url: '/rules' })).json(), { rules: [] });
  });

  test('invalid rules and queries are refused with 400 naming the problem; a hand-broken entry is skipped', async (t) => {
    const { api: a, conn } = await api(t);
    const bad = async (url: string, payload: unknown, pattern: RegExp) => {
      const res = await a.app.inject({
        method: url === '/route' ? 'POST' : 'PUT',
        url,
        payload: payload as object,
      });
      assert.equal(res.statusCode, 400, res.body);
      assert.match(res.body, pattern);
    };
    await bad('/rules/x', { routes: [{ uri: 'nonsense' }] }, /routes\[0\]\.uri: bad URI/);
    await bad('/rules/x', { routes: [] }, /routes/);
    await bad('/rules/x', { routes: [{}], match: { sourceIp: '10.0.0.0/99' } }, /sourceIp/);
    await bad('/rules/x', { id: 'y', routes: [{}] }, /differs/);
    await bad('/rules/x', { routes: [{}], surprise: 1 }, /surprise|Unrecognized/);
    await bad(
      '/rules',
      {
        rules: [
          { id: 'a', routes: [{}] },
          { id: 'a', routes: [{}] },
        ],
      },
      /duplicate id a/,
    );
    await bad('/rules', { nothing: true }, /expected/);
    await bad('/route', { no_ruri: true }, /ruri/);
    const notJson = await a.app.inject({
      method: 'POST',
      url: '/route',
      headers: { 'content-type': 'application/json' },
      payload: '{"ruri": ',
    });
    assert.equal(notJson.statusCode, 400);
    // An operator wrote garbage with redis-cli: logged and skipped, the other rule still routes.
    await a.app.inject({ method: 'PUT', url: '/rules/good', payload: { routes: [gw(1)] } });
    await redisCli(redis.port, 'HSET', conn.keys.routeRules(), 'broken', '{not json');
    await redisCli(
      redis.port,
      'HSET',
      conn.keys.routeRules(),
      'wrong',
      '{"id":"wrong","routes":[]}',
    );
    const res = await a.app.inject({ method: 'POST', url: '/route', payload: query('sip:1@x') });
    assert.equal(res.json().routes[0].uri, 'sip:gw1@127.0.0.1:5010');
    const metrics = (await a.app.inject({ method: 'GET', url: '/metrics' })).body;
    assert.match(metrics, /sipfleet_route_api_queries_total\{result="bad_request"\} 1/);
    assert.match(metrics, /sipfleet_route_api_queries_total\{result="routed"\} 1/);
  });

  test('Redis down: /route answers 503 (the edge then says API Not Available), /readyz 503', async (t) => {
    const own = await startRedis();
    t.after(() => own.stop());
    const conn = createRedisConnection({
      redis: own.url,
      keyPrefix: uniquePrefix(),
      maxRetryDelayMs: 100,
    });
    t.after(() => conn.close());
    await conn.waitUntilReady();
    const { app, metrics } = buildRouteApi({ redis: conn, log: silent });
    t.after(() => app.close());
    assert.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
    const down = new Promise((resolve) => conn.once('down', resolve));
    await own.kill();
    await down;
    assert.equal(
      (await app.inject({ method: 'POST', url: '/route', payload: query('sip:1@x') })).statusCode,
      503,
    );
    assert.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 503);
    assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    assert.equal((await metrics.redisUp.get()).values[0]?.value, 0);
    await own.restart();
    await conn.waitUntilReady();
    assert.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
  });

  test('the `sipfleet route-api` subcommand serves over HTTP with --listen, --redis-url, --prefix', async (t) => {
    const port = await freePort();
    const prefix = uniquePrefix();
    const proc = spawnTracked(
      process.execPath,
      [
        bin,
        'route-api',
        '--listen',
        `127.0.0.1:${port}`,
        '--redis-url',
        redis.url,
        '--prefix',
        prefix,
      ],
      { owner: t, name: 'route-api' },
    );
    await proc.waitForOutput(/route-api started/, 15_000);
    const base = `http://127.0.0.1:${port}`;
    // Started is not ready: writes answer 503 until its Redis connection is up, as /readyz says.
    for (let i = 0; (await fetch(`${base}/readyz`)).status !== 200; i++) {
      if (i > 200) assert.fail('route-api never became ready');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const put = await fetch(`${base}/rules/all`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ routes: [gw(1)] }),
    });
    assert.equal(put.status, 200);
    assert.ok((await redisCli(redis.port, 'HGET', `${prefix}:{rt}:rules`, 'all')).includes('gw1'));
    const res = await fetch(`${base}/route`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(query('sip:123@x')),
    });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { success: boolean }).success, true);
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    assert.match(await (await fetch(`${base}/metrics`)).text(), /sipfleet_route_api_queries_total/);
    await proc.stop();
    assert.equal(proc.exitStatus?.code, 0, 'SIGTERM: clean exit');
  });

  test('the subcommand refuses bad options with EX_CONFIG', async (t) => {
    for (const args of [
      ['--listen', 'nonsense'],
      ['--listen', '127.0.0.1:1'],
      ['--redis-url', 'ftp://x'],
    ]) {
      const env = { ...process.env };
      delete env.SIPFLEET_REDIS_URL;
      const proc = spawnTracked(process.execPath, [bin, 'route-api', ...args], { owner: t, env });
      const status = await proc.waitForExit(10_000);
      assert.equal(status.code, 78, `${args.join(' ')}: ${proc.output()}`);
    }
  });
});
