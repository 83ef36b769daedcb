import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SipResponse } from '@sipfleet/sip';
import { createResponse } from '@sipfleet/sip';
import type { ServerTransaction } from '../src/index.js';
import { Harness, nextTicks, parse, requestText } from './helpers.js';

const INVITE = requestText({ branch: 'z9hG4bKinv' });
const ACK = requestText({ method: 'ACK', branch: 'z9hG4bKinv', cseq: 1, toTag: 'srv' });

function onlyTx(h: Harness): ServerTransaction {
  assert.equal(h.user.requests.length, 1);
  const tx = h.user.requests[0]?.tx;
  assert.ok(tx);
  return tx;
}

test("trying 'immediate': 100 Trying at once, without a To tag; retransmissions get the latest provisional", (t) => {
  const h = new Harness();
  t.after(() => h.close());
  h.peerSends(INVITE);
  assert.deepEqual(h.takeInbox(), ['100']);
  const trying = parse(h.net.log.at(-1)!.data) as SipResponse;
  assert.equal(trying.to.tag, undefined);
  const tx = onlyTx(h);
  assert.equal(tx.isInvite, true);
  assert.equal(tx.state, 'Proceeding');
  h.peerSends(INVITE);
  assert.deepEqual(h.takeInbox(), ['100']);
  tx.respond(createResponse(tx.request, 180, undefined, { toTag: 'srv' }));
  h.peerSends(INVITE);
  assert.deepEqual(h.takeInbox(), ['180', '180']);
  assert.equal(h.user.requests.length, 1, 'retransmissions never reach the TU');
  assert.deepEqual(h.retransmissions, ['response', 'response']);
  const [t1, t2, r1, r2] = h.net.log
    .filter((p) => p.to.address === h.peer.address)
    .map((p) => p.data.toString('latin1'));
  assert.ok(t1?.startsWith('SIP/2.0 100') && r1?.startsWith('SIP/2.0 180'));
  assert.equal(t2, t1, 'the 100 again, byte for byte');
  assert.equal(r2, r1, 'the 180 again, byte for byte');
});

test("trying 'after200ms': no 100 when the TU answers within 200 ms, a 100 at 200 ms when it does not", (t) => {
  const h = new Harness({ trying: 'after200ms' });
  t.after(() => h.close());
  h.peerSends(requestText({ branch: 'z9hG4bKquick' }));
  h.peerSends(requestText({ branch: 'z9hG4bKquick' })); // retransmitted before anything was sent: nothing to resend
  assert.equal(h.user.requests.length, 1);
  const quick = h.user.requests[0]?.tx;
  assert.ok(quick);
  h.tick(150);
  quick.respond(createResponse(quick.request, 180, undefined, { toTag: 'q' }));
  h.tick(1000);

  h.peerSends(requestText({ branch: 'z9hG4bKslow', callId: 'slow' }));
  h.tick(199);
  assert.deepEqual(h.takeInbox(), ['180']);
  h.tick(1);
  assert.deepEqual(h.takeInbox(), ['100']);
  h.peerSends(requestText({ branch: 'z9hG4bKslow', callId: 'slow' }));
  assert.deepEqual(h.takeInbox(), ['100']);
});

test('non-2xx final on UDP: Timer G doubles up to T2, Timer H (64*T1) ends it with onTimeout', (t) => {
  const h = new Harness();
  t.after(() => h.close());
  h.peerSends(INVITE);
  const tx = onlyTx(h);
  const events: string[] = [];
  tx.onTimeout = () => events.push('timeout');
  tx.onTerminated = () => events.push('terminated');
  tx.respond(createResponse(tx.request, 486, undefined, { toTag: 'srv' }));
  assert.equal(tx.finalStatus, 486);
  assert.equal(tx.state, 'Completed');
  assert.deepEqual(h.takeInbox(), ['100', '486']);
  const at: number[] = [];
  while (h.clock.now() < 6400) {
    h.tick(100);
    if (h.takeInbox().length > 0) at.push(h.clock.now());
  }
  assert.deepEqual(at, [100, 300, 700, ...Array.from({ length: 14 }, (_, i) => 1100 + 400 * i)]);
  assert.deepEqual(events, ['timeout', 'terminated']);
  assert.equal(tx.state, 'Terminated');
  assert.deepEqual(h.layer.counts, { server: 0, client: 0 });
  assert.equal(h.clock.pending, 0);
});

