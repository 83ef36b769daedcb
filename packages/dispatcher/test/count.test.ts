import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  SipfleetDispatcherError,
  countDestinations,
  parseCountFilter,
  parseList,
  parseRouteRules,
  setIsActive,
} from '../src/index.js';

// Flags: a active, b inactive+probing, c disabled, d trying+probing, e active+probing.
const [set] = parseList(
  [
    '1 sip:a.example.com 0',
    '1 sip:b.example.com 9',
    '1 sip:c.example.com 4',
    '1 sip:d.example.com 10',
    '1 sip:e.example.com 8',
  ].join('\n'),
);

test('ds_count: each filter letter counts its state, several letters count any of them', () => {
  const count = (filter: string) => countDestinations(set, filter);
  assert.equal(count('a'), 3, 'active: a, d (trying is selectable), e');
  assert.equal(count('i'), 1);
  assert.equal(count('d'), 1);
  assert.equal(count('t'), 1);
  assert.equal(count('P'), 3, 'any case');
  assert.equal(count('id'), 2, 'the unusable ones');
  assert.equal(count('*'), 5);
  assert.equal(countDestinations(undefined, 'a'), 0, 'a missing set counts nothing');
  for (const bad of ['', 'x', 'ax']) {
    assert.throws(
      () => parseCountFilter(bad),
      (e: unknown) =>
        e instanceof SipfleetDispatcherError && e.code === 'SIPFLEET_ERR_DISPATCHER_STATE',
    );
  }
});

test('ds_is_active: the set has an active destination, or the named one is active', () => {
  assert.equal(setIsActive(set), true);
  assert.equal(setIsActive(set, 'sip:A.example.com'), true, 'URIs match case-insensitively');
  assert.equal(setIsActive(set, 'sip:b.example.com'), false);
  assert.equal(setIsActive(set, 'sip:c.example.com'), false);
  assert.equal(setIsActive(set, 'sip:d.example.com'), true);
  assert.equal(setIsActive(set, 'sip:z.example.com'), false, 'not in the set');
  assert.equal(setIsActive(undefined), false);
  const [down] = parseList('2 sip:x.example.com 1\n2 sip:y.example.com 4');
  assert.equal(setIsActive(down), false);
});

test('ds_select_routes rules: set=alg pairs separated by semicolons', () => {
  assert.deepEqual(parseRouteRules('1=4;2=0'), [
    { set: 1, alg: 4 },
    { set: 2, alg: 0 },
  ]);
  assert.deepEqual(parseRouteRules(' 3 = 13 ; '), [{ set: 3, alg: 13 }]);
  for (const bad of ['', '1', '1=14', 'a=1', '1=4;;2=0', '2147483648=0']) {
    assert.throws(
      () => parseRouteRules(bad),
      (e: unknown) =>
        e instanceof SipfleetDispatcherError && e.code === 'SIPFLEET_ERR_DISPATCHER_ROUTES',
      bad,
    );
  }
});
