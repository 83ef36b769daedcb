// Issue acceptance: external routing over HTTP with rtjson. Real sipp UACs and UASes, a real edge
// loading packages/rtjson's edge module, and either the reference routing API (`sipfleet
// route-api` on a real redis-server) or a small HTTP server in this file for the failure cases.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SIPFLEET_BIN, startEdge } from '@sipfleet/test-helpers/edge';
import { freePort } from '@sipfleet/test-helpers/ports';
import { spawnTracked } from '@sipfleet/test-helpers/processes';
import type { CleanupOwner } from '@sipfleet/test-helpers/processes';
import { startRedis, uniquePrefix } from '@sipfleet/test-helpers/redis-server';
import type { RedisServer } from '@sipfleet/test-helpers/redis-server';
import { messageCount, runSipp, startSipp } from '@sipfleet/test-helpers/sipp';
import type { SippStats } from '@sipfleet/test-helpers/sipp';
import { makeTlsFiles } from '@sipfleet/test-helpers/tls-certs';

const EDGE_MODULE = fileURLToPath(
  new URL('../../packages/rtjson/dist/edge-module.js', import.meta.url),
);
const HTTP_ANSWER_ROUTES = fileURLToPath(
  new URL('../helpers/http-answer-routes.mjs', import.meta.url),
);

let redis: RedisServer;
before(async () => {
  redis = await startRedis();
});
after(() => redis.stop());

/** `sipfleet route-api` on a free port with its own key prefix; returns its /route URL and a rule setter. */
async function startRouteApi(t: CleanupOwner) {
  const port = await freePort();
  const proc = spawnTracked(
    process.execPath,
    [SIPFLEET_BIN, 'route-api', '--listen', `127.0.0.1:${port}`, '--redis-url', redis.url],
    { owner: t, name: 'route-api', env: { ...process.env, SIPFLEET_PREFIX: uniquePrefix() } },
  );
  await proc.waitForOutput(/route-api started/, 15_000);
  const base = `http://127.0.0.1:${port}`;
  // Ready once its Redis connection is up (it listens before that, answering 503).
  for (let ready = false; !ready;) {
    ready = (await fetch(`${base}/readyz`)).status === 200;
    if (!ready) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url: `${base}/route`,
    async setRules(rules: unknown[]): Promise<void> {
      const res = await fetch(`${base}/rules`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ rules }),
      });
      assert.equal(res.status, 200, await res.text());
    },
  };
}

/** A test routing API: `answer` decides per query (may hold it). */
async function startTestApi(
  t: CleanupOwner,
  answer: (query: Record<string, unknown>, res: ServerResponse) => void,
): Promise<string> {
  const srv = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => answer(JSON.parse(Buffer.concat(chunks).toString()), res));
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    srv.closeAllConnections();
    return new Promise((resolve) => srv.close(resolve));
  });
  return `http://127.0.0.1:${(srv.address() as AddressInfo).port}/route`;
}

