import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SipRequest } from '@sipfleet/sip';
import { Harness, nextTicks, parse, request, responseText } from './helpers.js';

/** The request the raw peer received last, parsed. */
function lastRequest(h: Harness): SipRequest {
  const data = h.net.log.filter((p) => p.to.address === h.peer.address).at(-1)?.data;
  assert.ok(data);
  const msg = parse(data);
  assert.ok(msg instanceof SipRequest);
  return msg;
}

test('Timer A doubles from T1 without a cap on UDP; Timer B (64*T1) times the INVITE out', (t) => {
  const h = new Harness();
  t.after(() => h.close());
  const { tx, h: r } = h.send(request({ branch: 'z9hG4bKa' }));
  assert.deepEqual(h.takeInbox(), ['INVITE']);
  assert.equal(tx.state, 'Calling');
  const sentAt: number[] = [];
  while (h.clock.now() < 6400) {
    h.tick(100);
    if (h.takeInbox().length > 0) sentAt.push(h.clock.now());
  }
  assert.deepEqual(sentAt, [100, 300, 700, 1500, 3100, 6300]);
  assert.equal(h.retransmissions.length, 6);
  const sent = h.net.log.filter((p) => p.to.address === h.peer.address);
  assert.equal(sent.length, 7);
  assert.equal(
    new Set(sent.map((p) => p.data.toString('latin1'))).size,
    1,
    'byte for byte the INVITE',
  );
  assert.equal(r.timeouts, 1);
  assert.equal(tx.state, 'Terminated');
  assert.deepEqual(h.layer.counts, { server: 0, client: 0 });
  assert.equal(h.clock.pending, 0);
});

test('a provisional stops Timers A and B: Proceeding waits for the final (Timer C is the proxy)', (t) => {
  const h = new Harness();
  t.after(() => h.close());
  const req = request({ branch: 'z9hG4bKp' });
  const { tx, h: r } = h.send(req);
  h.takeInbox();
  h.peerSends(responseText(req, 100));
  h.peerSends(responseText(req, 180, 'totag'));
  assert.equal(tx.state, 'Proceeding');
  assert.deepEqual(r.responses, [100, 180]);
  h.tick(100_000);
  assert.deepEqual(h.takeInbox(), []);
  assert.equal(r.timeouts, 0);
  assert.equal(tx.state, 'Proceeding');
  h.peerSends(responseText(req, 200, 'totag'));
  assert.deepEqual(r.responses, [100, 180, 200]);
});

test('non-2xx final: ACK to the same target, retransmitted finals re-ACKed but not passed up, Timer D', (t) => {
  const h = new Harness();
  t.after(() => h.close());
  const req = request({ branch: 'z9hG4bKn' });
  const { tx, h: r } = h.send(req);
  h.takeInbox();
  h.peerSends(responseText(req, 486, 'busy'));
  assert.deepEqual(h.takeInbox(), ['ACK']);
  const ack = lastRequest(h);
  assert.equal(ack.method, 'ACK');
  assert.equal(ack.topVia?.branch, 'z9hG4bKn');
  assert.equal(ack.to.tag, 'busy');
  assert.deepEqual(ack.cseq, { seq: 1, method: 'ACK' });
  assert.equal(tx.state, 'Completed');
  assert.deepEqual(r.responses, [486]);

  assert.throws(() => tx.request, { code: 'SIPFLEET_ERR_TX_RELEASED' }, 'only the ACK is kept');
  h.peerSends(responseText(req, 486, 'busy'));
  assert.deepEqual(h.takeInbox(), ['ACK']);
  assert.equal(lastRequest(h).toString(), ack.toString(), 'the same ACK again');
  assert.deepEqual(r.responses, [486]);
  assert.deepEqual(h.retransmissions, ['request']);

  h.tick(3199);
  assert.equal(tx.state, 'Completed');
  h.tick(1);
  assert.equal(tx.state, 'Terminated');
  assert.deepEqual(h.layer.counts, { server: 0, client: 0 });
  h.peerSends(responseText(req, 486, 'busy'));
  assert.equal(h.user.stray.length, 1, 'after Timer D a retransmission is stray');
  assert.deepEqual(h.takeInbox(), []);
});

