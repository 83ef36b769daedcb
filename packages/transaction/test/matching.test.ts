import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createResponse, SipResponse } from '@sipfleet/sip';
import type { SipRequest } from '@sipfleet/sip';
import type { RemoteInfo } from '@sipfleet/transport';
import type { ServerTransaction } from '../src/index.js';
import { Harness, parse, requestText, responseText, request } from './helpers.js';

function lastResponse(h: Harness): SipResponse {
  const msg = parse(h.net.log.at(-1)!.data);
  assert.ok(msg instanceof SipResponse);
  return msg;
}

test('CANCEL matching an INVITE server transaction: 200 from the layer, then onCancel; retransmissions resent', (t) => {
  const h = new Harness();
  t.after(() => h.close());
  h.peerSends(requestText({ branch: 'z9hG4bKcx' }));
  const invite = h.user.requests[0]?.tx;
  assert.ok(invite);
  invite.respond(createResponse(invite.request, 180, undefined, { toTag: 'ring' }));
  h.takeInbox();
  const cancel = requestText({ method: 'CANCEL', branch: 'z9hG4bKcx' });
  h.peerSends(cancel);
  assert.deepEqual(h.takeInbox(), ['200']);
  const ok = lastResponse(h);
  assert.equal(ok.cseq.method, 'CANCEL');
  assert.equal(ok.to.tag, 'ring', 'the To tag of the INVITE response (section 9.2)');
  assert.equal(h.user.cancels.length, 1);
  assert.equal(h.user.cancels[0]?.inviteTx, invite);
  assert.equal(h.user.requests.length, 1, 'the CANCEL is not a new request for the TU');
  h.peerSends(cancel);
  assert.deepEqual(h.takeInbox(), ['200']);
  assert.equal(h.user.cancels.length, 1);
  invite.respond(createResponse(invite.request, 487, undefined, { toTag: 'ring' }));
  assert.deepEqual(h.takeInbox(), ['487']);
  h.peerSends(requestText({ method: 'ACK', branch: 'z9hG4bKcx', cseq: 1, toTag: 'ring' }));
  assert.equal(invite.state, 'Confirmed');
  h.tick(100_000);
  assert.deepEqual(h.layer.counts, { server: 0, client: 0 });
});

test('CANCEL matching nothing gets 481 from the layer; the TU hears nothing', (t) => {
  const h = new Harness();
  t.after(() => h.close());
  h.peerSends(requestText({ branch: 'z9hG4bKinv' }));
  h.takeInbox();
  h.peerSends(requestText({ method: 'CANCEL', branch: 'z9hG4bKnone' }));
  h.peerSends(requestText({ method: 'CANCEL', branch: 'z9hG4bKinv', sentBy: '10.0.0.9:5060' }));
  assert.deepEqual(h.takeInbox(), ['481']); // the second one's response went to 10.0.0.9 (nobody)
  assert.equal(lastResponse(h).status, 481);
  assert.equal(h.user.cancels.length, 0);
  assert.equal(h.user.requests.length, 1);
});

test('onUnmatchedCancel (optional) receives the CANCEL transaction instead of an automatic 481', (t) => {
  const h = new Harness();
  t.after(() => h.close());
  const handed: { cancel: SipRequest; tx: ServerTransaction; remote: RemoteInfo }[] = [];
  h.user.onUnmatchedCancel = (cancel, tx, remote) => handed.push({ cancel, tx, remote });
  h.peerSends(requestText({ method: 'CANCEL', branch: 'z9hG4bKelsewhere' }));
  assert.deepEqual(h.takeInbox(), []);
  assert.equal(handed.length, 1);
  const { tx } = handed[0]!;
  tx.respond(createResponse(tx.request, 200));
  assert.deepEqual(h.takeInbox(), ['200']);
});

