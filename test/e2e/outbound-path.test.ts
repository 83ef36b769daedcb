// Issue 14: calls towards a WebSocket client that registered through the edge (RFC 3327 Path with
// an RFC 5626 flow token, as Kamailio's path + outbound modules). The client (Node `ws`, the `sip`
// subprotocol) registers a `.invalid` Contact, which nothing can reach, via the edge to a sipp
// registrar; the edge adds its Path. The registrar then sends an INVITE to that Contact with the
// Path as its Route, and the edge must deliver it over the client's own WebSocket connection; the
// registrar's ACK and BYE, routed by the Record-Route set of the 200 to that Contact, too.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { startEdge } from '@sipfleet/test-helpers/edge';
import { freePort } from '@sipfleet/test-helpers/ports';
import { startSipp } from '@sipfleet/test-helpers/sipp';
import { answer, StreamConnection } from '@sipfleet/test-helpers/stream-ua';
import WebSocket, { createWebSocketStream } from 'ws';

describe('outbound: Path on REGISTER over WebSocket', { concurrency: 1 }, () => {
  test('a REGISTER over WS gets a flow-token Path; the registrar INVITE to the .invalid Contact reaches the client over its WebSocket', async (t) => {
    const registrarPort = await freePort();
    const registrar = await startSipp({
      scenario: 'uas-register-path-invite',
      localPort: registrarPort,
      maxCalls: 1,
      owner: t,
    });
    const udpPort = await freePort();
    const wsPort = await freePort();
    await startEdge(t, {
      listen: [
        { protocol: 'udp', address: '127.0.0.1', port: udpPort },
        { protocol: 'ws', address: '127.0.0.1', port: wsPort },
      ],
      routing: { allowRelay: true },
    });

    const ws = new WebSocket(`ws://127.0.0.1:${wsPort}`, ['sip']);
    t.after(() => ws.terminate());
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const client = new StreamConnection(createWebSocketStream(ws));
    const contact = '<sip:alice@df7jal23ls0d.invalid;transport=ws>';
    client.send(
      `REGISTER sip:127.0.0.1:${registrarPort} SIP/2.0\r\n` +
        `Via: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bK${randomBytes(6).toString('hex')}\r\n` +
        `From: <sip:alice@example.com>;tag=${randomBytes(4).toString('hex')}\r\n` +
        `To: <sip:alice@example.com>\r\n` +
        `Call-ID: ${randomBytes(8).toString('hex')}\r\n` +
        `CSeq: 1 REGISTER\r\n` +
        `Contact: ${contact}\r\n` +
        `Supported: path, outbound\r\n` +
        `Max-Forwards: 70\r\n` +
        `Expires: 60\r\n` +
        `Content-Length: 0\r\n\r\n`,
    );
    const registered = await client.final('REGISTER');
    assert.equal(registered.status, 200);
    // The registrar echoed the Path it stored: ours, facing it over UDP, a flow token for the user.
    assert.match(
      registered.getHeader('path') ?? '',
      new RegExp(`^<sip:[^@]+@127\\.0\\.0\\.1:${udpPort};lr;ob>$`),
    );

    // The registrar's INVITE to the unreachable Contact came over this WebSocket, through the edge.
    const invite = await client.request('INVITE');
    assert.equal(invite.uri, 'sip:alice@df7jal23ls0d.invalid;transport=ws');
    assert.match(invite.topVia?.toString() ?? '', /^SIP\/2\.0\/WS 127\.0\.0\.1:/);
    assert.equal(invite.hasHeader('route'), false, 'the edge popped its Path route');
    client.send(answer(invite, 200, contact).toBuffer().toString('latin1'));

    // The caller's ACK and BYE follow the Record-Route facing the client: its flow token, bound
    // to the caller's From tag, not the .invalid Contact.
    const ack = await client.request('ACK');
    assert.equal(ack.uri, 'sip:alice@df7jal23ls0d.invalid;transport=ws');
    assert.equal(ack.callId, invite.callId);
    const bye = await client.request('BYE');
    assert.equal(bye.callId, invite.callId);
    assert.equal(bye.hasHeader('route'), false, 'the edge popped its Record-Route entries');
    client.send(answer(bye, 200, contact).toBuffer().toString('latin1'));

    const stats = await registrar.waitForExit(30_000);
    assert.equal(stats.successful, 1, stats.errors.join('\n'));
    assert.equal(stats.failed, 0);
  });
});
