// SipEndpoint over real sockets: a TransportLayer on 127.0.0.1 (UDP and TCP), a transaction layer
// whose user answers OPTIONS 200, and raw peer sockets that send what a peer may send.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { once } from 'node:events';
import { connect } from 'node:net';
import { describe, test } from 'node:test';
import { createResponse, parseMessage, SipResponse } from '@sipfleet/sip';
import { TransportLayer } from '@sipfleet/transport';
import type { RemoteInfo } from '@sipfleet/transport';
import { SipEndpoint, TransactionLayer } from '../src/index.js';
import type { SipEndpointObserver } from '../src/index.js';

interface Seen {
  parseErrors: { action: 'answered' | 'dropped'; remote: RemoteInfo }[];
  responses: number[];
  retransmissions: string[];
  requests: string[];
}

async function endpoint(t: { after(fn: () => unknown): void }) {
  const transport = await TransportLayer.listen([
    { protocol: 'udp', address: '127.0.0.1', port: 0 },
    { protocol: 'tcp', address: '127.0.0.1', port: 0 },
  ]);
  t.after(() => transport.close());
  const seen: Seen = { parseErrors: [], responses: [], retransmissions: [], requests: [] };
  const layer = new TransactionLayer({
    sender: transport,
    user: {
      onRequest(req, tx) {
        seen.requests.push(req.callId);
        tx?.respond(createResponse(req, 200, undefined, { toTag: 'tu' }));
      },
      onCancel() {},
      onStrayResponse() {},
    },
    timers: { T1: 50, T2: 400, T4: 200 },
  });
  const observer: SipEndpointObserver = {
    parseError: (action, _err, remote) => seen.parseErrors.push({ action, remote }),
    responseSent: (status) => seen.responses.push(status),
    retransmission: (kind) => seen.retransmissions.push(kind),
  };
  const ep = new SipEndpoint({
    sender: transport,
    transactions: layer,
    observer,
    limits: { maxBodyBytes: 100 },
  });
  t.after(() => ep.close());
  transport.onMessage = (data, remote) => ep.receive(data, remote);
  const port = transport.sockets.find((s) => s.protocol === 'udp')?.port;
  const tcpPort = transport.sockets.find((s) => s.protocol === 'tcp')?.port;
  assert.ok(port && tcpPort);
  return { port, tcpPort, seen, ep };
}

