// Memory is bounded: thousands of INVITE and BYE transactions between two real layers, over a lossy
// in-memory network, with every kind of ending (2xx, non-2xx, CANCEL, timeouts); once time has passed every
// timer, both tables are empty and no timer is left.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createResponse, newBranch } from '@sipfleet/sip';
import type { SipRequest, SipResponse } from '@sipfleet/sip';
import { InMemoryNetwork } from '@sipfleet/transport';
import type { TransportProtocol } from '@sipfleet/transport';
import { ManualClock, TransactionLayer } from '../src/index.js';
import type { ClientTransaction, ServerTransaction, TransactionUser } from '../src/index.js';
import { parse, request, TIMERS } from './helpers.js';

const CALLS = 1500;

test(`${CALLS} INVITE + ${CALLS} BYE transactions leave both tables empty`, (t) => {
  const clock = new ManualClock();
  const net = new InMemoryNetwork();
  // Deterministic loss: every 7th UDP packet, so retransmission paths run everywhere.
  net.fate = (packet) => (packet.seq % 7 === 3 ? 'drop' : 'deliver');
  const a = net.endpoint('10.0.0.1', 5060);
  const b = net.endpoint('10.0.0.2', 5060);
  t.after(() => {
    a.close();
    b.close();
  });

  const serverSide: TransactionUser = {
    onRequest(req: SipRequest, tx: ServerTransaction | null) {
      if (tx === null) return; // 2xx ACKs
      const n = Number(req.callId.split('-')[1]);
      if (req.method === 'BYE') tx.respond(createResponse(req, 200));
      else if (n % 4 === 0) tx.respond(createResponse(req, 200, undefined, { toTag: `t${n}` }));
      else if (n % 4 === 1) tx.respond(createResponse(req, 486, undefined, { toTag: `t${n}` }));
      else if (n % 4 === 2) tx.respond(createResponse(req, 180, undefined, { toTag: `t${n}` }));
      else {
        tx.respond(createResponse(req, 183, undefined, { toTag: `t${n}` }));
        tx.respond(createResponse(req, 603, undefined, { toTag: `t${n}` }));
      }
    },
    onCancel(_cancel, inviteTx) {
      inviteTx.respond(createResponse(inviteTx.request, 487, undefined, { toTag: 'c' }));
    },
    onStrayResponse() {},
  };
  const server = new TransactionLayer({ sender: b, user: serverSide, timers: TIMERS, clock });
  const client = new TransactionLayer({
    sender: a,
    user: { onRequest() {}, onCancel() {}, onStrayResponse() {} },
    timers: TIMERS,
    clock,
  });
  t.after(() => {
    client.close();
    server.close();
  });
  let retransmissions = 0;
  client.onRetransmission = () => retransmissions++;
  server.onRetransmission = () => retransmissions++;
  a.onMessage = (data, remote) => client.receive(parse(data), remote);
  b.onMessage = (data, remote) => server.receive(parse(data), remote);

  const outcomes = new Map<ClientTransaction, string>();
  // The TU runs Timer C, as a proxy does (section 16.8): an INVITE client transaction in Proceeding has no
  // timer of its own (a lost 2xx after a 100 would keep it forever); on Timer C the TU cancels, and 64*T1
  // later the transaction gives up (section 9.1).
  // (Timer C belongs to the proxy, as its per-branch fr_inv_timer: the layer has no setting for it.)
  const TIMER_C_MS = 10_000;
  const timerC = new Map<ClientTransaction, unknown>();
  const settle = (tx: ClientTransaction, outcome: string) => {
    assert.equal(outcomes.get(tx), 'pending', `${tx.method} ${tx.branch} settled twice`);
    outcomes.set(tx, outcome);
    clock.clearTimeout(timerC.get(tx));
    timerC.delete(tx);
  };
  const handlers = {
    onResponse(res: SipResponse, tx: ClientTransaction) {
      if (res.status === 180 && tx.method === 'INVITE') tx.cancel();
      if (res.status < 200 || outcomes.get(tx) !== 'pending') return; // provisional, or a 2xx retransmission
      settle(tx, String(res.status));
      if (res.status < 300) {
        // The 2xx ACK is end to end: sent directly, not in a transaction.
        const ack = request({
          method: 'ACK',
          branch: newBranch(),
          callId: tx.request.callId,
          cseq: 1,
          toTag: res.to.tag ?? 'none',
        });
        a.send(tx.target, ack.toBuffer());
      }
    },
    onTimeout: (tx: ClientTransaction) => settle(tx, 'timeout'),
    onTransportError: (tx: ClientTransaction) => settle(tx, 'error'),
  };

  for (let n = 0; n < CALLS; n++) {
    const protocol: TransportProtocol = n % 5 === 0 ? 'tcp' : 'udp';
    const target = { protocol, address: '10.0.0.2', port: 5060 };
    for (const method of ['INVITE', 'BYE']) {
      const req = request({
        method,
        branch: newBranch(),
        transport: protocol,
        callId: `call-${n}`,
        cseq: method === 'BYE' ? 2 : 1,
      });
      const tx = client.sendRequest(req, target, handlers);
      outcomes.set(tx, 'pending');
      if (method === 'INVITE')
        timerC.set(
          tx,
          clock.setTimeout(() => tx.cancel(), TIMER_C_MS),
        );
    }
    net.flush();
  }
  assert.ok(client.counts.client > 0 && server.counts.server > 0);

  while (clock.now() < 40_000) {
    clock.advance(50);
    net.flush();
  }

  assert.deepEqual(client.counts, { server: 0, client: 0 });
  assert.deepEqual(server.counts, { server: 0, client: 0 });
  assert.equal(clock.pending, 0);
  assert.ok(retransmissions > 0, 'the lossy network exercised retransmissions');
  const tally = new Map<string, number>();
  for (const [tx, outcome] of outcomes) {
    const k = `${tx.method} ${outcome}`;
    tally.set(k, (tally.get(k) ?? 0) + 1);
  }
  assert.equal(tally.get('INVITE pending'), undefined);
  assert.equal(tally.get('BYE pending'), undefined);
  assert.equal(tally.get('BYE 200'), CALLS, 'BYE always gets through (Timer E)');
  // A lost 2xx is retransmitted by a UAS core, which this TU is not: those INVITEs time out (Timer B).
  for (const status of ['486', '487', '603'])
    assert.equal(tally.get(`INVITE ${status}`), CALLS / 4);
  assert.equal((tally.get('INVITE 200') ?? 0) + (tally.get('INVITE timeout') ?? 0), CALLS / 4);
});
