import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import {
  TransportError,
  TransportErrorCode,
  TransportLayer,
  parseSocketSpec,
} from '../src/index.js';
import { bindUdp } from '../src/udp.js';
import { inbox, sipMessage } from './helpers.js';

/** A bare UDP socket on 127.0.0.1 that ignores what it receives: for the send paths. */
function sendOnlySocket(udpEngine: 'native' | 'dgram'): ReturnType<typeof bindUdp> {
  return bindUdp(
    {
      address: '127.0.0.1',
      port: 0,
      maxMessageBytes: 2000,
      recvBufferSize: 0,
      sendBufferSize: 0,
      onMessage: () => undefined,
      onDropped: () => undefined,
    },
    udpEngine,
  );
}

// Both engines: the addon (IPv4 listeners) and node:dgram (docs/architecture.md, "UDP engine").
for (const udpEngine of ['native', 'dgram'] as const)
  describe(`UDP transport (RFC 3261 section 18), ${udpEngine} engine`, () => {
    let a: TransportLayer;
    let b: TransportLayer;
    before(async () => {
      a = await TransportLayer.listen(
        [
          { protocol: 'udp', address: '127.0.0.1', port: 0 },
          { protocol: 'udp', address: '::1', port: 0 },
        ],
        { maxMessageBytes: 2000, udpEngine },
      );
      b = await TransportLayer.listen(
        [
          {
            protocol: 'udp',
            address: '127.0.0.1',
            port: 0,
            advertise: { host: 'edge.example.com' },
          },
          { protocol: 'udp', address: '::1', port: 0 },
        ],
        { udpEngine },
      );
    });
    after(async () => {
      await a.close();
      await b.close();
    });

    it('reports the bound sockets with their ephemeral ports', () => {
      assert.equal(a.sockets.length, 2);
      for (const s of a.sockets) {
        assert.equal(s.protocol, 'udp');
        assert.ok(s.port > 0);
      }
      assert.deepEqual(a.sockets.map((s) => s.address).sort(), ['127.0.0.1', '::1']);
    });

    it('round-trips a datagram over IPv4 with the source address in RemoteInfo', async () => {
      const inA = inbox(a);
      const inB = inbox(b);
      const aPort = a.sentBy('udp', 'IPv4').port;
      const bPort = b.sockets.find((s) => s.address === '127.0.0.1')?.port as number;
      const request = sipMessage('v4');
      a.send({ protocol: 'udp', address: '127.0.0.1', port: bPort }, request);
      const got = await inB.next();
      assert.deepEqual(got.data, request);
      assert.deepEqual(got.remote, {
        protocol: 'udp',
        address: '127.0.0.1',
        port: aPort,
        family: 'IPv4',
        local: { address: '127.0.0.1', port: bPort },
      });
      b.send(
        { protocol: 'udp', address: got.remote.address, port: got.remote.port },
        sipMessage('r'),
      );
      assert.deepEqual((await inA.next()).data, sipMessage('r'));
    });

    it('round-trips a datagram over IPv6, choosing the socket by family', async () => {
      const inB = inbox(b);
      const bPort = b.sockets.find((s) => s.address === '::1')?.port as number;
      a.send({ protocol: 'udp', address: '::1', port: bPort }, sipMessage('v6'));
      const got = await inB.next();
      assert.deepEqual(got.data, sipMessage('v6'));
      assert.equal(got.remote.family, 'IPv6');
      assert.equal(got.remote.address, '::1');
      assert.equal(got.remote.port, a.sentBy('udp', 'IPv6').port);
    });

    it('advertises the configured host, or the bound address (IPv6 in brackets)', () => {
      const bPort = b.sockets.find((s) => s.address === '127.0.0.1')?.port as number;
      assert.deepEqual(b.sentBy('udp'), { host: 'edge.example.com', port: bPort });
      assert.equal(a.sentBy('udp', 'IPv6').host, '[::1]');
      assert.equal(a.sentBy('udp').host, '127.0.0.1');
      assert.throws(() => a.sentBy('tcp'), { code: TransportErrorCode.NoSocket });
    });

    it('drops an oversize datagram and ignores CRLF keep-alives', async (t) => {
      const inA = inbox(a);
      const raw = dgram.createSocket('udp4');
      t.after(() => raw.close());
      const aPort = a.sentBy('udp', 'IPv4').port;
      raw.send(Buffer.alloc(2001, 0x41), aPort, '127.0.0.1');
      const drop = await inA.nextDrop();
      assert.equal(drop.reason, TransportErrorCode.MessageTooLarge);
      assert.equal(drop.remote.address, '127.0.0.1');
      raw.send(Buffer.from('\r\n\r\n'), aPort, '127.0.0.1');
      raw.send(sipMessage('after-ping'), aPort, '127.0.0.1');
      const got = await inA.next();
      assert.deepEqual(got.data, sipMessage('after-ping'));
      assert.equal(inA.messages.length, 1);
      assert.equal(inA.dropped.length, 1);
    });

    it('delivers a burst whole and in order, each datagram with its own source', async (t) => {
      const inA = inbox(a);
      const aPort = a.sentBy('udp', 'IPv4').port;
      const raws = [dgram.createSocket('udp4'), dgram.createSocket('udp4')];
      t.after(() => raws.forEach((r) => r.close()));
      await Promise.all(raws.map((r) => new Promise<void>((ok) => r.bind(0, '127.0.0.1', ok))));
      // more than one recvmmsg batch (64) from two sources, interleaved
      for (let i = 0; i < 150; i++) raws[i % 2]?.send(sipMessage(`burst-${i}`), aPort, '127.0.0.1');
      for (let i = 0; i < 150; i++) {
        const got = await inA.next();
        assert.deepEqual(got.data, sipMessage(`burst-${i}`));
        assert.equal(got.remote.port, raws[i % 2]?.address().port);
        assert.equal(got.remote.address, '127.0.0.1');
      }
    });

    it('reports a send it cannot make through onError, asynchronously', async () => {
      const v4only = await TransportLayer.listen(
        [{ protocol: 'udp', address: '127.0.0.1', port: 0 }],
        { udpEngine },
      );
      let sync = true;
      const err = await new Promise<Error>((resolve) => {
        v4only.send({ protocol: 'udp', address: '::1', port: 5060 }, sipMessage('x'), resolve);
        sync = false;
      });
      assert.equal(sync, false);
      assert.ok(err instanceof TransportError);
      assert.equal(err.code, TransportErrorCode.NoSocket);
      const tooBig = await new Promise<Error>((resolve) => {
        v4only.send(
          { protocol: 'udp', address: '127.0.0.1', port: 9 },
          Buffer.alloc(70_000),
          resolve,
        );
      });
      assert.equal((tooBig as TransportError).code, TransportErrorCode.Send);
      await v4only.close();
      const closed = await new Promise<Error>((resolve) => {
        v4only.send({ protocol: 'udp', address: '127.0.0.1', port: 9 }, sipMessage('x'), resolve);
      });
      assert.equal((closed as TransportError).code, TransportErrorCode.Closed);
    });

    it('reports a send after close instead of making it', async () => {
      const socket = await sendOnlySocket(udpEngine);
      await socket.close();
      // a loop turn later the native engine has freed the socket: the send must not reach it
      await new Promise((resolve) => setImmediate(resolve));
      const err = await new Promise<Error>((resolve) => {
        socket.send(sipMessage('late'), 9, '127.0.0.1', resolve);
      });
      assert.equal((err as TransportError).code, TransportErrorCode.Send);
    });

    it('frees its port on close: the same port binds again', async () => {
      const first = await TransportLayer.listen(
        [{ protocol: 'udp', address: '127.0.0.1', port: 0 }],
        { udpEngine },
      );
      const port = first.sentBy('udp').port;
      await first.close();
      const again = await TransportLayer.listen([{ protocol: 'udp', address: '127.0.0.1', port }], {
        udpEngine,
      });
      assert.equal(again.sentBy('udp').port, port);
      await again.close();
    });

    it('rejects listen on a port in use with a typed error', async () => {
      const port = a.sentBy('udp', 'IPv4').port;
      await assert.rejects(
        TransportLayer.listen([{ protocol: 'udp', address: '127.0.0.1', port }], { udpEngine }),
        { code: TransportErrorCode.Listen },
      );
    });
  });