function sendJson(res: ServerResponse, body: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function rtjsonEdge(t: CleanupOwner, url: string, env: Record<string, string> = {}) {
  return startEdge(t, { routing: { module: EDGE_MODULE } }, { SIPFLEET_ROUTING_URL: url, ...env });
}

async function uas(t: CleanupOwner, scenario: string) {
  const port = await freePort();
  const sipp = await startSipp({ scenario, localPort: port, autoAnswer: true, owner: t });
  return { sipp, port };
}

function assertAllSucceeded(stats: SippStats, calls: number): void {
  assert.equal(
    stats.failed,
    0,
    `failed calls: ${JSON.stringify(stats.failures)}\n${stats.errors.slice(0, 5).join('\n')}`,
  );
  assert.equal(stats.successful, calls);
}

function call(
  t: CleanupOwner,
  edgePort: number,
  scenario: string,
  service: string,
  calls: number,
  extra: Partial<Parameters<typeof runSipp>[0]> = {},
) {
  return runSipp({
    scenario,
    remote: { host: '127.0.0.1', port: edgePort },
    service,
    rate: 20,
    maxCalls: calls,
    callLengthMs: 50,
    recvTimeoutMs: 10_000,
    owner: t,
    ...extra,
  });
}

describe('rtjson HTTP routing e2e with sipp', { concurrency: 1 }, () => {
  test('serial: the first destination answers 503, the call goes on to the second', async (t) => {
    const busy = await uas(t, 'uas-503');
    const good = await uas(t, 'uas-call');
    const api = await startRouteApi(t);
    await api.setRules([
      {
        id: 'two-gateways',
        match: { calleePrefix: 'bob' },
        routing: 'serial',
        routes: [
          { uri: `sip:bob@127.0.0.1:${busy.port}`, fr_timer: 5000 },
          { uri: `sip:bob@127.0.0.1:${good.port}` },
        ],
      },
    ]);
    const edge = await rtjsonEdge(t, api.url);
    const calls = 10;
    assertAllSucceeded(await call(t, edge.port, 'uac-call', 'bob', calls), calls);
    const busyStats = await busy.sipp.stop();
    assert.equal(
      messageCount(busyStats, 'received', 'INVITE'),
      calls,
      'every call tried 503 first',
    );
    assert.equal((await good.sipp.stop()).successful, calls);
    assert.equal(await edge.metric('sipfleet_sip_responses_total', { class: '5xx' }), 0);
    assert.equal(await edge.metric('sipfleet_routing_hook_errors_total'), 0);
  });

  test('parallel: every route gets the INVITE, the 200 wins', async (t) => {
    const busy = await uas(t, 'uas-busy');
    const good = await uas(t, 'uas-call');
    const api = await startRouteApi(t);
    await api.setRules([
      {
        id: 'fork',
        routing: 'parallel',
        routes: [
          { uri: `sip:bob@127.0.0.1:${busy.port}` },
          { uri: 'sip:bob@gw.invalid', dst_uri: `sip:127.0.0.1:${good.port}` },
        ],
      },
    ]);
    const edge = await rtjsonEdge(t, api.url);
    const calls = 10;
    assertAllSucceeded(await call(t, edge.port, 'uac-call', 'bob', calls), calls);
    assert.equal(messageCount(await busy.sipp.stop(), 'received', 'INVITE'), calls);
    assert.equal((await good.sipp.stop()).successful, calls);
  });

  test('From/To rewrites and extra headers reach the UAS; the caller gets its own From/To back', async (t) => {
    const checker = await uas(t, 'uas-check-headers');
    const api = await startRouteApi(t);
    await api.setRules([
      {
        id: 'rewrite',
        routes: [
          {
            uri: `sip:callee@127.0.0.1:${checker.port}`,
            headers: {
              from: { display: 'Carrier', uri: 'sip:carrier@rewritten.example' },
              to: { display: 'Callee', uri: 'sip:callee@rewritten.example' },
              extra: 'X-Account: 42\r\nX-Route: gw-b\r\n',
            },
          },
        ],
      },
    ]);
    const edge = await rtjsonEdge(t, api.url);
    const calls = 5;
    const stats = await call(t, edge.port, 'uac-call', 'bob', calls, { traceMessages: true });
    assertAllSucceeded(stats, calls);
    const checked = await checker.sipp.stop();
    assert.equal(
      checked.successful,
      calls,
      `the UAS saw every header: ${checked.errors.join('\n')}`,
    );
    // uac restore: the 200 the caller got carries the From/To it sent, not the rewritten ones.
    const received200 = (stats.messages ?? '')
      .split(/-{10,}/)
      .filter((m) => /received/.test(m) && /SIP\/2\.0 200 OK[\s\S]*CSeq: 1 INVITE/.test(m));
    assert.ok(received200.length >= calls, 'the message trace has the 200s');
    for (const m of received200) {
      assert.match(m, /^From: sipp <sip:sipp@/m);
      assert.doesNotMatch(m, /rewritten\.example/);
    }
  });

  test('success false from the routing API: 404 Not found', async (t) => {
    const api = await startRouteApi(t);
    await api.setRules([
      { id: 'only-44', match: { calleePrefix: '44' }, routes: [{ uri: 'sip:x@127.0.0.1:9' }] },
    ]);
    const edge = await rtjsonEdge(t, api.url);
    assertAllSucceeded(await call(t, edge.port, 'uac-expect-404', 'bob', 5), 5);
    assert.equal(await edge.metric('sipfleet_sip_responses_total', { class: '4xx' }), 5);
    assert.equal(
      await edge.metric('sipfleet_http_routing_queries_total', { result: 'not_found' }),
      5,
      'each outcome is counted on the edge',
    );
  });

  test('routing API down, answering 500, or answering garbage: 500 API Not Available', async (t) => {
    // Nothing listens on a freed port.
    const down = `http://127.0.0.1:${await freePort()}/route`;
    let n = 0;
    const flaky = await startTestApi(t, (_q, res) => {
      if (n++ % 2 === 0) {
        res.writeHead(500);
        res.end('oops');
      } else sendJson(res, { success: true, routing: 'sideways', routes: [{}] });
    });
    for (const url of [down, flaky]) {
      const edge = await rtjsonEdge(t, url);
      assertAllSucceeded(await call(t, edge.port, 'uac-expect-500', 'bob', 4), 4);
      await edge.stop();
    }
  });

  test('a slow routing API (2 s) does not hold up other calls on the same edge', async (t) => {
    const target = await uas(t, 'uas-call');
    const route = { success: true, routes: [{ uri: `sip:bob@127.0.0.1:${target.port}` }] };
    let slowArrived!: () => void;
    const slowQuery = new Promise<void>((resolve) => (slowArrived = resolve));
    let releaseSlow!: () => void;
    const slowReleased = new Promise<void>((resolve) => (releaseSlow = resolve));
    let slowPending = false;
    const url = await startTestApi(t, (query, res) => {
      if (String(query.ruri).startsWith('sip:slow@')) {
        slowPending = true;
        slowArrived();
        // Held for at least 2 s, and until the fast calls are done (so the order is certain).
        void Promise.all([slowReleased, new Promise((r) => setTimeout(r, 2000))]).then(() => {
          slowPending = false;
          sendJson(res, route);
        });
      } else sendJson(res, route);
    });
    const edge = await rtjsonEdge(t, url, { SIPFLEET_ROUTING_TIMEOUT_MS: '10000' });
    const slowCall = call(t, edge.port, 'uac-call', 'slow', 1);
    await slowQuery;
    const fast = await call(t, edge.port, 'uac-call', 'fast', 100, { rate: 100, limit: 100 });
    assert.equal(slowPending, true, 'the slow query was still waiting while the 100 calls ran');
    assertAllSucceeded(fast, 100);
    releaseSlow();
    assertAllSucceeded(await slowCall, 1);
    process.stdout.write(
      `# 100 calls while a routing query waited: INVITE->200 mean ${fast.responseTimesMs[0]?.toFixed(1)} ms ` +
        `(sd ${fast.responseTimeStDevMs[0]?.toFixed(1)} ms)\n`,
    );
    await target.sipp.stop();
  });

  test('a plain rtjson document (no success field) over https, with an API key, Basic auth and a client certificate, routes the call to the UAS', async (t) => {
    const target = await uas(t, 'uas-call');
    const files = makeTlsFiles(t);
    const seen: { key: unknown; auth: unknown; method: unknown }[] = [];
    const srv = createHttpsServer(
      {
        key: files.serverKey,
        cert: files.serverCert,
        ca: files.ca,
        requestCert: true,
        rejectUnauthorized: true,
      },
      (req, res) => {
        seen.push({
          key: req.headers['x-api-key'],
          auth: req.headers.authorization,
          method: req.method,
        });
        req.resume();
        req.on('end', () =>
          sendJson(res, { version: '1.0', routes: [{ uri: `sip:bob@127.0.0.1:${target.port}` }] }),
        );
      },
    );
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    t.after(() => {
      srv.closeAllConnections();
      return new Promise((resolve) => srv.close(resolve));
    });
    const edge = await rtjsonEdge(
      t,
      `https://127.0.0.1:${(srv.address() as AddressInfo).port}/route`,
      {
        SIPFLEET_ROUTING_HEADERS: JSON.stringify({ 'X-Api-Key': 'k-42' }),
        SIPFLEET_ROUTING_USERNAME: 'edge',
        SIPFLEET_ROUTING_PASSWORD: 'secret',
        SIPFLEET_ROUTING_TLS_CA: files.paths.ca,
        SIPFLEET_ROUTING_TLS_CERT: files.paths.clientCert,
        SIPFLEET_ROUTING_TLS_KEY: files.paths.clientKey,
      },
    );
    const calls = 3;
    assertAllSucceeded(await call(t, edge.port, 'uac-call', 'bob', calls), calls);
    assert.equal((await target.sipp.stop()).successful, calls);
    assert.deepEqual(
      seen,
      Array.from({ length: calls }, () => ({
        key: 'k-42',
        auth: `Basic ${Buffer.from('edge:secret').toString('base64')}`,
        method: 'POST',
      })),
    );
  });

  test('a routing module routes on any HTTP answer: a 302 from the API sends the call to its Location', async (t) => {
    const port = await freePort();
    const target = await startSipp({
      scenario: 'uas-call',
      localPort: port,
      autoAnswer: true,
      traceMessages: true,
      owner: t,
    });
    const url = await startTestApi(t, (_query, res) => {
      res.writeHead(302, 'Moved Temporarily', { location: `sip:bob@127.0.0.1:${port}` });
      res.end('see location');
    });
    const edge = await startEdge(
      t,
      { routing: { module: HTTP_ANSWER_ROUTES } },
      { SIPFLEET_ROUTING_URL: url },
    );
    const calls = 3;
    assertAllSucceeded(await call(t, edge.port, 'uac-call', 'bob', calls), calls);
    const stats = await target.stop();
    assert.equal(stats.successful, calls);
    const invites = (stats.messages ?? '').split(/-{10,}/).filter((m) => /^INVITE /m.test(m));
    assert.equal(invites.length, calls);
    for (const m of invites) {
      assert.match(m, /^X-Http-Status: 302 Moved Temporarily$/m);
      assert.match(m, /^X-Http-Body: see location$/m);
    }
  });

  test('forked to two UASes that answer 401 and 407 with different challenges, the caller gets one final with both (RFC 3261 §16.7 step 7)', async (t) => {
    const challenger = async (scenario: string, realm: string) => {
      const port = await freePort();
      await startSipp({ scenario, localPort: port, keys: { realm }, owner: t });
      return port;
    };
    const alpha = await challenger('uas-401', 'alpha');
    const beta = await challenger('uas-407', 'beta');
    const url = await startTestApi(t, (_query, res) =>
      sendJson(res, {
        routing: 'parallel',
        routes: [{ uri: `sip:bob@127.0.0.1:${alpha}` }, { uri: `sip:bob@127.0.0.1:${beta}` }],
      }),
    );
    const edge = await rtjsonEdge(t, url);
    const calls = 4;
    assertAllSucceeded(await call(t, edge.port, 'uac-expect-challenges', 'bob', calls), calls);
    assert.equal(await edge.metric('sipfleet_sip_responses_total', { class: '4xx' }), calls);
  });

  test('From/To rewrites hold for the whole dialog: the UAS sees them on the caller’s BYE, the caller sees its own on the callee’s BYE', async (t) => {
    const rewrite = {
      from: { display: 'Carrier', uri: 'sip:carrier@rewritten.example' },
      to: { display: 'Callee', uri: 'sip:callee@rewritten.example' },
    };
    const port = await freePort();
    const callerHangs = await startSipp({
      scenario: 'uas-call',
      localPort: port,
      autoAnswer: true,
      traceMessages: true,
      owner: t,
    });
    const calleePort = await freePort();
    const calleeHangs = await startSipp({
      scenario: 'uas-call-then-bye',
      localPort: calleePort,
      autoAnswer: true,
      owner: t,
    });
    const url = await startTestApi(t, (query, res) =>
      sendJson(res, {
        routes: [
          {
            uri: `sip:bob@127.0.0.1:${String(query.to_uri).startsWith('sip:callee') ? calleePort : port}`,
            headers: rewrite,
          },
        ],
      }),
    );
    const edge = await rtjsonEdge(t, url);
    const calls = 3;

    // The caller hangs up: its BYE reaches the UAS with the rewritten From and To.
    assertAllSucceeded(await call(t, edge.port, 'uac-call', 'bob', calls), calls);
    const uasStats = await callerHangs.stop();
    assert.equal(uasStats.successful, calls);
    const received = (stats: SippStats, method: string) =>
      (stats.messages ?? '')
        .split(/-{10,}/)
        .filter((m) => /received/.test(m) && new RegExp(`^${method} `, 'm').test(m));
    for (const method of ['INVITE', 'BYE']) {
      const seen = received(uasStats, method);
      assert.equal(seen.length, calls, `the UAS got every ${method}`);
      for (const m of seen) {
        assert.match(m, /^From: "Carrier" <sip:carrier@rewritten\.example>;tag=/m);
        assert.match(m, /^To: "Callee" <sip:callee@rewritten\.example>/m);
      }
    }

    // The callee hangs up: the caller's scenario checks the BYE carries its own From/To, mapped back.
    assertAllSucceeded(await call(t, edge.port, 'uac-call-callee-bye', 'callee', calls), calls);
    assert.equal((await calleeHangs.stop()).successful, calls, 'the callee got 200 for each BYE');
    assert.equal(await edge.metric('sipfleet_sip_requests_total', { method: 'BYE' }), 2 * calls);
  });
});
