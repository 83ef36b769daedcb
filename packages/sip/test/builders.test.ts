// Builders: RFC 3261 sections 8.2.6, 9.1, 17.1.1.3.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BRANCH_MAGIC_COOKIE,
  SipRequest,
  SipResponse,
  createAckForNon2xx,
  createCancel,
  createResponse,
  defaultReason,
  newBranch,
  newTag,
  parseMessage,
} from '../src/index.js';
import { INVITE } from './helpers.js';

function invite(): SipRequest {
  const m = parseMessage(INVITE);
  assert.ok(m instanceof SipRequest);
  return m;
}

describe('builders', () => {
  it('createResponse copies Via, From, To, Call-ID, CSeq and adds the To tag', () => {
    const req = invite();
    req.prependHeader('Via', 'SIP/2.0/UDP edge1.example.net;branch=z9hG4bKe1');
    const res = createResponse(req, 486, undefined, {
      toTag: 'tt1',
      headers: [['Retry-After', '30']],
    });
    assert.equal(res.reason, 'Busy Here');
    assert.deepEqual(res.getHeaders('via'), req.getHeaders('via'));
    assert.equal(res.getHeader('from'), req.getHeader('from'));
    assert.equal(res.to.tag, 'tt1');
    assert.equal(res.getHeader('call-id'), req.getHeader('call-id'));
    assert.equal(res.getHeader('cseq'), '314159 INVITE');
    assert.equal(res.getHeader('retry-after'), '30');
    const wire = res.toString();
    assert.match(wire, /^SIP\/2\.0 486 Busy Here\r\n/);
    assert.match(wire, /\r\nContent-Length: 0\r\n\r\n$/);
    const again = parseMessage(res.toBuffer());
    assert.ok(again instanceof SipResponse);
    assert.equal(again.status, 486);
    assert.equal(again.topVia?.branch, 'z9hG4bKe1');
  });

  it('createResponse keeps an existing To tag and takes a body', () => {
    const req = parseMessage(
      INVITE.replace(
        'To: Bob <sip:bob@biloxi.example.com>',
        'To: Bob <sip:bob@biloxi.example.com>;tag=orig',
      ),
    );
    assert.ok(req instanceof SipRequest);
    const res = createResponse(req, 200, 'Fine', {
      toTag: 'ignored',
      body: 'v=0\r\n',
      contentType: 'application/sdp',
    });
    assert.equal(res.to.tag, 'orig');
    assert.equal(res.reason, 'Fine');
    const parsed = parseMessage(res.toBuffer());
    assert.equal(parsed.body.toString(), 'v=0\r\n');
    assert.equal(parsed.getHeader('content-type'), 'application/sdp');
    assert.equal(parsed.getHeader('content-length'), '5');
  });

  it('createResponse tags To on every status but 100; a request and its CANCEL get the same tag', () => {
    const req = invite();
    assert.equal(createResponse(req, 100).to.tag, undefined, '100 Trying MAY go without a tag');
    const busy = createResponse(req, 486);
    const tag = busy.to.tag;
    assert.match(tag ?? '', /^[0-9a-f]{16}$/);
    assert.equal(createResponse(invite(), 486).to.tag, tag, 'the same request, the same tag');
    assert.equal(createResponse(createCancel(req), 200).to.tag, tag, 'RFC 3261 section 9.2');
    const other = parseMessage(INVITE.replace(/Call-ID: [^\r]+/, 'Call-ID: another'));
    assert.ok(other instanceof SipRequest);
    assert.notEqual(createResponse(other, 486).to.tag, tag);
  });

  it('createCancel (RFC 3261 section 9.1)', () => {
    const req = invite();
    const cancel = createCancel(req);
    assert.equal(cancel.method, 'CANCEL');
    assert.equal(cancel.uri, req.uri);
    assert.deepEqual(cancel.getHeaders('via'), [req.getHeaders('via')[0]]);
    assert.deepEqual(cancel.cseq, { seq: 314159, method: 'CANCEL' });
    assert.equal(cancel.getHeader('to'), req.getHeader('to'));
    assert.equal(cancel.getHeader('from'), req.getHeader('from'));
    assert.deepEqual(cancel.getHeaders('route'), req.getHeaders('route'));
    assert.equal(cancel.maxForwards, 70);
    assert.ok(parseMessage(cancel.toBuffer()) instanceof SipRequest);
  });

  it('createAckForNon2xx (RFC 3261 section 17.1.1.3)', () => {
    const req = invite();
    const res = createResponse(req, 404, undefined, { toTag: 'uas1' });
    const ack = createAckForNon2xx(req, res);
    assert.equal(ack.method, 'ACK');
    assert.equal(ack.uri, req.uri);
    assert.deepEqual(ack.cseq, { seq: 314159, method: 'ACK' });
    assert.equal(ack.to.tag, 'uas1');
    assert.equal(ack.topVia?.branch, req.topVia?.branch);
    assert.equal(ack.vias.length, 1);
    assert.deepEqual(ack.getHeaders('route'), req.getHeaders('route'));
    assert.ok(parseMessage(ack.toBuffer()) instanceof SipRequest);
  });

  it('newBranch / newTag are unique and well-formed', () => {
    const branches = new Set(Array.from({ length: 1000 }, newBranch));
    assert.equal(branches.size, 1000);
    for (const b of branches) assert.ok(b.startsWith(BRANCH_MAGIC_COOKIE) && b.length === 23);
    const tags = new Set(Array.from({ length: 1000 }, newTag));
    assert.equal(tags.size, 1000);
    for (const t of tags) assert.match(t, /^[0-9a-f]{16}$/);
  });

  it('defaultReason', () => {
    assert.equal(defaultReason(100), 'Trying');
    assert.equal(defaultReason(200), 'OK');
    assert.equal(defaultReason(481), 'Call/Transaction Does Not Exist');
    assert.equal(defaultReason(503), 'Service Unavailable');
    assert.equal(defaultReason(499), 'Client Error');
    assert.equal(defaultReason(999), 'Unknown');
  });
});
