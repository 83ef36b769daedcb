// The routing client against a real node:http server on an ephemeral port (no mocks).
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { RoutingClient } from '../src/client.js';
import type { QueryOutcomeKind } from '../src/client.js';

type Handler = (body: unknown, res: ServerResponse, req: IncomingMessage) => void;

async function server(t: { after(fn: () => unknown): void }, handler: Handler): Promise<string> {
  const srv: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString();
      handler(text === '' ? undefined : JSON.parse(text), res, req);
    });
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    srv.closeAllConnections();
    return new Promise((resolve) => srv.close(resolve));
  });
  return `http://127.0.0.1:${(srv.address() as AddressInfo).port}/route`;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}

function client(t: { after(fn: () => unknown): void }, url: string, extra = {}) {
  const seen: QueryOutcomeKind[] = [];
  const c = new RoutingClient({
    url,
    timeoutMs: 300,
    observer: { queryDone: (kind) => seen.push(kind) },
    ...extra,
  });
  t.after(() => c.close());
  return { c, seen };
}

test('200 + success true: the parsed document; the query arrives as JSON over one pooled socket', async (t) => {
  const queries: unknown[] = [];
  const ports = new Set<number>();
  const url = await server(t, (body, res, req) => {
    queries.push(body);
    ports.add(req.socket.remotePort ?? 0);
    json(res, 200, {
      success: true,
      version: '1.0',
      routing: 'parallel',
      routes: [
        { uri: 'sip:a@127.0.0.1' },
        { uri: 'sip:b@127.0.0.1', dst_uri: 'sip:127.0.0.1:5080' },
      ],
    });
  });
  const { c, seen } = client(t, url, { maxSockets: 1 });
  for (let i = 0; i < 3; i++) {
    const outcome = await c.query({ event: 'sip-routing', call_id: `c${i}` });
    assert.equal(outcome.kind, 'ok');
    if (outcome.kind !== 'ok') return;
    assert.equal(outcome.document.routing, 'parallel');
    assert.equal(outcome.document.routes[1]?.dstUri, 'sip:127.0.0.1:5080');
  }
  assert.deepEqual(
    queries,
    [0, 1, 2].map((i) => ({ event: 'sip-routing', call_id: `c${i}` })),
  );
  assert.equal(ports.size, 1, 'keep-alive: every query reused one connection');
  assert.deepEqual(seen, ['ok', 'ok', 'ok']);
  assert.equal(c.counts.ok, 3);
});

test('a plain rtjson document without success routes; no routes is not_found', async (t) => {
  const answers = [{ routes: [{ uri: 'sip:a@h' }] }, { success: false }, {}];
  const url = await server(t, (_b, res) => json(res, 200, answers.shift()));
  const { c } = client(t, url);
  const plain = await c.query({});
  assert.equal(plain.kind === 'ok' && plain.document.routes[0]?.uri, 'sip:a@h');
  assert.equal((await c.query({})).kind, 'not_found');
  assert.equal((await c.query({})).kind, 'not_found');
  assert.equal(c.counts.not_found, 2);
});

test("envelope 'success': success false and a missing success are not_found", async (t) => {
  const answers = [{ success: false }, { routes: [{ uri: 'sip:a@h' }] }];
  const url = await server(t, (_b, res) => json(res, 200, answers.shift()));
  const { c } = client(t, url, { envelope: 'success' });
  assert.equal((await c.query({})).kind, 'not_found');
  assert.equal((await c.query({})).kind, 'not_found');
  assert.equal(c.counts.not_found, 2);
});

test('method, custom headers and Basic auth are sent; any answer comes back whole ($http_rs, $http_rr, $http_hdr, $http_rb, $http_time)', async (t) => {
  const seen: { method?: string; url?: string; key?: string; auth?: string; body: unknown }[] = [];
  const url = await server(t, (body, res, req) => {
    seen.push({
      method: req.method,
      url: req.url,
      key: req.headers['x-api-key'] as string | undefined,
      auth: req.headers.authorization,
      body,
    });
    res.writeHead(403, 'Account Blocked', { 'x-reason': 'unpaid', 'content-type': 'text/plain' });
    res.end('blocked: unpaid');
  });
  const { c } = client(t, url, {
    method: 'GET',
    headers: { 'X-Api-Key': 'k-123' },
    auth: { username: 'edge', password: 'p:w' },
  });
  const outcome = await c.query({ call_id: 'c1', source_port: 5060 });
  assert.equal(outcome.kind, 'http_error');
  if (outcome.kind !== 'http_error') return;
  assert.equal(outcome.answer.status, 403);
  assert.equal(outcome.answer.reason, 'Account Blocked');
  assert.equal(outcome.answer.headers['x-reason'], 'unpaid');
  assert.equal(outcome.answer.body, 'blocked: unpaid');
  assert.ok(outcome.answer.timeMs > 0);
  assert.deepEqual(seen, [
    {
      method: 'GET',
      url: '/route?call_id=c1&source_port=5060',
      key: 'k-123',
      auth: `Basic ${Buffer.from('edge:p:w').toString('base64')}`,
      body: undefined,
    },
  ]);
  const post = client(t, url, { method: 'PUT' }).c;
  await post.query({ call_id: 'c2' });
  assert.equal(seen[1]?.method, 'PUT');
  assert.deepEqual(seen[1]?.body, { call_id: 'c2' });
  assert.equal(seen[1]?.auth, undefined);
});

