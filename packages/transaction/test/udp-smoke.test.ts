// One real-socket run: two TransportLayers on 127.0.0.1 UDP, a transaction layer on each, the system clock.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createResponse, newBranch, parseMessage, SipRequest } from '@sipfleet/sip';
import { TransportLayer } from '@sipfleet/transport';
import type { SipResponse } from '@sipfleet/sip';
import { SipEndpoint, TransactionLayer } from '../src/index.js';
import type { ClientTransaction, ServerTransaction } from '../src/index.js';

function wire(transport: TransportLayer, layer: TransactionLayer): void {
  const endpoint = new SipEndpoint({ sender: transport, transactions: layer });
  transport.onMessage = (data, remote) => endpoint.receive(data, remote);
}

function invite(
  method: string,
  from: { host: string; port: number },
  to: { port: number },
): SipRequest {
  const msg = parseMessage(
    [
      `${method} sip:bob@127.0.0.1:${to.port} SIP/2.0`,
      `Via: SIP/2.0/UDP ${from.host}:${from.port};branch=${newBranch()};rport`,
      'Max-Forwards: 70',
      '<From>: <sip:alice@127.0.0.1>;tag=a1'.replace('<From>', 'From'),
      'To: <sip:bob@127.0.0.1>',
      `Call-ID: ${newBranch()}@smoke`,
      `CSeq: 1 ${method}`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );
  assert.ok(msg instanceof SipRequest);
  return msg;
}

test('OPTIONS and a rejected INVITE over real UDP sockets', async (t) => {
  const uacTransport = await TransportLayer.listen([
    { protocol: 'udp', address: '127.0.0.1', port: 0 },
  ]);
  t.after(() => uacTransport.close());
  const uasTransport = await TransportLayer.listen([
    { protocol: 'udp', address: '127.0.0.1', port: 0 },
  ]);
  t.after(() => uasTransport.close());

  const serverTxs: ServerTransaction[] = [];
  const acks: SipRequest[] = [];
  const uas = new TransactionLayer({
    sender: uasTransport,
    user: {
      onRequest(req, tx) {
        if (tx === null) {
          acks.push(req);
          return;
        }
        serverTxs.push(tx);
        tx.respond(
          createResponse(req, req.method === 'OPTIONS' ? 200 : 486, undefined, { toTag: 'uas' }),
        );
      },
      onCancel() {},
      onStrayResponse() {},
    },
  });
  t.after(() => uas.close());
  const uac = new TransactionLayer({
    sender: uacTransport,
    user: { onRequest() {}, onCancel() {}, onStrayResponse() {} },
  });
  t.after(() => uac.close());
  wire(uacTransport, uac);
  wire(uasTransport, uas);

  const uasPort = uasTransport.sockets[0]?.port;
  assert.ok(uasPort);
  const target = { protocol: 'udp' as const, address: '127.0.0.1', port: uasPort };
  const send = (req: SipRequest) =>
    new Promise<{ statuses: number[]; tx: ClientTransaction }>((resolve, reject) => {
      const statuses: number[] = [];
      uac.sendRequest(req, target, {
        onResponse(res: SipResponse, tx) {
          statuses.push(res.status);
          if (res.status >= 200) resolve({ statuses, tx });
        },
        onTimeout: () => reject(new Error('timeout')),
        onTransportError: (_tx, err) => reject(err),
      });
    });

  const sentBy = uacTransport.sentBy('udp');
  const options = await send(invite('OPTIONS', sentBy, target));
  assert.deepEqual(options.statuses, [200]);

  const rejected = await send(invite('INVITE', sentBy, target));
  assert.deepEqual(
    rejected.statuses.filter((s) => s !== 100),
    [486],
  );
  assert.equal(rejected.tx.state, 'Completed');
  // The ACK the client transaction generated reaches the server transaction and confirms it.
  const inviteTx = serverTxs[1];
  assert.ok(inviteTx);
  for (let i = 0; i < 100 && inviteTx.state !== 'Confirmed'; i++)
    await new Promise((r) => setTimeout(r, 5));
  assert.equal(inviteTx.state, 'Confirmed');
  assert.equal(acks.length, 0, 'a non-2xx ACK is absorbed by the transaction layer');
});
