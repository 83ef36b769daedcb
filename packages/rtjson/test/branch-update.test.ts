import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMessage, SipRequest, SipResponse } from '@sipfleet/sip';
import { parseRtjson } from '../src/document.js';
import type { Route } from '../src/document.js';
import { restoreFromTo, updateBranch } from '../src/branch-update.js';
import { credentialsUser } from '../src/query.js';
import {
  applyDialogRewrite,
  decodeDialogRewrite,
  encodeDialogRewrite,
  fromTo,
} from '../src/dialog.js';

const INVITE = [
  'INVITE sip:bob@example.com SIP/2.0',
  'Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1',
  'From: "Alice" <sip:alice@example.com>;tag=abc',
  'To: Bob <sip:bob@example.com>',
  'Call-ID: c1',
  'CSeq: 1 INVITE',
  'Max-Forwards: 70',
  'X-Keep: yes',
  'Content-Length: 0',
  '',
  '',
].join('\r\n');

function request(): SipRequest {
  const msg = parseMessage(INVITE);
  assert.ok(msg instanceof SipRequest);
  return msg;
}

function route(raw: unknown): Route {
  const parsed = parseRtjson({ success: true, routes: [raw] });
  if (!parsed.ok || !parsed.document.success) throw new Error('bad test route');
  const first = parsed.document.routes[0];
  if (first === undefined) throw new Error('no route');
  return first;
}

test('From/To display and URI rewritten, tags kept, extra headers appended, path as Route', () => {
  const req = request();
  const changed = updateBranch(
    req,
    route({
      headers: {
        from: { display: 'Carrier "X"', uri: 'sip:+15550100@carrier.example' },
        to: { uri: 'sip:+15550199@carrier.example' },
        extra: 'X-Account: 42\r\nX-Route: gw1',
      },
      path: '<sip:edge2.example;lr>',
    }),
  );
  assert.equal(changed, true);
  const out = parseMessage(req.toBuffer());
  assert.equal(out.getHeader('from'), '"Carrier \\"X\\"" <sip:+15550100@carrier.example>;tag=abc');
  assert.equal(out.from.displayName, 'Carrier "X"');
  assert.equal(out.from.tag, 'abc');
  assert.equal(out.getHeader('to'), '"Bob" <sip:+15550199@carrier.example>');
  assert.equal(out.getHeader('x-account'), '42');
  assert.equal(out.getHeader('x-route'), 'gw1');
  assert.equal(out.getHeader('x-keep'), 'yes');
  assert.deepEqual(out.getHeaders('route'), ['<sip:edge2.example;lr>']);
});

test('an empty display name removes it; a route without headers changes nothing', () => {
  const req = request();
  assert.equal(updateBranch(req, route({ headers: { from: { display: '' } } })), true);
  assert.equal(req.getHeader('from'), '<sip:alice@example.com>;tag=abc');
  const untouched = request();
  assert.equal(updateBranch(untouched, route({ uri: 'sip:x@y' })), false);
  assert.equal(untouched.toBuffer().toString('latin1'), INVITE);
});

test('restoreFromTo puts the caller’s From/To back on a response, with the UAS To tag', () => {
  const original = request();
  const branch = original.clone();
  updateBranch(branch, route({ headers: { from: { uri: 'sip:x@y' }, to: { uri: 'sip:z@y' } } }));
  const res = new SipResponse(200, 'OK');
  res.setHeader('Via', 'SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1');
  res.setHeader('From', branch.getHeader('from') ?? '');
  res.setHeader('To', `${branch.getHeader('to') ?? ''};tag=uas1`);
  res.setHeader('Call-ID', 'c1');
  res.setHeader('CSeq', '1 INVITE');
  restoreFromTo(res, original);
  const out = parseMessage(res.toBuffer());
  assert.equal(out.getHeader('from'), '"Alice" <sip:alice@example.com>;tag=abc');
  assert.equal(out.getHeader('to'), 'Bob <sip:bob@example.com>;tag=uas1');
});

test('credentialsUser reads the Digest username, quoted or not', () => {
  assert.equal(credentialsUser('Digest username="al\\"ice", realm="x", nonce="n"'), 'al"ice');
  assert.equal(credentialsUser('Digest realm="x", username=bob'), 'bob');
  assert.equal(credentialsUser('Digest realm="x"'), '');
  assert.equal(credentialsUser(undefined), '');
});

test('in-dialog From/To: forward for the caller, back for the callee; a forged parameter is ignored', () => {
  const initial = request();
  const before = fromTo(initial);
  updateBranch(
    initial,
    route({ headers: { from: { uri: 'sip:carrier@x' }, to: { display: '' } } }),
  );
  const saved = encodeDialogRewrite(before, initial);
  assert.ok(saved !== undefined && /^[A-Za-z0-9_-]+$/.test(saved), 'a plain URI parameter');
  const rw = decodeDialogRewrite(saved);
  assert.ok(rw);

  const fromCaller = request();
  fromCaller.setHeader('To', 'Bob <sip:bob@example.com>;tag=uas');
  applyDialogRewrite(fromCaller, rw);
  assert.equal(fromCaller.getHeader('from'), '"Alice" <sip:carrier@x>;tag=abc');
  assert.equal(fromCaller.getHeader('to'), '<sip:bob@example.com>;tag=uas');

  const fromCallee = request();
  fromCallee.setHeader('From', '<sip:bob@example.com>;tag=uas');
  fromCallee.setHeader('To', '"Alice" <sip:carrier@x>;tag=abc');
  applyDialogRewrite(fromCallee, rw);
  assert.equal(fromCallee.getHeader('from'), '"Bob" <sip:bob@example.com>;tag=uas');
  assert.equal(fromCallee.getHeader('to'), '"Alice" <sip:alice@example.com>;tag=abc');

  assert.equal(encodeDialogRewrite(fromTo(request()), request()), undefined, 'nothing changed');
  const forged = (value: unknown) =>
    decodeDialogRewrite(Buffer.from(JSON.stringify(value)).toString('base64url'));
  assert.equal(decodeDialogRewrite('!!not base64 json'), undefined);
  assert.equal(
    forged({ fromTag: 'a', from: [{ u: 'sip:a@b>\r\nVia: x' }, { u: 'sip:c@d' }] }),
    undefined,
  );
  assert.equal(forged({ fromTag: 1 }), undefined);
  assert.equal(forged({ fromTag: 'a', to: [{ u: 'sip:a@b' }] }), undefined);
});