// The native engine queues a turn's sends and hands them to the kernel together (sendmmsg); a
// datagram the kernel refuses must still reach its own onError. (node:dgram's try-send reports
// such failures on the socket's 'error' listener instead: see UdpSocket.send.)
describe('UDP native engine: the send queue', () => {
  it('reports the one datagram the kernel refuses among several sent in one turn', async (t) => {
    const b = await TransportLayer.listen([{ protocol: 'udp', address: '127.0.0.1', port: 0 }], {
      udpEngine: 'native',
    });
    t.after(() => b.close());
    const inB = inbox(b);
    const bPort = b.sentBy('udp').port;
    const socket = await sendOnlySocket('native');
    t.after(() => socket.close());
    const others: Error[] = [];
    socket.send(sipMessage('first'), bPort, '127.0.0.1', (err) => others.push(err));
    // broadcast without SO_BROADCAST: Linux refuses it with EACCES
    const refused = new Promise<Error>((resolve) => {
      socket.send(sipMessage('refused'), bPort, '255.255.255.255', resolve);
    });
    socket.send(sipMessage('third'), bPort, '127.0.0.1', (err) => others.push(err));
    const err = await refused;
    assert.equal((err as TransportError).code, TransportErrorCode.Send);
    assert.match(err.message, /255\.255\.255\.255:\d+ failed: .*EACCES/);
    assert.deepEqual((await inB.next()).data, sipMessage('first'));
    assert.deepEqual((await inB.next()).data, sipMessage('third'));
    assert.deepEqual(others, []);
  });

  it('sends more datagrams than the queue holds in one turn, every one in order', async (t) => {
    const layers = await Promise.all(
      [0, 1].map(() =>
        TransportLayer.listen([{ protocol: 'udp', address: '127.0.0.1', port: 0 }], {
          udpEngine: 'native',
          udpRecvBufferSize: 1 << 20,
        }),
      ),
    );
    const [a, b] = layers as [TransportLayer, TransportLayer];
    t.after(() => Promise.all(layers.map((l) => l.close())));
    const inB = inbox(b);
    const errors: Error[] = [];
    // 64 datagrams fill the queue, and 4 of 40 kB do not fit its area together
    const sent = [
      ...Array.from({ length: 150 }, (_, i) => sipMessage(`small-${i}`)),
      ...Array.from({ length: 4 }, (_, i) => sipMessage(`large-${i}`, 'x'.repeat(40_000))),
    ];
    for (const data of sent) {
      a.send({ protocol: 'udp', address: '127.0.0.1', port: b.sentBy('udp').port }, data, (err) =>
        errors.push(err),
      );
    }
    for (const data of sent) assert.deepEqual((await inB.next()).data, data);
    assert.deepEqual(errors, []);
  });
});