test('magic cookie matching uses branch, sent-by and method; ACK matches INVITE, other ACKs are stray', (t) => {
  const h = new Harness();
  t.after(() => h.close());
  h.user.answer = (req, tx) => tx.respond(createResponse(req, 486, undefined, { toTag: 'b' }));
  h.peerSends(requestText({ branch: 'z9hG4bKsame' }));
  h.peerSends(requestText({ branch: 'z9hG4bKsame', sentBy: '10.0.0.1:5070' }));
  h.peerSends(requestText({ method: 'OPTIONS', branch: 'z9hG4bKsame' }));
  assert.deepEqual(
    h.user.requests.map((r) => `${r.req.method} ${r.req.topVia?.port}`),
    ['INVITE 5060', 'INVITE 5070', 'OPTIONS 5060'],
  );
  assert.equal(h.layer.counts.server, 3);
  const first = h.user.requests[0]?.tx;
  h.peerSends(requestText({ method: 'ACK', branch: 'z9hG4bKsame', cseq: 1, toTag: 'b' }));
  assert.equal(first?.state, 'Confirmed');
  h.peerSends(requestText({ method: 'ACK', branch: 'z9hG4bK2xxack', cseq: 1, toTag: 'b' }));
  const last = h.user.requests.at(-1);
  assert.equal(last?.req.method, 'ACK');
  assert.equal(last?.tx, null);
  assert.equal(h.user.requests.length, 4);
});

test('RFC 2543 fallback (no magic cookie): Request-URI, tags, Call-ID, CSeq and top Via (section 17.2.3)', (t) => {
  const h = new Harness();
  t.after(() => h.close());
  const invite = requestText({ branch: '' });
  h.peerSends(invite);
  const tx = h.user.requests[0]?.tx;
  assert.ok(tx);
  tx.respond(createResponse(tx.request, 180, undefined, { toTag: 'legacy' }));
  h.takeInbox();
  h.peerSends(invite);
  assert.deepEqual(h.takeInbox(), ['180'], 'a retransmission');
  assert.equal(h.user.requests.length, 1);

  // Each field that differs makes a new transaction.
  h.peerSends(requestText({ branch: '', fromTag: 'other' }));
  h.peerSends(requestText({ branch: '', callId: 'other' }));
  h.peerSends(requestText({ branch: '', cseq: 2 }));
  h.peerSends(requestText({ branch: '', uri: 'sip:carol@10.0.0.2' }));
  h.peerSends(requestText({ branch: '', toTag: 'x' }));
  h.peerSends(requestText({ branch: '', sentBy: '10.0.0.1:5062' }));
  h.peerSends(requestText({ branch: 'old-style-1' }));
  assert.equal(h.user.requests.length, 8);

  // CANCEL: the INVITE's fields (To without tag) and CSeq number.
  h.peerSends(requestText({ method: 'CANCEL', branch: '' }));
  assert.equal(h.user.cancels[0]?.inviteTx, tx);

  tx.respond(createResponse(tx.request, 486, undefined, { toTag: 'legacy' }));
  h.peerSends(requestText({ method: 'ACK', branch: '', cseq: 1, toTag: 'wrong' }));
  assert.equal(tx.state, 'Completed', 'the ACK To tag must be the one of the response');
  assert.equal(h.user.requests.at(-1)?.tx, null);
  h.peerSends(requestText({ method: 'ACK', branch: '', cseq: 1, toTag: 'legacy' }));
  assert.equal(tx.state, 'Confirmed');
});

test('stray responses go to onStrayResponse; matching headers broken after parsing are dropped via onMalformed', (t) => {
  const h = new Harness();
  t.after(() => h.close());
  const malformed: string[] = [];
  h.layer.onMalformed = (msg) =>
    malformed.push(msg instanceof SipResponse ? 'response' : msg.method);
  h.peerSends(responseText(request({ branch: 'z9hG4bKnobody' }), 200, 'x'));
  assert.equal(h.user.stray.length, 1);
  // The parser checks these headers, so only a message changed after parsing can get here.
  const noVia = request({ method: 'OPTIONS' });
  noVia.removeHeader('via');
  h.layer.receive(noVia, h.peerRemote());
  const badCSeq = request({ method: 'OPTIONS', branch: '' });
  badCSeq.setHeader('CSeq', 'one OPTIONS');
  h.layer.receive(badCSeq, h.peerRemote());
  const badResponse = parse(Buffer.from(responseText(request(), 180, 'x')));
  badResponse.setHeader('Via', 'SIP/2.0/UDP ;;;');
  h.layer.receive(badResponse, h.peerRemote());
  assert.deepEqual(malformed, ['OPTIONS', 'OPTIONS', 'response']);
  assert.equal(h.user.requests.length, 0);
  assert.equal(h.user.stray.length, 1);
  assert.deepEqual(h.layer.counts, { server: 0, client: 0 });
});

