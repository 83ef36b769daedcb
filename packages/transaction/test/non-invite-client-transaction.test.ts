import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Harness, nextTicks, request, responseText } from './helpers.js';

function retransmitTimes(h: Harness, until: number): number[] {
  const at: number[] = [];
  while (h.clock.now() < until) {
    h.tick(100);
    if (h.takeInbox().length > 0) at.push(h.clock.now());
  }
  return at;
}

test('Timer E doubles from T1 up to T2 in Trying; Timer F (64*T1) times out', (t) => {
  const h = new Harness();
  t.after(() => h.close());
  const { tx, h: r } = h.send(request({ method: 'OPTIONS', branch: 'z9hG4bKo' }));
  assert.deepEqual(h.takeInbox(), ['OPTIONS']);
  const capped = Array.from({ length: 15 }, (_, i) => 700 + 400 * i); // 700 ... 6300, every T2
  assert.deepEqual(retransmitTimes(h, 6400), [100, 300, ...capped]);
  const sent = h.net.log.filter((p) => p.to.address === h.peer.address);
  assert.equal(sent.length, 18);
  assert.equal(
    new Set(sent.map((p) => p.data.toString('latin1'))).size,
    1,
    'byte for byte the request',
  );
  assert.equal(r.timeouts, 1);
  assert.equal(tx.state, 'Terminated');
  assert.deepEqual(h.layer.counts, { server: 0, client: 0 });
  assert.equal(h.clock.pending, 0);
});

test('in Proceeding Timer E fires every T2; Timer F still bounds the transaction', (t) => {
  const h = new Harness();
  t.after(() => h.close());
  const req = request({ method: 'REGISTER', branch: 'z9hG4bKpr' });
  const { tx, h: r } = h.send(req);
  h.takeInbox();
  h.peerSends(responseText(req, 100));
  assert.equal(tx.state, 'Proceeding');
  const everyT2 = Array.from({ length: 15 }, (_, i) => 500 + 400 * i); // 500 ... 6100
  assert.deepEqual(retransmitTimes(h, 6400), [100, ...everyT2]);
  assert.deepEqual(r.responses, [100]);
  assert.equal(r.timeouts, 1);
});

test('a final response: Completed absorbs retransmissions for Timer K (T4), then the transaction is gone', (t) => {
  const h = new Harness();
  t.after(() => h.close());
  const req = request({ method: 'BYE', branch: 'z9hG4bKbye', toTag: 'tt' });
  const { tx, h: r } = h.send(req);
  h.takeInbox();
  h.peerSends(responseText(req, 200));
  h.peerSends(responseText(req, 200));
  assert.equal(tx.state, 'Completed');
  assert.deepEqual(r.responses, [200]);
  assert.equal(h.user.stray.length, 0);
  h.tick(499);
  assert.deepEqual(h.takeInbox(), [], 'no retransmission after the final');
  assert.equal(tx.state, 'Completed');
  h.tick(1);
  assert.equal(tx.state, 'Terminated');
  assert.deepEqual(h.layer.counts, { server: 0, client: 0 });
  h.peerSends(responseText(req, 200));
  assert.equal(h.user.stray.length, 1);
});

test('TCP: no Timer E, Timer K = 0', (t) => {
  const h = new Harness();
  t.after(() => h.close());
  const req = request({ method: 'OPTIONS', branch: 'z9hG4bKot', transport: 'tcp' });
  const { tx, h: r } = h.send(req, 'tcp');
  h.tick(6000);
  assert.deepEqual(h.takeInbox(), ['OPTIONS']);
  h.peerSends(responseText(req, 200), 'tcp');
  assert.deepEqual(r.responses, [200]);
  assert.equal(tx.state, 'Terminated');
  assert.deepEqual(h.layer.counts, { server: 0, client: 0 });
  assert.equal(h.clock.pending, 0);
});

test('a transport error terminates with onTransportError; cancel() of a non-INVITE sends nothing', async (t) => {
  const h = new Harness();
  t.after(() => h.close());
  const errors: Error[] = [];
  const tx = h.layer.sendRequest(
    request({ method: 'MESSAGE', branch: 'z9hG4bKme', transport: 'tcp' }),
    { protocol: 'tcp', address: '10.9.9.9', port: 5060 },
    { onResponse() {}, onTimeout() {}, onTransportError: (_tx, err) => errors.push(err) },
  );
  tx.cancel();
  await nextTicks();
  assert.equal(errors.length, 1);
  assert.equal(tx.state, 'Terminated');
  assert.equal(h.net.log.length, 1, 'only the MESSAGE itself');
  assert.deepEqual(h.layer.counts, { server: 0, client: 0 });
});
