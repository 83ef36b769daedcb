// The REGISTER side of registration-based keepalive without Redis: which bindings a REGISTER
// carries (every Contact, q after the `>` or inside the brackets, expires param over the header)
// and the attrs a registered destination stores its AOR and Path in.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseList } from '@sipfleet/dispatcher';
import { parseMessage, type SipRequest } from '@sipfleet/sip';
import {
  isRegisteredDestination,
  parseQ,
  registerBindings,
  registeredAor,
  registeredAttrs,
  registeredPath,
} from '../src/registration.js';

function register(...headers: string[]): SipRequest {
  return parseMessage(
    Buffer.from(
      'REGISTER sip:proxy.example SIP/2.0\r\n' +
        'Via: SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bKr1\r\n' +
        'From: <sip:ms@example>;tag=1\r\nTo: <sip:ms@example>\r\nCall-ID: r1\r\n' +
        'CSeq: 1 REGISTER\r\nMax-Forwards: 70\r\n' +
        headers.map((h) => `${h}\r\n`).join('') +
        'Content-Length: 0\r\n\r\n',
    ),
  ) as SipRequest;
}

test('parseQ: RFC 3261 qvalues in thousandths, anything else undefined', () => {
  assert.equal(parseQ('1'), 1000);
  assert.equal(parseQ('1.000'), 1000);
  assert.equal(parseQ('0.5'), 500);
  assert.equal(parseQ('0.05'), 50);
  assert.equal(parseQ('0'), 0);
  assert.equal(parseQ('1.5'), undefined);
  assert.equal(parseQ('0.1234'), undefined);
  assert.equal(parseQ('high'), undefined);
});

test('every Contact of a REGISTER, q after the > or inside the brackets, expires param over the header', () => {
  const parsed = registerBindings(
    register(
      'Contact: <sip:a@192.0.2.1:5070>;q=1.0, <sip:b@192.0.2.1:5072;q=0.5>',
      'Contact: <sip:c@192.0.2.1:5074>;expires=0',
      'Expires: 120',
    ),
  );
  assert.deepEqual(parsed, {
    kind: 'bindings',
    bindings: [
      { uri: 'sip:a@192.0.2.1:5070', expires: 120, q: 1000 },
      { uri: 'sip:b@192.0.2.1:5072', expires: 120, q: 500 },
      { uri: 'sip:c@192.0.2.1:5074', expires: 0, q: undefined },
    ],
  });
});

test('wildcard, query and malformed REGISTERs', () => {
  assert.deepEqual(registerBindings(register('Contact: *', 'Expires: 0')), { kind: 'remove-all' });
  assert.equal(registerBindings(register('Contact: *', 'Expires: 60')).kind, 'error');
  assert.deepEqual(registerBindings(register()), { kind: 'query' });
  assert.equal(registerBindings(register('Contact: <sip:a@h>;q=2')).kind, 'error');
  assert.equal(registerBindings(register('Contact: <sip:a@h>', 'Expires: soon')).kind, 'error');
  assert.deepEqual(registerBindings(register('Contact: <sip:a@h>'), 300), {
    kind: 'bindings',
    bindings: [{ uri: 'sip:a@h', expires: 300, q: undefined }],
  });
});

test('registered attrs survive the dispatcher list format: AOR and Path with ; , and <> in them', () => {
  const path = ['<sip:p1.example;lr>', '<sip:p2.example;lr;x=1,2>'];
  const attrs = registeredAttrs('sip:ms@example', path);
  const [set] = parseList(`4 sip:ms@192.0.2.1:5070 0 500 ${attrs}\n4 sip:listed.example 0 0\n`);
  const [registered, listed] = set!.destinations;
  assert.ok(isRegisteredDestination(registered!));
  assert.equal(registeredAor(registered!), 'sip:ms@example');
  assert.deepEqual(registeredPath(registered!), path);
  assert.ok(!isRegisteredDestination(listed!));
  assert.equal(registeredPath(listed!), undefined);
});