function options(
  callId: string,
  via: string,
  extra: { method?: string; uri?: string; cseq?: string; headers?: string[] } = {},
): Buffer {
  const method = extra.method ?? 'OPTIONS';
  return Buffer.from(
    [
      `${method} ${extra.uri ?? 'sip:bob@127.0.0.1'} SIP/2.0`,
      `Via: ${via}`,
      'Max-Forwards: 70',
      'From: <sip:alice@example.com>;tag=a',
      'To: <sip:bob@example.com>',
      `Call-ID: ${callId}`,
      `CSeq: ${extra.cseq ?? `1 ${method}`}`,
      ...(extra.headers ?? []),
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
    'latin1',
  );
}

/** A UDP peer: every datagram it gets, in order; `next()` waits for the next one and parses it. */
async function peer(t: { after(fn: () => unknown): void }, address: string) {
  const socket: Socket = createSocket('udp4');
  socket.bind(0, address);
  await once(socket, 'listening');
  t.after(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  const got: Buffer[] = [];
  let wake: (() => void) | undefined;
  socket.on('message', (data) => {
    got.push(data);
    wake?.();
  });
  const nextRaw = async (): Promise<string> => {
    while (got.length === 0) await new Promise<void>((resolve) => (wake = resolve));
    return (got.shift() as Buffer).toString('latin1');
  };
  return {
    socket,
    port: socket.address().port,
    got,
    nextRaw,
    async next(): Promise<SipResponse> {
      const msg = parseMessage(await nextRaw());
      assert.ok(msg instanceof SipResponse);
      return msg;
    },
    send(data: Buffer, port: number) {
      socket.send(data, port, '127.0.0.1');
    },
  };
}

describe('SipEndpoint', { timeout: 20_000 }, () => {
  test('a malformed request with a forged Via is answered to its source; the Via address gets nothing', async (t) => {
    const { port, seen } = await endpoint(t);
    const source = await peer(t, '127.0.0.1');
    // The address the forged Via names: a peer of its own on another loopback address.
    const victim = await peer(t, '127.0.0.2');
    const forged = `SIP/2.0/UDP 127.0.0.2:${victim.port};branch=z9hG4bKforged`;
    // Two Content-Length values that disagree: the framing cannot be trusted (RFC 4475 section 3.3.9).
    source.send(options('forged', forged, { headers: ['Content-Length: 5'] }), port);
    const answer = await source.next();
    assert.equal(answer.status, 400);
    assert.equal(answer.callId, 'forged');
    assert.ok(answer.to.tag, 'To tag (RFC 3261 section 8.2.6.2)');
    assert.deepEqual(
      seen.parseErrors.map((e) => e.action),
      ['answered'],
    );
    // The victim now asks something itself, with its own (true) Via: the endpoint answers it there.
    // Had the 400 gone to the Via, it would have arrived first (one socket, one event loop).
    const own = `SIP/2.0/UDP 127.0.0.2:${victim.port};branch=z9hG4bKown`;
    victim.send(options('own', own), port);
    const first = await victim.next();
    assert.equal(first.callId, 'own');
    assert.equal(first.status, 200);
  });

  test('over TCP a malformed request is answered on its connection', async (t) => {
    const { tcpPort } = await endpoint(t);
    const conn = connect(tcpPort, '127.0.0.1');
    await once(conn, 'connect');
    t.after(() => void conn.destroy());
    // A Via that names somewhere else entirely, and a CSeq method that is not the request's.
    conn.write(options('tcp', 'SIP/2.0/TCP 192.0.2.9:5060;branch=z9hG4bKt', { cseq: '1 INVITE' }));
    let text = '';
    for await (const chunk of conn) {
      text += (chunk as Buffer).toString('latin1');
      if (text.includes('\r\n\r\n')) break;
    }
    const res = parseMessage(text);
    assert.ok(res instanceof SipResponse);
    assert.equal(res.status, 400);
    assert.equal(res.callId, 'tcp');
    assert.ok(res.to.tag);
  });

  test('an unreadable To, From, Call-ID or CSeq is left out of the answer; the rest is copied', async (t) => {
    const { port } = await endpoint(t);
    const source = await peer(t, '127.0.0.1');
    const via = `SIP/2.0/UDP 127.0.0.1:${source.port};branch=z9hG4bKmulti`;
    source.send(options('multi', via, { headers: ['Call-ID: second'] }), port);
    source.send(options('probe', `SIP/2.0/UDP 127.0.0.1:${source.port};branch=z9hG4bKp`), port);
    // The answer to the first one lacks Call-ID: our parser refuses such a response, so read it raw.
    const raw = await source.nextRaw();
    assert.match(raw, /^SIP\/2\.0 400 /);
    assert.doesNotMatch(raw, /^Call-ID:/im);
    assert.match(raw, /^Via: SIP\/2\.0\/UDP 127\.0\.0\.1:\d+;branch=z9hG4bKmulti/m);
    assert.match(raw, /^To: <sip:bob@example\.com>;tag=\w+\r$/m);
    assert.match(raw, /^CSeq: 1 OPTIONS\r$/m);
  });

  test('a Request-URI scheme other than sip, sips, tel: 416 to the Via (RFC 3261 section 8.2.2.1)', async (t) => {
    const { port, seen } = await endpoint(t);
    const source = await peer(t, '127.0.0.1');
    const via = `SIP/2.0/UDP 127.0.0.1:${source.port};branch=z9hG4bKscheme`;
    source.send(options('scheme', via, { uri: 'nobodyKnowsThisScheme:opaque' }), port);
    const res = await source.next();
    assert.equal(`${res.status} ${res.reason}`, '416 Unsupported URI Scheme');
    assert.ok(res.to.tag);
    assert.deepEqual(seen.requests, [], 'not handed to the transaction user');
  });

  test('ACKs and responses that do not parse are dropped, never answered', async (t) => {
    const { port, seen } = await endpoint(t);
    const source = await peer(t, '127.0.0.1');
    const via = `SIP/2.0/UDP 127.0.0.1:${source.port};branch=z9hG4bKack`;
    source.send(options('ack', via, { method: 'ACK', cseq: 'x ACK' }), port);
    source.send(Buffer.from('SIP/2.0 200 OK\r\nVia: broken\r\n\r\n'), port);
    source.send(options('after', via.replace('ack', 'after')), port);
    const first = await source.next();
    assert.equal(first.callId, 'after', 'the first answer is the one to the sound request');
    assert.deepEqual(
      seen.parseErrors.map((e) => e.action),
      ['dropped', 'dropped'],
    );
  });

  test('a body over maxBodyBytes is answered 413; responses the endpoint sends are observed', async (t) => {
    const { port, seen } = await endpoint(t);
    const source = await peer(t, '127.0.0.1');
    const via = `SIP/2.0/UDP 127.0.0.1:${source.port};branch=z9hG4bKbig`;
    const big = Buffer.from(
      options('big', via)
        .toString('latin1')
        .replace('Content-Length: 0\r\n\r\n', `Content-Length: 101\r\n\r\n${'x'.repeat(101)}`),
      'latin1',
    );
    source.send(big, port);
    const res = await source.next();
    assert.equal(res.status, 413);
    assert.deepEqual(seen.responses, [413]);
  });

  test('retransmissions of the transaction layer reach the observer', async (t) => {
    const { port, seen } = await endpoint(t);
    const source = await peer(t, '127.0.0.1');
    const via = `SIP/2.0/UDP 127.0.0.1:${source.port};branch=z9hG4bKrtx`;
    source.send(options('rtx', via), port);
    await source.next();
    source.send(options('rtx', via), port); // the same request again: its 200 is sent again
    await source.next();
    assert.deepEqual(seen.retransmissions, ['response']);
    assert.deepEqual(seen.requests, ['rtx']);
  });
});