test('2xx: Accepted (RFC 6026), every 2xx passed to the TU until Timer M, no ACK from the transaction', (t) => {
  const h = new Harness();
  t.after(() => h.close());
  const req = request({ branch: 'z9hG4bKok' });
  const { tx, h: r } = h.send(req);
  h.takeInbox();
  h.peerSends(responseText(req, 200, 'a'));
  h.peerSends(responseText(req, 200, 'a'));
  h.peerSends(responseText(req, 200, 'forked'));
  h.peerSends(responseText(req, 180, 'late'));
  assert.equal(tx.state, 'Accepted');
  assert.throws(() => tx.request, { code: 'SIPFLEET_ERR_TX_RELEASED' });
  assert.deepEqual(r.responses, [200, 200, 200]);
  assert.deepEqual(h.takeInbox(), [], 'the ACK for a 2xx belongs to the TU');
  h.tick(6399);
  assert.equal(tx.state, 'Accepted');
  h.tick(1);
  assert.equal(tx.state, 'Terminated');
  assert.deepEqual(h.layer.counts, { server: 0, client: 0 });
  h.peerSends(responseText(req, 200, 'a'));
  assert.equal(h.user.stray.length, 1);
  assert.equal(h.clock.pending, 0);
});

test('TCP: no Timer A, ACK sent and the transaction gone at once (Timer D = 0), Timer B still bounds Calling', (t) => {
  const h = new Harness();
  t.after(() => h.close());
  const req = request({ branch: 'z9hG4bKtcp1', transport: 'tcp' });
  const { tx, h: r } = h.send(req, 'tcp');
  h.tick(6000);
  assert.deepEqual(h.takeInbox(), ['INVITE']);
  h.peerSends(responseText(req, 603, 'x'), 'tcp');
  assert.deepEqual(h.takeInbox(), ['ACK']);
  assert.equal(h.net.log.at(-1)?.to.protocol, 'tcp');
  assert.equal(tx.state, 'Terminated');
  assert.deepEqual(r.responses, [603]);

  const silent = h.send(request({ branch: 'z9hG4bKtcp2', transport: 'tcp' }), 'tcp');
  h.tick(6399);
  assert.equal(silent.h.timeouts, 0);
  h.tick(1);
  assert.equal(silent.h.timeouts, 1);
  assert.deepEqual(h.takeInbox(), ['INVITE']);
  assert.deepEqual(h.layer.counts, { server: 0, client: 0 });
});

test('a transport error (TCP connect refused) reaches onTransportError and terminates (section 17.1.4)', async (t) => {
  const h = new Harness();
  t.after(() => h.close());
  const r = { errors: [] as Error[], other: 0 };
  const tx = h.layer.sendRequest(
    request({ branch: 'z9hG4bKerr', transport: 'tcp' }),
    { protocol: 'tcp', address: '10.9.9.9', port: 5060 },
    {
      onResponse: () => r.other++,
      onTimeout: () => r.other++,
      onTransportError: (_tx, err) => r.errors.push(err),
    },
  );
  assert.equal(h.layer.counts.client, 1);
  await nextTicks();
  assert.equal(r.errors.length, 1);
  assert.equal((r.errors[0] as Error & { code?: string }).code, 'SIPFLEET_ERR_TRANSPORT_CONNECT');
  assert.equal(tx.state, 'Terminated');
  assert.deepEqual(h.layer.counts, { server: 0, client: 0 });
  h.tick(100_000);
  assert.equal(r.other, 0);
});

test('cancel() before any provisional waits for one; the CANCEL runs in its own transaction (section 9.1)', (t) => {
  const h = new Harness();
  t.after(() => h.close());
  const req = request({ branch: 'z9hG4bKc' });
  const { tx, h: r } = h.send(req);
  h.takeInbox();
  tx.cancel();
  tx.cancel();
  assert.deepEqual(h.takeInbox(), [], 'no CANCEL before a provisional');
  h.peerSends(responseText(req, 180, 'rt'));
  assert.deepEqual(h.takeInbox(), ['CANCEL']);
  const cancel = lastRequest(h);
  assert.equal(cancel.topVia?.branch, 'z9hG4bKc');
  assert.deepEqual(cancel.cseq, { seq: 1, method: 'CANCEL' });
  assert.equal(h.layer.counts.client, 2);

  h.tick(100); // Timer E of the CANCEL; the INVITE in Proceeding stays quiet
  assert.deepEqual(h.takeInbox(), ['CANCEL']);
  h.peerSends(responseText(cancel, 200, 'rt'));
  h.peerSends(responseText(req, 487, 'rt'));
  assert.deepEqual(h.takeInbox(), ['ACK']);
  assert.deepEqual(
    r.responses,
    [180, 487],
    'the CANCEL response is not the INVITE handler business',
  );
  h.tick(100_000);
  assert.deepEqual(h.takeInbox(), []);
  assert.deepEqual(h.layer.counts, { server: 0, client: 0 });
  assert.equal(h.user.stray.length, 0);
});