test("onResponseSent: the layer's own responses (100 Trying, 200 and 481 to CANCEL), never the TU's", (t) => {
  const h = new Harness();
  t.after(() => h.close());
  const sent: number[] = [];
  h.layer.onResponseSent = (status) => sent.push(status);
  h.peerSends(requestText({ branch: 'z9hG4bKown' }));
  const invite = h.user.requests[0]?.tx;
  assert.ok(invite);
  invite.respond(createResponse(invite.request, 180, undefined, { toTag: 'ring' }));
  h.peerSends(requestText({ method: 'CANCEL', branch: 'z9hG4bKown' }));
  h.peerSends(requestText({ method: 'CANCEL', branch: 'z9hG4bKnone' }));
  invite.respond(createResponse(invite.request, 487, undefined, { toTag: 'ring' }));
  assert.deepEqual(h.takeInbox(), ['100', '180', '200', '481', '487']);
  assert.deepEqual(sent, [100, 200, 481], 'the 180 and the 487 came from the TU');
});

test('admit: a refused request is answered statelessly and gets no transaction; retransmissions, ACK and CANCEL are not asked', (t) => {
  const asked: string[] = [];
  const h = new Harness({
    admit: (req) => {
      asked.push(req.method);
      return req.method === 'INVITE' ? createResponse(req, 503, 'Service Unavailable') : undefined;
    },
  });
  t.after(() => h.close());
  const sent: number[] = [];
  h.layer.onResponseSent = (status) => sent.push(status);
  h.peerSends(requestText({ branch: 'z9hG4bKshed' }));
  assert.deepEqual(h.takeInbox(), ['503'], 'no 100 Trying: nothing was created');
  assert.deepEqual(h.layer.counts, { server: 0, client: 0 });
  assert.equal(h.user.requests.length, 0, 'the TU never saw it');
  h.peerSends(requestText({ method: 'ACK', branch: 'z9hG4bKshed', cseq: 1, toTag: 'x' }));
  h.peerSends(requestText({ method: 'CANCEL', branch: 'z9hG4bKshed' }));
  h.peerSends(requestText({ method: 'OPTIONS', branch: 'z9hG4bKok' }));
  assert.deepEqual(asked, ['INVITE', 'OPTIONS'], 'ACK and CANCEL belong to a transaction');
  assert.equal(h.user.requests.at(-1)?.req.method, 'OPTIONS');
  assert.deepEqual(sent, [503, 481], 'the stateless 503 and the CANCEL that found nothing');
});

test('onUnmatchedAck (optional) receives ACKs no INVITE transaction absorbs; a matching ACK stays in its transaction', (t) => {
  const h = new Harness();
  t.after(() => h.close());
  const handed: SipRequest[] = [];
  h.user.onUnmatchedAck = (ack) => handed.push(ack);
  h.user.answer = (req, tx) => tx.respond(createResponse(req, 486, undefined, { toTag: 'b' }));
  h.peerSends(requestText({ branch: 'z9hG4bKheld' }));
  const invite = h.user.requests[0]?.tx;
  h.peerSends(requestText({ method: 'ACK', branch: 'z9hG4bKheld', cseq: 1, toTag: 'b' }));
  assert.equal(invite?.state, 'Confirmed');
  h.peerSends(requestText({ method: 'ACK', branch: 'z9hG4bKelsewhere', cseq: 1, toTag: 'b' }));
  assert.deepEqual(
    handed.map((ack) => ack.topVia?.branch),
    ['z9hG4bKelsewhere'],
  );
  assert.equal(h.user.requests.length, 1);
});
