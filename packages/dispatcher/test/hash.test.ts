import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  dsHash,
  hashAuthUsername,
  hashCallId,
  hashUri,
  hashValue,
  parseList,
  select,
  uriHashKeys,
} from '../src/index.js';

// Values printed by Kamailio's ds_get_hash (dispatch.c) compiled with gcc on x86-64 (signed
// char), fed the same strings: the port must agree bit for bit, forever.
const PINNED: [string, string | undefined, number][] = [
  ['a84b4c76e66710@pc33.atlanta.com', undefined, 2175018094],
  ['alice', 'atlanta.com', 1053853112],
  ['bob', 'biloxi.example.com:5070', 571038932],
  ['', '10.0.0.1', 1662767775],
  ['abc', undefined, 7167810],
  ['', undefined, 1],
  ['x', undefined, 119],
  ['1234', undefined, 924651761],
  ['hello world, this is a longer call-id 0123456789', undefined, 425038497],
  ['ünïcødé@ex', undefined, 87470622],
  ['user', '', 2079352156],
  ['42@proxy', undefined, 2935091928],
];

test('dsHash reproduces Kamailio ds_get_hash values', () => {
  for (const [x, y, expected] of PINNED) {
    assert.equal(dsHash(x, y), expected, `dsHash(${JSON.stringify(x)}, ${JSON.stringify(y)})`);
  }
});

test('Call-ID, auth username and alg 7 values are trimmed before hashing', () => {
  assert.equal(hashCallId('  a84b4c76e66710@pc33.atlanta.com\t'), 2175018094);
  assert.equal(hashAuthUsername(' abc '), 7167810);
  assert.equal(hashValue('42@proxy '), 2935091928);
});

test('uriHashKeys takes user and host[:port], dropping default ports, params and headers', () => {
  assert.deepEqual(uriHashKeys('sip:alice@atlanta.com;transport=tcp?subject=x'), {
    user: 'alice',
    hostPort: 'atlanta.com',
  });
  assert.deepEqual(uriHashKeys('sip:alice@atlanta.com:5060'), {
    user: 'alice',
    hostPort: 'atlanta.com',
  });
  assert.deepEqual(uriHashKeys('sip:alice@atlanta.com:5061'), {
    user: 'alice',
    hostPort: 'atlanta.com:5061',
  });
  assert.deepEqual(uriHashKeys('sips:alice@atlanta.com:5061'), {
    user: 'alice',
    hostPort: 'atlanta.com',
  });
  assert.deepEqual(uriHashKeys('sip:bob:secret@biloxi.example.com:5070'), {
    user: 'bob',
    hostPort: 'biloxi.example.com:5070',
  });
  assert.deepEqual(uriHashKeys('sip:+1555;npdi@gw.example.com'), {
    user: '+1555;npdi',
    hostPort: 'gw.example.com',
  });
  assert.deepEqual(uriHashKeys('sip:10.0.0.1'), { user: '', hostPort: '10.0.0.1' });
  assert.deepEqual(uriHashKeys('sip:[2001:db8::1]:5080'), {
    user: '',
    hostPort: '[2001:db8::1]:5080',
  });
  assert.deepEqual(uriHashKeys('SIP:Alice@Atlanta.COM'), {
    user: 'Alice',
    hostPort: 'Atlanta.COM',
  });
  assert.deepEqual(uriHashKeys('sip:alice@atlanta.com:5070', true), {
    user: 'alice',
    hostPort: '',
  });
});

test('uriHashKeys refuses what is not a sip/sips URI with a host', () => {
  for (const bad of [
    '',
    'alice',
    'tel:+15551234',
    'sip:',
    'sip:alice@',
    'sip:host:99999',
    'sip:host:',
    'sip:[::1',
  ]) {
    assert.equal(uriHashKeys(bad), undefined, bad);
  }
});

test('hashUri hashes the two parts separately, not the joined string', () => {
  assert.equal(hashUri('sip:alice@atlanta.com'), 1053853112);
  assert.equal(hashUri('sip:bob@biloxi.example.com:5070;lr'), 571038932);
  assert.notEqual(hashUri('sip:alice@atlanta.com'), dsHash('alice@atlanta.com'));
  assert.equal(hashUri('sip:alice@atlanta.com:5070', true), dsHash('alice', ''));
  assert.equal(hashUri('mailto:alice@atlanta.com'), undefined);
});

test('the same input always picks the same destination, and the pick is hash % size', () => {
  const [set] = parseList(
    ['1 sip:a.example.com 0 0', '1 sip:b.example.com 0 0', '1 sip:c.example.com 0 0'].join('\n'),
  );
  assert.ok(set);
  const callId = 'a84b4c76e66710@pc33.atlanta.com';
  const first = select(set, 0, { callId }).candidates[0];
  for (let i = 0; i < 5; i++) assert.equal(select(set, 0, { callId }).candidates[0], first);
  assert.equal(first?.index, 2175018094 % 3);
  const from = select(set, 1, { fromUri: 'sip:alice@atlanta.com' }).candidates[0];
  assert.equal(from?.index, 1053853112 % 3);
});