test('INVITE retransmission in Completed resends the final; the ACK confirms, is absorbed, Timer I (T4) ends it', (t) => {
  const h = new Harness();
  t.after(() => h.close());
  h.peerSends(INVITE);
  const tx = onlyTx(h);
  let terminated = 0;
  tx.onTerminated = () => terminated++;
  const invite = tx.request;
  tx.respond(createResponse(invite, 404, undefined, { toTag: 'srv' }));
  tx.respond(createResponse(invite, 500, undefined, { toTag: 'srv' }));
  h.takeInbox();
  h.peerSends(INVITE);
  assert.deepEqual(h.takeInbox(), ['404']);
  h.peerSends(ACK);
  assert.equal(tx.state, 'Confirmed');
  h.peerSends(ACK);
  h.peerSends(INVITE);
  assert.deepEqual(h.takeInbox(), [], 'Confirmed absorbs ACKs and INVITEs');
  assert.equal(h.user.requests.length, 1, 'the non-2xx ACK never reaches the TU');
  h.tick(499);
  assert.equal(tx.state, 'Confirmed');
  assert.deepEqual(h.takeInbox(), [], 'Timer G stopped by the ACK');
  h.tick(1);
  assert.equal(tx.state, 'Terminated');
  assert.equal(terminated, 1);
  assert.deepEqual(h.layer.counts, { server: 0, client: 0 });
});

test('2xx: Accepted (RFC 6026) absorbs INVITE retransmissions, sends further 2xx, passes ACKs up, Timer L', (t) => {
  const h = new Harness();
  t.after(() => h.close());
  h.peerSends(INVITE);
  const tx = onlyTx(h);
  const invite = tx.request;
  tx.respond(createResponse(invite, 200, undefined, { toTag: 'srv' }));
  assert.equal(tx.state, 'Accepted');
  assert.throws(() => tx.request, { code: 'SIPFLEET_ERR_TX_RELEASED' }, 'let go of with the final');
  assert.equal(tx.finalStatus, 200);
  assert.deepEqual(h.takeInbox(), ['100', '200']);
  h.peerSends(INVITE);
  assert.deepEqual(h.takeInbox(), [], 'the UAS core retransmits its 2xx itself');
  tx.respond(createResponse(invite, 200, undefined, { toTag: 'srv' }));
  tx.respond(createResponse(invite, 486, undefined, { toTag: 'srv' }));
  assert.deepEqual(h.takeInbox(), ['200']);
  h.peerSends(ACK);
  assert.equal(h.user.requests.length, 2);
  assert.equal(h.user.requests[1]?.tx, null);
  assert.equal(h.user.requests[1]?.req.method, 'ACK');
  h.tick(6399);
  assert.equal(tx.state, 'Accepted');
  h.tick(1);
  assert.equal(tx.state, 'Terminated');
  assert.deepEqual(h.layer.counts, { server: 0, client: 0 });
  assert.equal(h.clock.pending, 0);
});

test('TCP: no Timer G, Timer H still runs, Timer I = 0', (t) => {
  const h = new Harness();
  t.after(() => h.close());
  h.peerSends(requestText({ branch: 'z9hG4bKt1', transport: 'tcp' }), 'tcp');
  h.peerSends(requestText({ branch: 'z9hG4bKt2', transport: 'tcp', callId: 'c2' }), 'tcp');
  const [a, b] = h.user.requests.map((r) => r.tx);
  assert.ok(a && b);
  let timedOut = 0;
  a.onTimeout = () => timedOut++;
  a.respond(createResponse(a.request, 480, undefined, { toTag: 'x' }));
  b.respond(createResponse(b.request, 480, undefined, { toTag: 'y' }));
  assert.deepEqual(h.takeInbox(), ['100', '100', '480', '480']);
  h.peerSends(
    requestText({
      method: 'ACK',
      branch: 'z9hG4bKt2',
      transport: 'tcp',
      callId: 'c2',
      cseq: 1,
      toTag: 'y',
    }),
    'tcp',
  );
  assert.equal(b.state, 'Terminated');
  h.tick(6399);
  assert.deepEqual(h.takeInbox(), []);
  assert.equal(a.state, 'Completed');
  h.tick(1);
  assert.equal(timedOut, 1);
  assert.deepEqual(h.layer.counts, { server: 0, client: 0 });
});

test('a transport error sending a response terminates the transaction (section 17.2.4)', async (t) => {
  const h = new Harness();
  t.after(() => h.close());
  h.peerSends(requestText({ branch: 'z9hG4bKgone', transport: 'tcp' }), 'tcp');
  const tx = onlyTx(h);
  const events: string[] = [];
  tx.onTransportError = (err) => events.push(`error ${(err as Error & { code?: string }).code}`);
  tx.onTerminated = () => events.push('terminated');
  await nextTicks(); // the 100 Trying went out while the peer was there
  h.peer.close();
  tx.respond(createResponse(tx.request, 486, undefined, { toTag: 'x' }));
  await nextTicks();
  assert.deepEqual(events, ['error SIPFLEET_ERR_TRANSPORT_CONNECT', 'terminated']);
  assert.equal(tx.state, 'Terminated');
  assert.deepEqual(h.layer.counts, { server: 0, client: 0 });
  assert.equal(h.clock.pending, 0);
});