describe('UDP: several sockets of one family (force_send_socket)', () => {
  it('sends from the default socket, or from the one SendTarget.local names; parseSocketSpec', async () => {
    const multi = await TransportLayer.listen([
      { protocol: 'udp', address: '127.0.0.1', port: 0 },
      { protocol: 'udp', address: '127.0.0.1', port: 0 },
    ]);
    const peer = await TransportLayer.listen([{ protocol: 'udp', address: '127.0.0.1', port: 0 }]);
    try {
      const [first, second] = multi.sockets.map((s) => s.port);
      const to = {
        protocol: 'udp' as const,
        address: '127.0.0.1',
        port: peer.sockets[0]?.port ?? 0,
      };
      const received = inbox(peer);
      multi.send(to, sipMessage('default'));
      assert.equal((await received.next()).remote.port, first);
      multi.send(
        { ...to, local: { address: '127.0.0.1', port: second ?? 0 } },
        sipMessage('forced'),
      );
      assert.equal((await received.next()).remote.port, second);
      const err = await new Promise<Error>((resolve) =>
        multi.send({ ...to, local: { address: '127.0.0.2', port: 5 } }, sipMessage('x'), resolve),
      );
      assert.ok(err instanceof TransportError && err.code === TransportErrorCode.NoSocket);
    } finally {
      await multi.close();
      await peer.close();
    }
    assert.deepEqual(parseSocketSpec('udp:127.0.0.1:5070'), {
      protocol: 'udp',
      address: '127.0.0.1',
      port: 5070,
    });
    assert.deepEqual(parseSocketSpec('TCP:[::1]:5060'), {
      protocol: 'tcp',
      address: '::1',
      port: 5060,
    });
    for (const bad of [
      'udp:host.example.com:5060',
      'sctp:127.0.0.1:5060',
      'udp:127.0.0.1',
      'udp:127.0.0.1:0',
    ]) {
      assert.equal(parseSocketSpec(bad), undefined, bad);
    }
  });
});
