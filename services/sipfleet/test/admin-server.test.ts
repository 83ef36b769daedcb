// The admin port over real HTTP: /metrics, /healthz, /readyz open; mutating requests need the
// bearer token and are disabled (403) when none is configured.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import { Registry } from 'prom-client';
import { bearerMatches, startAdminServer } from '../src/admin-server.js';
import { applyEnv, ConfigError, parseEdgeConfig } from '../src/config.js';
import { ConsoleApp } from '../src/console/console.js';

const TOKEN = 'a-token-of-32-characters-at-leas';

async function admin(t: TestContext, token: string | undefined) {
  const registry = new Registry();
  const { server, port } = await startAdminServer(
    '127.0.0.1',
    0,
    registry,
    { notReadyReasons: () => [] },
    {
      ...(token === undefined ? {} : { token }),
      apps: [
        new ConsoleApp({
          nodeId: 'edge-test',
          tokenConfigured: token !== undefined,
          redis: undefined,
          listFile: undefined,
        }),
      ],
    },
  );
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  assert.equal((server.address() as AddressInfo).address, '127.0.0.1', 'bound where told');
  return async (path: string, init: RequestInit = {}) => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, init);
    return { status: res.status, headers: res.headers, body: await res.text() };
  };
}

const post = (authorization?: string): RequestInit => ({
  method: 'POST',
  headers: {
    'content-type': 'application/json',
    ...(authorization === undefined ? {} : { authorization }),
  },
  body: JSON.stringify({ on: true }),
});

describe('admin port', () => {
  test('without a token: the read-only endpoints answer, every mutating one is 403', async (t) => {
    const get = await admin(t, undefined);
    assert.equal((await get('/metrics')).status, 200);
    assert.equal((await get('/healthz')).status, 200);
    assert.equal((await get('/readyz')).status, 200);
    assert.equal((await get('/console')).status, 200);
    for (const path of ['/console/api/maintenance', '/console/api/login', '/metrics', '/x']) {
      const res = await get(path, post(`Bearer ${TOKEN}`));
      assert.equal(res.status, 403, path);
      assert.match(res.body, /no admin token is configured/);
    }
    assert.equal((await get('/console/api/reload', { method: 'DELETE' })).status, 403);
  });

  test('with a token: mutating requests need Authorization: Bearer <token>', async (t) => {
    const get = await admin(t, TOKEN);
    assert.equal((await get('/metrics')).status, 200, 'metrics stay open');
    assert.equal((await get('/healthz')).status, 200);
    const missing = await get('/console/api/login', post());
    assert.equal(missing.status, 401);
    assert.match(missing.headers.get('www-authenticate') ?? '', /^Bearer /);
    assert.equal((await get('/console/api/login', post(`Bearer ${TOKEN}x`))).status, 401);
    assert.equal((await get('/console/api/login', post(`Basic ${TOKEN}`))).status, 401);
    assert.equal((await get('/console/api/login', post('Bearer'))).status, 401);
    const ok = await get('/console/api/login', post(`Bearer ${TOKEN}`));
    assert.equal(ok.status, 200);
    assert.deepEqual(JSON.parse(ok.body), { ok: true });
    // Past the token check, the action itself answers: this edge has no Redis to change.
    const noRedis = await get('/console/api/maintenance', post(`bearer ${TOKEN}`));
    assert.equal(noRedis.status, 409);
    assert.match(noRedis.body, /no redis\.url/);
  });

  test('bearerMatches takes only the exact token', () => {
    assert.equal(bearerMatches(`Bearer ${TOKEN}`, TOKEN), true);
    assert.equal(bearerMatches(`Bearer ${TOKEN.slice(1)}`, TOKEN), false);
    assert.equal(bearerMatches(undefined, TOKEN), false);
    assert.equal(bearerMatches(`Bearer ${TOKEN} extra`, TOKEN), false);
  });
});

describe('admin.token setting', () => {
  test('from the file or SIPFLEET_ADMIN_TOKEN; SIPFLEET_ADMIN keeps it', () => {
    assert.equal(parseEdgeConfig({}).admin.token, undefined, 'no token by default');
    assert.equal(parseEdgeConfig({ admin: { token: TOKEN } }).admin.token, TOKEN);
    const env = parseEdgeConfig(applyEnv({}, { SIPFLEET_ADMIN_TOKEN: TOKEN }));
    assert.equal(env.admin.token, TOKEN);
    assert.equal(env.admin.port, 9060);
    const moved = parseEdgeConfig(
      applyEnv({ admin: { token: TOKEN } }, { SIPFLEET_ADMIN: '127.0.0.1:9100' }),
    );
    assert.deepEqual(moved.admin, { address: '127.0.0.1', port: 9100, token: TOKEN });
  });

  test('a short or spaced token is refused by name', () => {
    for (const token of ['short', 'has a space in it somewhere']) {
      assert.throws(
        () => parseEdgeConfig({ admin: { token } }),
        (err: unknown) => err instanceof ConfigError && /admin\.token/.test(err.message),
      );
    }
  });
});