test('cancel() after a final does nothing; a final before the first provisional drops a pending cancel', (t) => {
  const h = new Harness();
  t.after(() => h.close());
  const done = request({ branch: 'z9hG4bKd1' });
  const a = h.send(done);
  h.peerSends(responseText(done, 486, 'x'));
  a.tx.cancel();
  const pending = request({ branch: 'z9hG4bKd2', callId: 'call-2' });
  const b = h.send(pending);
  b.tx.cancel();
  h.peerSends(responseText(pending, 200, 'y'));
  h.peerSends(responseText(pending, 180, 'y'));
  assert.deepEqual(h.takeInbox(), ['INVITE', 'ACK', 'INVITE']);
  assert.equal(h.net.log.filter((p) => p.data.toString('latin1').startsWith('CANCEL')).length, 0);
});

test('with a CANCEL sent and no final for 64*T1, the INVITE transaction gives up (section 9.1)', (t) => {
  const h = new Harness();
  t.after(() => h.close());
  const req = request({ branch: 'z9hG4bKg' });
  const { tx, h: r } = h.send(req);
  h.peerSends(responseText(req, 183, 'g'));
  tx.cancel();
  h.net.flush();
  const cancel = lastRequest(h);
  assert.equal(cancel.method, 'CANCEL');
  h.peerSends(responseText(cancel, 200, 'g'));
  h.tick(6399);
  assert.equal(tx.state, 'Proceeding');
  h.tick(1);
  assert.equal(tx.state, 'Terminated');
  assert.equal(r.timeouts, 1);
  h.tick(10_000);
  assert.deepEqual(h.layer.counts, { server: 0, client: 0 });
});

test('responses match on branch and CSeq method (section 17.1.3)', (t) => {
  const h = new Harness();
  t.after(() => h.close());
  const req = request({ branch: 'z9hG4bKm' });
  const { h: r } = h.send(req);
  h.peerSends(responseText(request({ branch: 'z9hG4bKm', method: 'CANCEL' }), 200, 'x'));
  h.peerSends(responseText(request({ branch: 'z9hG4bKm', method: 'OPTIONS' }), 200, 'x'));
  h.peerSends(responseText(request({ branch: 'z9hG4bKother' }), 180, 'x'));
  assert.deepEqual(r.responses, []);
  assert.deepEqual(
    h.user.stray.map((s) => `${s.status} ${s.cseq.method}`),
    ['200 CANCEL', '200 OPTIONS', '180 INVITE'],
  );
});

test('sendRequest refuses ACK, a missing magic cookie, a duplicate branch and a closed layer', (t) => {
  const h = new Harness();
  t.after(() => h.close());
  const code = (c: string) => (err: unknown) => (err as { code?: string }).code === c;
  const target = h.peerTarget();
  const noop = { onResponse() {}, onTimeout() {}, onTransportError() {} };
  assert.throws(
    () => h.layer.sendRequest(request({ method: 'ACK' }), target, noop),
    code('SIPFLEET_ERR_TX_ACK'),
  );
  assert.throws(
    () => h.layer.sendRequest(request({ branch: 'old1' }), target, noop),
    code('SIPFLEET_ERR_TX_BRANCH'),
  );
  assert.throws(
    () => h.layer.sendRequest(request({ branch: '' }), target, noop),
    code('SIPFLEET_ERR_TX_BRANCH'),
  );
  h.layer.sendRequest(request({ branch: 'z9hG4bKdup' }), target, noop);
  assert.throws(
    () => h.layer.sendRequest(request({ branch: 'z9hG4bKdup', method: 'BYE' }), target, noop),
    code('SIPFLEET_ERR_TX_DUPLICATE'),
  );
  h.layer.close();
  assert.equal(h.clock.pending, 0, 'close() clears every timer');
  assert.deepEqual(h.layer.counts, { server: 0, client: 0 });
  assert.throws(
    () => h.layer.sendRequest(request({ branch: 'z9hG4bKlate' }), target, noop),
    code('SIPFLEET_ERR_TX_CLOSED'),
  );
});
