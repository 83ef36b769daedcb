import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { TransportError, TransportErrorCode, TransportLayer } from '../src/index.js';
import { closedPort, inbox, rawClient, sipMessage } from './helpers.js';

describe('TCP transport (RFC 3261 sections 18.2.2, 18.3; RFC 5626 3.5.1)', () => {
  let server: TransportLayer;
  let client: TransportLayer;
  let serverPort: number;
  before(async () => {
    server = await TransportLayer.listen(
      [
        { protocol: 'tcp', address: '127.0.0.1', port: 0 },
        { protocol: 'tcp', address: '::1', port: 0 },
      ],
      { maxMessageBytes: 1000 },
    );
    client = await TransportLayer.listen([{ protocol: 'tcp', address: '127.0.0.1', port: 0 }]);
    serverPort = server.sentBy('tcp', 'IPv4').port;
  });
  after(async () => {
    await client.close();
    await server.close();
  });

  it('frames messages split across chunks and several messages in one chunk', async (t) => {
    const inS = inbox(server);
    const peer = await rawClient(serverPort);
    t.after(() => peer.socket.destroy());
    const m1 = sipMessage('split', 'body with\r\n\r\ninside');
    const m2 = sipMessage('two');
    const m3 = sipMessage('three', 'xyz');
    peer.socket.write(m1.subarray(0, 10));
    await new Promise((resolve) => setImmediate(resolve));
    peer.socket.write(m1.subarray(10, m1.length - 3));
    await new Promise((resolve) => setImmediate(resolve));
    peer.socket.write(Buffer.concat([m1.subarray(m1.length - 3), m2, m3]));
    assert.deepEqual((await inS.next()).data, m1);
    const second = await inS.next();
    assert.deepEqual(second.data, m2);
    assert.deepEqual((await inS.next()).data, m3);
    assert.equal(second.remote.protocol, 'tcp');
    assert.equal(second.remote.address, '127.0.0.1');
    assert.equal(second.remote.port, peer.socket.localPort);
    assert.equal(typeof second.remote.connectionId, 'number');
    assert.deepEqual(second.remote.local, { address: '127.0.0.1', port: serverPort });
  });

  it('answers a double-CRLF ping with one CRLF and keeps framing after it', async (t) => {
    const inS = inbox(server);
    const peer = await rawClient(serverPort);
    t.after(() => peer.socket.destroy());
    peer.socket.write('\r\n\r\n');
    await peer.waitFor('\r\n');
    assert.equal(peer.received(), '\r\n');
    peer.socket.write(Buffer.concat([Buffer.from('\r\n\r\n'), sipMessage('after-ping')]));
    assert.deepEqual((await inS.next()).data, sipMessage('after-ping'));
    await peer.waitFor('\r\n\r\n'); // the second pong
    assert.equal(peer.received(), '\r\n\r\n');
  });

  it('drops an oversize message and closes the connection', async () => {
    const inS = inbox(server);
    const peer = await rawClient(serverPort);
    peer.socket.write(sipMessage('big', 'x'.repeat(2000)));
    const drop = await inS.nextDrop();
    assert.equal(drop.reason, TransportErrorCode.MessageTooLarge);
    assert.equal(drop.remote.port, peer.socket.localPort);
    await peer.closed;
    assert.equal(inS.messages.length, 0);
  });

  it('drops a message without Content-Length and closes the connection', async () => {
    const inS = inbox(server);
    const peer = await rawClient(serverPort);
    peer.socket.write('OPTIONS sip:a@b SIP/2.0\r\nCall-ID: nocl\r\n\r\n');
    const drop = await inS.nextDrop();
    assert.equal(drop.reason, TransportErrorCode.FramingNoContentLength);
    await peer.closed;
  });

  it('answers over the connection a request came on (accepted side, by id and by address)', async (t) => {
    const inS = inbox(server);
    const peer = await rawClient(serverPort);
    t.after(() => peer.socket.destroy());
    peer.socket.write(sipMessage('req'));
    const { remote } = await inS.next();
    const before = server.tcpConnectionCount;
    // By connectionId, with a wrong fallback address: the open connection wins.
    server.send(
      { protocol: 'tcp', address: '127.0.0.1', port: 1, connectionId: remote.connectionId },
      sipMessage('by-id'),
    );
    await peer.waitFor('by-id');
    // By the peer's address:port (e.g. a new request towards a client that connected to us).
    server.send(
      { protocol: 'tcp', address: remote.address, port: remote.port },
      sipMessage('by-addr'),
    );
    await peer.waitFor('by-addr');
    assert.equal(server.tcpConnectionCount, before);
  });

  it('opens one connection on demand, queues sends while connecting, and reuses it both ways', async () => {
    const inS = inbox(server);
    const inC = inbox(client);
    const target = { protocol: 'tcp' as const, address: '127.0.0.1', port: serverPort };
    const errors: Error[] = [];
    for (const id of ['q1', 'q2', 'q3']) client.send(target, sipMessage(id), (e) => errors.push(e));
    const got = [await inS.next(), await inS.next(), await inS.next()];
    assert.deepEqual(
      got.map((m) => m.data),
      ['q1', 'q2', 'q3'].map((id) => sipMessage(id)),
    );
    const connectionId = got[0]?.remote.connectionId;
    assert.ok(got.every((m) => m.remote.connectionId === connectionId));
    assert.equal(client.tcpConnectionCount, 1);
    // The server answers on that connection; the client sees it on its outgoing connection.
    server.send({ ...target, address: '127.0.0.1', port: 1, connectionId }, sipMessage('resp'));
    const back = await inC.next();
    assert.deepEqual(back.data, sipMessage('resp'));
    assert.deepEqual(back.remote.local, { address: '127.0.0.1', port: client.sentBy('tcp').port });
    // A later request to the same address reuses the connection.
    client.send(target, sipMessage('again'));
    const again = await inS.next();
    assert.equal(again.remote.connectionId, connectionId);
    assert.equal(client.tcpConnectionCount, 1);
    assert.deepEqual(errors, []);
  });

  it('opens an IPv6 connection to an IPv6 target', async (t) => {
    const v6 = await TransportLayer.listen([{ protocol: 'tcp', address: '::1', port: 0 }]);
    t.after(() => v6.close());
    const inS = inbox(server);
    v6.send(
      { protocol: 'tcp', address: '::1', port: server.sentBy('tcp', 'IPv6').port },
      sipMessage('six'),
    );
    const got = await inS.next();
    assert.equal(got.remote.family, 'IPv6');
    assert.equal(got.remote.address, '::1');
    assert.deepEqual(got.data, sipMessage('six'));
  });

  it('reports a refused connect through onError of every queued send', async () => {
    const port = await closedPort();
    const target = { protocol: 'tcp' as const, address: '127.0.0.1', port };
    const errors = await Promise.all(
      [1, 2].map(
        (n) => new Promise<Error>((resolve) => client.send(target, sipMessage(`r${n}`), resolve)),
      ),
    );
    for (const err of errors) {
      assert.ok(err instanceof TransportError);
      assert.equal(err.code, TransportErrorCode.Connect);
      assert.equal((err.cause as NodeJS.ErrnoException).code, 'ECONNREFUSED');
    }
  });

  it('reports a TCP target of a family with no listener as NO_SOCKET', async () => {
    const err = await new Promise<Error>((resolve) =>
      client.send({ protocol: 'tcp', address: '::1', port: 5060 }, sipMessage('x'), resolve),
    );
    assert.equal((err as TransportError).code, TransportErrorCode.NoSocket);
  });

  it('closes a brand-new connection that never sends anything after tcpIdleTimeoutMs', async (t) => {
    const short = await TransportLayer.listen(
      [{ protocol: 'tcp', address: '127.0.0.1', port: 0 }],
      {
        tcpIdleTimeoutMs: 50,
      },
    );
    t.after(() => short.close());
    const peer = await rawClient(short.sentBy('tcp').port);
    await peer.closed; // would hang (test timeout) if the idle timer did not fire
    // The server side sees its 'close' a moment after the peer does.
    while (short.tcpConnectionCount > 0) await new Promise((resolve) => setImmediate(resolve));
  });

  it('flow tokens (RFC 5626 5.3): name the connection for the tag minted with only, die with it, cannot be forged', async (t) => {
    const inS = inbox(server);
    const peer = await rawClient(serverPort);
    t.after(() => peer.socket.destroy());
    peer.socket.write(sipMessage('flow'));
    const { remote } = await inS.next();
    const token = server.flowToken(remote, 'caller-tag');
    assert.ok(token !== undefined);
    assert.deepEqual(server.flowTarget(token, 'caller-tag'), {
      protocol: 'tcp',
      address: '127.0.0.1',
      port: peer.socket.localPort,
      connectionId: remote.connectionId,
    });
    assert.equal(server.flowTarget(token, 'callee-tag'), undefined, 'another dialog side');
    const forged = `${token.slice(0, token.indexOf('.'))}.AAAAAAAAAAAAAAAA`;
    assert.equal(server.flowTarget(forged, 'caller-tag'), undefined);
    assert.equal(server.flowTarget('garbage', 'caller-tag'), undefined);
    assert.equal(server.flowToken({ ...remote, protocol: 'udp' }, 'caller-tag'), undefined);
    const target = server.flowTarget(token, 'caller-tag');
    assert.ok(target !== undefined);
    server.send(target, sipMessage('back-over-the-flow'));
    await peer.waitFor('back-over-the-flow');
    peer.socket.destroy();
    while (server.flowTarget(token, 'caller-tag') !== undefined) {
      await new Promise((resolve) => setImmediate(resolve));
    }
  });

  it('does not close a connection that carries a dialog as idle', async (t) => {
    const short = await TransportLayer.listen(
      [{ protocol: 'tcp', address: '127.0.0.1', port: 0 }],
      {
        tcpIdleTimeoutMs: 50,
      },
    );
    t.after(() => short.close());
    const inS = inbox(short);
    const dialogPeer = await rawClient(short.sentBy('tcp').port);
    t.after(() => dialogPeer.socket.destroy());
    dialogPeer.socket.write(sipMessage('invite'));
    const { remote } = await inS.next();
    const token = short.flowToken(remote, 'tag');
    assert.ok(token !== undefined);
    // Opened later and idle for as long: once it is closed, the dialog's would have been too.
    const idlePeer = await rawClient(short.sentBy('tcp').port);
    await idlePeer.closed;
    assert.notEqual(short.flowTarget(token, 'tag'), undefined);
    assert.equal(dialogPeer.socket.destroyed, false);
  });

  it('closes the N+1th inbound connection from one address, not one from another address', async (t) => {
    const limited = await TransportLayer.listen(
      [{ protocol: 'tcp', address: '0.0.0.0', port: 0 }],
      { maxConnectionsPerSource: 3 },
    );
    t.after(() => limited.close());
    const inL = inbox(limited);
    const port = limited.sentBy('tcp').port;
    const peers: Awaited<ReturnType<typeof rawClient>>[] = [];
    for (let i = 0; i < 3; i++) peers.push(await rawClient(port));
    t.after(() => peers.forEach((p) => p.socket.destroy()));
    // Accepted connections register on the server's 'connection' event, after the client's 'connect'.
    while (limited.tcpConnectionCount < 3) await new Promise((resolve) => setImmediate(resolve));
    const extra = await rawClient(port);
    const extraPort = extra.socket.localPort;
    await extra.closed;
    const drop = await inL.nextDrop();
    assert.equal(drop.reason, TransportErrorCode.ConnectionsPerSource);
    assert.equal(drop.remote.address, '127.0.0.1');
    assert.equal(drop.remote.port, extraPort);
    // Another source address (127.0.0.2 is loopback too) still gets in and is served.
    const other = net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.2' });
    t.after(() => other.destroy());
    await new Promise<void>((resolve) => other.once('connect', () => resolve()));
    other.write(sipMessage('other-source'));
    const got = await inL.next();
    assert.equal(got.remote.address, '127.0.0.2');
    // The held connections still work, and closing one frees a slot for that address.
    peers[0]?.socket.write(sipMessage('still-open'));
    assert.deepEqual((await inL.next()).data, sipMessage('still-open'));
    peers[0]?.socket.destroy();
    while (limited.tcpConnectionCount > 3) await new Promise((resolve) => setImmediate(resolve));
    const again = await rawClient(port);
    t.after(() => again.socket.destroy());
    again.socket.write(sipMessage('slot-freed'));
    assert.deepEqual((await inL.next()).data, sipMessage('slot-freed'));
    assert.equal(inL.dropped.length, 1);
  });

  it('does not count connections it opened against the per-source limit', async (t) => {
    const limited = await TransportLayer.listen(
      [{ protocol: 'tcp', address: '127.0.0.1', port: 0 }],
      { maxConnectionsPerSource: 1 },
    );
    t.after(() => limited.close());
    const inL = inbox(limited);
    const inS = inbox(server);
    // Outbound from `limited` to the server (peer 127.0.0.1), then an inbound one from 127.0.0.1.
    limited.send({ protocol: 'tcp', address: '127.0.0.1', port: serverPort }, sipMessage('out'));
    await inS.next();
    const peer = await rawClient(limited.sentBy('tcp').port);
    t.after(() => peer.socket.destroy());
    peer.socket.write(sipMessage('in'));
    assert.deepEqual((await inL.next()).data, sipMessage('in'));
    assert.equal(inL.dropped.length, 0);
  });

  it('closes a connection holding an incomplete message for tcpMessageTimeoutMs (slowloris)', async (t) => {
    // The idle timeout is long: only the message timeout can close it within the test.
    const short = await TransportLayer.listen(
      [{ protocol: 'tcp', address: '127.0.0.1', port: 0 }],
      { tcpIdleTimeoutMs: 600_000, tcpMessageTimeoutMs: 100 },
    );
    t.after(() => short.close());
    const inS = inbox(short);
    const peer = await rawClient(short.sentBy('tcp').port);
    const peerPort = peer.socket.localPort;
    // One whole message (no timer after it), then the first half of the next one.
    const next = sipMessage('partial');
    peer.socket.write(Buffer.concat([sipMessage('whole'), next.subarray(0, 40)]));
    assert.deepEqual((await inS.next()).data, sipMessage('whole'));
    await peer.closed; // would hang (test timeout) if the message timer did not fire
    const drop = await inS.nextDrop();
    assert.equal(drop.reason, TransportErrorCode.MessageTimeout);
    assert.equal(drop.remote.port, peerPort);
    assert.equal(inS.messages.length, 1);
  });

  it('keeps a connection whose messages complete, and answers pings, past tcpMessageTimeoutMs', async (t) => {
    const short = await TransportLayer.listen(
      [{ protocol: 'tcp', address: '127.0.0.1', port: 0 }],
      { tcpMessageTimeoutMs: 30 },
    );
    t.after(() => short.close());
    const inS = inbox(short);
    const peer = await rawClient(short.sentBy('tcp').port);
    t.after(() => peer.socket.destroy());
    // Each message completes in a later chunk than it started (partial for a moment, each time).
    for (let i = 0; i < 5; i++) {
      const m = sipMessage(`m${i}`);
      peer.socket.write(m.subarray(0, 20));
      await new Promise((resolve) => setImmediate(resolve));
      peer.socket.write(m.subarray(20));
      assert.deepEqual((await inS.next()).data, m);
    }
    // A timer left running by a completed message would fire within a few of its periods; a ping
    // round trip after that proves the connection is still open.
    const start = Date.now();
    while (Date.now() - start < 100) {
      peer.socket.write('\r\n\r\n');
      await peer.waitFor('\r\n'.repeat(peer.received().length / 2 + 1));
    }
    assert.equal(inS.dropped.length, 0);
  });

  it('fails sends pending at close(), and refuses later sends with CLOSED', async () => {
    const layer = await TransportLayer.listen([{ protocol: 'tcp', address: '127.0.0.1', port: 0 }]);
    // 192.0.2.0/24 (TEST-NET-1) is not routed: the connect stays pending until we close.
    const pending = new Promise<Error>((resolve) =>
      layer.send({ protocol: 'tcp', address: '192.0.2.1', port: 5060 }, sipMessage('x'), resolve),
    );
    await layer.close();
    const err = (await pending) as TransportError;
    assert.ok(
      ([TransportErrorCode.Closed, TransportErrorCode.Connect] as string[]).includes(err.code),
    );
    const later = await new Promise<Error>((resolve) =>
      layer.send({ protocol: 'tcp', address: '127.0.0.1', port: 1 }, sipMessage('x'), resolve),
    );
    assert.equal((later as TransportError).code, TransportErrorCode.Closed);
  });
});
