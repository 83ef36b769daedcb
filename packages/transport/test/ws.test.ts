import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseMessage } from '@sipfleet/sip';
import type { SipRequest } from '@sipfleet/sip';
import { makeCa } from '@sipfleet/test-helpers/certs';
import WebSocket from 'ws';
import { TransportErrorCode, TransportLayer, applyReceived, responseTarget } from '../src/index.js';
import { inbox } from './helpers.js';

/** A SIP request as a browser sends it over WebSocket (a made-up `.invalid` sent-by). */
function browserRequest(callId: string, transport = 'WS'): Buffer {
  return Buffer.from(
    'OPTIONS sip:edge@127.0.0.1 SIP/2.0\r\n' +
      `Via: SIP/2.0/${transport} df7jal23ls0d.invalid;branch=z9hG4bK${callId}\r\n` +
      'From: <sip:alice@example.com>;tag=b1\r\n' +
      'To: <sip:edge@127.0.0.1>\r\n' +
      `Call-ID: ${callId}\r\n` +
      'CSeq: 1 OPTIONS\r\n' +
      'Content-Length: 0\r\n\r\n',
  );
}

/** A WebSocket client; `next()` waits for the next message it receives. */
async function client(
  url: string,
  protocols: string[] = ['sip'],
  options: WebSocket.ClientOptions = {},
): Promise<{ ws: WebSocket; next(): Promise<string> }> {
  const ws = new WebSocket(url, protocols, options);
  const queue: string[] = [];
  let wake: (() => void) | undefined;
  ws.on('message', (data: Buffer) => {
    queue.push(data.toString());
    wake?.();
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return {
    ws,
    async next() {
      while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      return queue.shift() as string;
    },
  };
}

/** The HTTP status a refused upgrade gets. */
async function refusedStatus(url: string, protocols: string[]): Promise<number> {
  const ws = new WebSocket(url, protocols);
  ws.on('error', () => undefined); // "closed before the connection was established": expected
  const status = await new Promise<number>((resolve) => {
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
  });
  ws.terminate();
  return status;
}

/** Waits (a turn of the event loop at a time) until `condition` holds. */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve));
}

function closed(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => ws.once('close', (code: number) => resolve(code)));
}

describe('WebSocket transport (RFC 7118)', () => {
  let layer: TransportLayer;
  let port: number;
  before(async () => {
    layer = await TransportLayer.listen(
      [
        { protocol: 'udp', address: '127.0.0.1', port: 0 },
        { protocol: 'ws', address: '127.0.0.1', port: 0 },
      ],
      { maxMessageBytes: 2000, maxConnectionsPerSource: 3 },
    );
    port = layer.sentBy('ws').port;
  });
  after(() => layer.close());

  it('takes one SIP message per WebSocket message and answers on the same connection', async (t) => {
    const inS = inbox(layer);
    const peer = await client(`ws://127.0.0.1:${port}`);
    t.after(() => peer.ws.terminate());
    assert.equal(peer.ws.protocol, 'sip', 'the server selects the sip subprotocol');
    peer.ws.send(browserRequest('ws-one'));
    const got = await inS.next();
    assert.equal(got.remote.protocol, 'ws');
    assert.equal(got.remote.address, '127.0.0.1');
    assert.equal(typeof got.remote.connectionId, 'number');
    assert.equal(layer.webSocketConnectionCount('ws'), 1);

    // The Via names a .invalid host: received + rport are the only way back, and the response
    // target is the connection itself.
    const req = parseMessage(got.data) as SipRequest;
    applyReceived(req, got.remote);
    assert.match(req.getHeader('via') ?? '', /;rport=\d+;received=127\.0\.0\.1$/);
    const target = responseTarget(req.topVia!, got.remote);
    assert.deepEqual(target, {
      protocol: 'ws',
      address: '127.0.0.1',
      port: got.remote.port,
      connectionId: got.remote.connectionId,
    });
    layer.send(target, Buffer.from('SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n'));
    assert.equal(await peer.next(), 'SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n');
    // Without the connection id, the source address:port still finds the connection.
    layer.send(
      { protocol: 'ws', address: '127.0.0.1', port: got.remote.port },
      Buffer.from('again'),
    );
    assert.equal(await peer.next(), 'again');
    assert.equal(layer.counts.messagesIn.ws, 1);
    assert.equal(layer.counts.messagesOut.ws, 2);
  });

  it('answers a double-CRLF keep-alive with one CRLF and passes nothing up', async (t) => {
    const inS = inbox(layer);
    const peer = await client(`ws://127.0.0.1:${port}`);
    t.after(() => peer.ws.terminate());
    peer.ws.send('\r\n\r\n');
    assert.equal(await peer.next(), '\r\n');
    peer.ws.send(browserRequest('after-ping'));
    assert.match((await inS.next()).data.toString(), /Call-ID: after-ping/);
  });

  it('refuses an upgrade that does not offer the sip subprotocol', async () => {
    const inS = inbox(layer);
    assert.equal(await refusedStatus(`ws://127.0.0.1:${port}`, ['chat']), 400);
    assert.equal((await inS.nextDrop()).reason, TransportErrorCode.WsSubprotocol);
  });

  it('closes a connection that sends a message over maxMessageBytes', async (t) => {
    const inS = inbox(layer);
    const peer = await client(`ws://127.0.0.1:${port}`);
    t.after(() => peer.ws.terminate());
    const code = closed(peer.ws);
    peer.ws.send(Buffer.alloc(3000, 'a'));
    assert.equal(await code, 1009);
    assert.equal((await inS.nextDrop()).reason, TransportErrorCode.MessageTooLarge);
  });

  it('refuses connections over maxConnectionsPerSource', async (t) => {
    const inS = inbox(layer);
    const peers: { ws: WebSocket }[] = [];
    for (let i = 0; i < 3; i++) peers.push(await client(`ws://127.0.0.1:${port}`));
    t.after(() => peers.forEach((p) => p.ws.terminate()));
    assert.equal(await refusedStatus(`ws://127.0.0.1:${port}`, ['sip']), 503);
    assert.equal((await inS.nextDrop()).reason, TransportErrorCode.ConnectionsPerSource);
  });

  it('fails a send to a browser that is not connected (it cannot be connected to)', async () => {
    const err = await new Promise<Error>((resolve) =>
      layer.send({ protocol: 'ws', address: '127.0.0.1', port: 1 }, Buffer.from('x'), resolve),
    );
    assert.equal((err as { code?: string }).code, TransportErrorCode.Connect);
  });

  it('mints flow tokens for a browser connection that lead back to it while it is open (RFC 5626 5.3)', async () => {
    const inS = inbox(layer);
    const peer = await client(`ws://127.0.0.1:${port}`);
    peer.ws.send(browserRequest('flow'));
    const { remote } = await inS.next();
    const token = layer.flowToken(remote, 'b1');
    assert.ok(token !== undefined);
    assert.deepEqual(layer.flowTarget(token, 'b1'), {
      protocol: 'ws',
      address: '127.0.0.1',
      port: remote.port,
      connectionId: remote.connectionId,
    });
    assert.equal(layer.flowTarget(token, 'other-tag'), undefined, 'bound to the dialog tag');
    const gone = closed(peer.ws);
    peer.ws.close();
    await gone;
    await until(() => layer.webSocketConnectionCount('ws') === 0);
    assert.equal(layer.flowTarget(token, 'b1'), undefined, 'a closed connection is no flow');
  });

  it('answers plain HTTP with 426 Upgrade Required', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(res.status, 426);
  });
});