test('non-200, invalid JSON and malformed rtjson are told apart', async (t) => {
  const answers: [number, string][] = [
    [500, '{"success":true}'],
    [404, 'nope'],
    [200, '{"success": tru'],
    [200, '{"success":true,"routing":"serial","routes":[{"uri":"not a uri"}]}'],
  ];
  const url = await server(t, (_b, res) => {
    const [status, body] = answers.shift() ?? [500, ''];
    json(res, status, body);
  });
  const { c, seen } = client(t, url);
  const first = await c.query({});
  assert.equal(first.kind === 'http_error' && first.status, 500);
  const second = await c.query({});
  assert.equal(second.kind === 'http_error' && second.answer.body, 'nope');
  assert.equal((await c.query({})).kind, 'invalid_json');
  const bad = await c.query({});
  assert.equal(bad.kind, 'invalid_rtjson');
  if (bad.kind === 'invalid_rtjson') assert.equal(bad.error.path, 'routes[0].uri');
  assert.deepEqual(seen, ['http_error', 'http_error', 'invalid_json', 'invalid_rtjson']);
});

test('an API that never answers is a timeout; the client stays usable', async (t) => {
  let hang = true;
  const url = await server(t, (_b, res) => {
    if (!hang) json(res, 200, { success: false });
  });
  const { c } = client(t, url, { timeoutMs: 150 });
  assert.equal((await c.query({})).kind, 'timeout');
  hang = false;
  assert.equal((await c.query({})).kind, 'not_found');
  assert.equal(c.inFlight, 0);
});

test('connection refused is a connection_error', async (t) => {
  // Take a port, then free it: nothing listens there any more.
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const freed = (srv.address() as AddressInfo).port;
  await new Promise((resolve) => srv.close(resolve));
  const { c, seen } = client(t, `http://127.0.0.1:${freed}/route`);
  assert.equal((await c.query({})).kind, 'connection_error');
  assert.deepEqual(seen, ['connection_error']);
});

test('over the in-flight cap: overloaded at once, counted; other queries never wait on a slow one', async (t) => {
  const held: ServerResponse[] = [];
  const url = await server(t, (body, res) => {
    if ((body as { slow?: boolean }).slow) held.push(res);
    else json(res, 200, { success: false });
  });
  const { c, seen } = client(t, url, { maxInFlight: 2, timeoutMs: 10_000 });
  const slow = c.query({ slow: true });
  // While the slow query is pending, a fast one completes (the client never blocks).
  assert.equal((await c.query({})).kind, 'not_found');
  assert.equal(c.inFlight, 1, 'the slow query is still pending');
  const slow2 = c.query({ slow: true });
  assert.equal(c.inFlight, 2);
  const refused = await c.query({});
  assert.equal(refused.kind, 'overloaded');
  assert.equal(c.counts.overloaded, 1);
  while (held.length < 2) await new Promise((resolve) => setImmediate(resolve));
  for (const res of held) json(res, 200, { success: true, routes: [{ uri: 'sip:x@h' }] });
  assert.equal((await slow).kind, 'ok');
  assert.equal((await slow2).kind, 'ok');
  assert.equal(c.inFlight, 0);
  assert.deepEqual(seen, ['not_found', 'overloaded', 'ok', 'ok']);
});

test('an answer over maxBodyBytes is invalid_json', async (t) => {
  const url = await server(t, (_b, res) =>
    json(res, 200, JSON.stringify({ pad: 'x'.repeat(5000) })),
  );
  const { c } = client(t, url, { maxBodyBytes: 1000 });
  const outcome = await c.query({});
  assert.equal(outcome.kind, 'invalid_json');
});

test('only http: and https: URLs', () => {
  assert.throws(() => new RoutingClient({ url: 'ftp://x/route' }), /http: or https:/);
});
