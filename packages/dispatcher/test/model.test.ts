import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createSnapshot, DS_INACTIVE_DST, indexOfUri, parseList, withFlags } from '../src/index.js';

const sets = parseList('1 sip:a@x 0 1 rweight=1\n1 sip:b@x 0 0 rweight=1\n2 sip:c@y 0 0\n');

test('a snapshot maps set ids to sets and carries a version', () => {
  const snap = createSnapshot(sets, 7);
  assert.equal(snap.version, 7);
  assert.deepEqual([...snap.sets.keys()], [1, 2]);
  assert.ok(Object.isFrozen(snap));
  assert.ok(Object.isFrozen(snap.sets.get(1)?.destinations));
});

test('withFlags makes a new version and leaves the old snapshot untouched', () => {
  const snap = createSnapshot(sets, 1);
  const next = withFlags(snap, 1, 'SIP:B@X', DS_INACTIVE_DST);
  assert.equal(next.version, 2);
  assert.equal(next.sets.get(1)?.destinations[1]?.flags, DS_INACTIVE_DST);
  assert.equal(snap.sets.get(1)?.destinations[1]?.flags, 0);
  assert.equal(next.sets.get(2), snap.sets.get(2)); // untouched sets are shared
  assert.deepEqual(new Set(next.sets.get(1)?.rweightSlots), new Set([0]));
});

test('withFlags returns the same snapshot when nothing changes', () => {
  const snap = createSnapshot(sets, 1);
  assert.equal(withFlags(snap, 9, 'sip:a@x', 1), snap);
  assert.equal(withFlags(snap, 1, 'sip:zz@x', 1), snap);
  assert.equal(withFlags(snap, 1, 'sip:a@x', 0), snap);
});

test('indexOfUri matches case-insensitively', () => {
  const set = sets[0];
  assert.ok(set);
  assert.equal(indexOfUri(set, 'sip:A@X'), 0);
  assert.equal(indexOfUri(set, 'sip:nope'), -1);
});