describe('WebSocket over TLS (wss)', () => {
  it('serves the sip subprotocol over HTTPS with the configured certificate', async (t) => {
    const ca = makeCa(t);
    const cert = ca.issue('localhost', ['DNS:localhost', 'IP:127.0.0.1']);
    const layer = await TransportLayer.listen([
      { protocol: 'wss', address: '127.0.0.1', port: 0, tls: { cert: cert.cert, key: cert.key } },
    ]);
    t.after(() => layer.close());
    const inS = inbox(layer);
    const port = layer.sentBy('wss').port;
    const peer = await client(`wss://127.0.0.1:${port}`, ['sip'], { ca: ca.cert });
    t.after(() => peer.ws.terminate());
    peer.ws.send(browserRequest('wss-one', 'WSS'));
    const got = await inS.next();
    assert.equal(got.remote.protocol, 'wss');
    assert.equal(layer.webSocketConnectionCount('wss'), 1);
    layer.send(responseTarget(parseMessage(got.data).topVia!, got.remote), Buffer.from('pong'));
    assert.equal(await peer.next(), 'pong');
  });

  it('takes a new certificate on reloadTls for connections made from then on', async (t) => {
    const first = makeCa(t);
    const second = makeCa(t, 'second CA');
    const names = ['DNS:localhost', 'IP:127.0.0.1'];
    const spec = {
      protocol: 'wss' as const,
      address: '127.0.0.1',
      port: 0,
      tls: first.issue('localhost', names),
    };
    const layer = await TransportLayer.listen([spec]);
    t.after(() => layer.close());
    const url = `wss://127.0.0.1:${layer.sentBy('wss').port}`;
    const before = await client(url, ['sip'], { ca: first.cert });
    t.after(() => before.ws.terminate());
    layer.reloadTls([{ ...spec, tls: second.issue('localhost', names) }]);
    const after = await client(url, ['sip'], { ca: second.cert });
    t.after(() => after.ws.terminate());
    assert.equal(layer.webSocketConnectionCount('wss'), 2, 'the open connection goes on');
  });

  it('pings every connection and closes one that stops answering (keep-alive)', async (t) => {
    const layer = await TransportLayer.listen([{ protocol: 'ws', address: '127.0.0.1', port: 0 }], {
      wsKeepaliveIntervalMs: 50,
    });
    t.after(() => layer.close());
    const url = `ws://127.0.0.1:${layer.sentBy('ws').port}`;
    const silent = await client(url, ['sip'], { autoPong: false });
    const answering = await client(url);
    t.after(() => answering.ws.terminate());
    assert.equal(await closed(silent.ws), 1006, 'terminated after an unanswered ping');
    await until(() => layer.webSocketConnectionCount('ws') === 1);
    assert.equal(answering.ws.readyState, WebSocket.OPEN, 'pongs keep a connection open');
  });

  it('rejects a wss listener without a certificate at listen time', async () => {
    await assert.rejects(
      TransportLayer.listen([{ protocol: 'wss', address: '127.0.0.1', port: 0 }]),
      { code: TransportErrorCode.Listen },
    );
    await assert.rejects(
      TransportLayer.listen([
        { protocol: 'wss', address: '127.0.0.1', port: 0, tls: { cert: 'nope', key: 'nope' } },
      ]),
      { code: TransportErrorCode.Listen },
    );
  });
});
