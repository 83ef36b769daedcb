import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createResponse } from '@sipfleet/sip';
import { Harness, requestText } from './helpers.js';

const OPTIONS = requestText({ method: 'OPTIONS', branch: 'z9hG4bKopt' });

test('Trying discards retransmissions, Proceeding resends the provisional, Completed the final; Timer J (64*T1)', (t) => {
  const h = new Harness();
  t.after(() => h.close());
  h.peerSends(OPTIONS);
  h.peerSends(OPTIONS);
  assert.equal(h.user.requests.length, 1);
  const tx = h.user.requests[0]?.tx;
  assert.ok(tx);
  assert.equal(tx.isInvite, false);
  assert.equal(tx.state, 'Trying');
  assert.deepEqual(
    h.takeInbox(),
    [],
    'no response yet: nothing to resend, and no 100 for non-INVITE',
  );

  tx.respond(createResponse(tx.request, 100));
  assert.equal(tx.state, 'Proceeding');
  h.peerSends(OPTIONS);
  assert.deepEqual(h.takeInbox(), ['100', '100']);

  const options = tx.request;
  tx.respond(createResponse(options, 200, undefined, { toTag: 'o' }));
  assert.throws(() => tx.request, { code: 'SIPFLEET_ERR_TX_RELEASED' }, 'let go of with the final');
  tx.respond(createResponse(options, 500, undefined, { toTag: 'o' }));
  assert.equal(tx.state, 'Completed');
  assert.equal(tx.finalStatus, 200);
  h.peerSends(OPTIONS);
  assert.deepEqual(h.takeInbox(), ['200', '200']);
  assert.deepEqual(h.retransmissions, ['response', 'response']);

  h.tick(6399);
  assert.deepEqual(h.takeInbox(), [], 'a non-INVITE final is never retransmitted on its own');
  assert.equal(tx.state, 'Completed');
  h.tick(1);
  assert.equal(tx.state, 'Terminated');
  assert.deepEqual(h.layer.counts, { server: 0, client: 0 });
  h.peerSends(OPTIONS);
  assert.equal(h.user.requests.length, 2, 'after Timer J the same request is a new transaction');
});

test('TCP: Timer J = 0, the transaction ends with the final response', (t) => {
  const h = new Harness();
  t.after(() => h.close());
  h.peerSends(
    requestText({ method: 'BYE', branch: 'z9hG4bKbt', transport: 'tcp', toTag: 't' }),
    'tcp',
  );
  const tx = h.user.requests[0]?.tx;
  assert.ok(tx);
  let terminated = 0;
  tx.onTerminated = () => terminated++;
  tx.respond(createResponse(tx.request, 200));
  assert.equal(tx.state, 'Terminated');
  assert.equal(terminated, 1);
  assert.deepEqual(h.takeInbox(), ['200']);
  assert.deepEqual(h.layer.counts, { server: 0, client: 0 });
  assert.equal(h.clock.pending, 0);
});
