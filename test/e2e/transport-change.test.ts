// Issue 14: calls that change transport at the edge (double record-routing, RFC 5658) and
// requests towards a user agent that connected to us going back over its connection (flow tokens,
// RFC 5626 / RFC 5923). sipp on the UDP side; the TCP side is a bare UA on node:net, because
// these tests need what sipp cannot do: a callee that opens its own connection for its BYE, and a
// caller whose Contact nothing listens on.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { describe, test } from 'node:test';
import { parseUri } from '@sipfleet/sip';
import { startEdge } from '@sipfleet/test-helpers/edge';
import { freePort } from '@sipfleet/test-helpers/ports';
import { runSipp, startSipp } from '@sipfleet/test-helpers/sipp';
import {
  answer,
  byeFromCallee,
  callEndedByCallee,
  connectStream,
  StreamListener,
} from '@sipfleet/test-helpers/stream-ua';

describe('transport changes and connection reuse', { concurrency: 1 }, () => {
  test('UDP caller to TCP callee: double Record-Route, transport=tcp on the TCP side; the callee BYE comes over TCP and is relayed', async (t) => {
    const callee = await StreamListener.listen(t);
    const edge = await startEdge(t, {
      routing: { destination: `sip:127.0.0.1:${callee.port};transport=tcp` },
    });
    const caller = runSipp({
      scenario: 'uac-call-callee-bye',
      remote: { host: '127.0.0.1', port: edge.port },
      service: 'bob',
      maxCalls: 1,
      owner: t,
    });
    const fromEdge = await callee.connection();
    const inv = await fromEdge.request('INVITE');
    const rr = inv.getHeaders('record-route');
    assert.equal(rr.length, 2, `two Record-Route values: ${rr.join(', ')}`);
    assert.match(rr[0] ?? '', /^<sip:127\.0\.0\.1:\d+;lr;transport=tcp>$/, 'the TCP side on top');
    assert.match(rr[1] ?? '', /^<sip:127\.0\.0\.1:\d+;lr>$/, 'the UDP side below (UDP: no param)');
    const ok = answer(inv, 200, `<sip:bob@127.0.0.1:${callee.port};transport=tcp>`);
    fromEdge.send(ok.toString());
    await fromEdge.request('ACK');
    // A TCP-only UA sends in-dialog requests to its first Route, over the transport that names,
    // on a connection of its own.
    const first = parseUri((rr[0] ?? '').slice(1, -1));
    assert.equal(first.params.get('transport'), 'tcp');
    const own = await connectStream(t, first.port ?? 5060);
    own.send(byeFromCallee(inv, ok, rr, own.localPort));
    assert.equal((await own.final('BYE')).status, 200, 'the caller answered the relayed BYE');
    const stats = await caller;
    assert.equal(stats.successful, 1, stats.errors.join('\n'));
    const tcpIn = await edge.metric('sipfleet_transport_messages_received_total', {
      transport: 'tcp',
    });
    assert.equal(tcpIn, 2, 'the 200 to the INVITE and the BYE came in over TCP');
  });

  test('transport.udpMtu: a request too big for UDP goes to the same next hop over TCP (RFC 3261 18.1.1)', async (t) => {
    const callee = await StreamListener.listen(t);
    const edge = await startEdge(t, {
      routing: { destination: `sip:127.0.0.1:${callee.port}` }, // UDP by the URI
      transport: { udpMtu: 1500 },
    });
    const socket = createSocket('udp4');
    t.after(() => socket.close());
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const port = socket.address().port;
    const body = `v=0\r\n${'a=x-padding:0123456789abcdef0123456789abcdef\r\n'.repeat(40)}`;
    socket.send(
      `INVITE sip:bob@127.0.0.1:${edge.port} SIP/2.0\r\n` +
        `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bKmtu1;rport\r\n` +
        `From: <sip:alice@127.0.0.1>;tag=mtu\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: mtu-1\r\n` +
        `CSeq: 1 INVITE\r\nContact: <sip:alice@127.0.0.1:${port}>\r\nMax-Forwards: 70\r\n` +
        `Content-Type: application/sdp\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      edge.port,
      '127.0.0.1',
    );
    const inv = await (await callee.connection()).request('INVITE', 'the big INVITE over TCP');
    assert.ok(inv.toBuffer().length > 1300);
    assert.equal(inv.topVia?.transport.toUpperCase(), 'TCP');
    assert.match(
      inv.getHeaders('record-route')[0] ?? '',
      /;transport=tcp>$/,
      'double-RR names TCP',
    );
  });

  test('BYE towards a TCP caller reuses its connection (its Contact is unreachable)', async (t) => {
    const uasPort = await freePort();
    const uas = await startSipp({ scenario: 'uas-call-bye', localPort: uasPort, owner: t });
    const edge = await startEdge(t, { routing: { destination: `sip:127.0.0.1:${uasPort}` } });
    const conn = await connectStream(t, edge.port);
    const call = await callEndedByCallee(conn, edge.port, 'tcp', await freePort());
    assert.equal(call.status, 200);
    assert.match(call.recordRoute[1] ?? '', /^<sip:[^@;]+@127\.0\.0\.1:\d+;lr;transport=tcp>$/);
    const uasStats = await uas.stop();
    assert.equal(uasStats.successful, 1, uasStats.errors.join('\n'));
  });
});
