import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DS_ALG,
  DS_INACTIVE_DST,
  FailoverCursor,
  MarkEvidence,
  isActive,
  parseList,
  select,
} from '../src/index.js';

const [set] = parseList(['e', 'd', 'c', 'b', 'a'].map((h) => `1 sip:${h} 0 0`).join('\n'));

test('next() gives the selected destination, then ds_next_dst order, then undefined', () => {
  assert.ok(set);
  const cursor = new FailoverCursor(select(set, DS_ALG.ROUND_ROBIN, {}, { counter: 3 }));
  assert.equal(cursor.remaining, 5);
  assert.equal(cursor.current, undefined);
  const seen: string[] = [];
  for (let c = cursor.next(); c !== undefined; c = cursor.next()) seen.push(c.destination.uri);
  assert.deepEqual(seen, ['sip:d', 'sip:e', 'sip:a', 'sip:b', 'sip:c']);
  assert.equal(cursor.next(), undefined);
  assert.equal(cursor.remaining, 0);
  assert.deepEqual(
    cursor.tried.map((c) => c.index),
    [3, 4, 0, 1, 2],
  );
  const current = (c: FailoverCursor) => c.current; // a getter: TS must not keep the narrowing
  assert.equal(current(cursor)?.destination.uri, 'sip:c');
});

test('next(accept) skips candidates that went down after the selection', () => {
  assert.ok(set);
  const cursor = new FailoverCursor(select(set, DS_ALG.SERIAL, {}, {}, { limit: 4 }));
  assert.equal(cursor.next()?.destination.uri, 'sip:a');
  const nowDown = new Set(['sip:b', 'sip:c']);
  const accept = (d: { uri: string }) => isActive(nowDown.has(d.uri) ? DS_INACTIVE_DST : 0);
  assert.equal(cursor.next(accept)?.destination.uri, 'sip:d');
  assert.equal(cursor.next(accept), undefined); // limit 4: a b c d
  assert.deepEqual(
    cursor.tried.map((c) => c.destination.uri),
    ['sip:a', 'sip:d'],
  );
});

test('a failed selection gives an empty cursor', () => {
  assert.ok(set);
  const cursor = new FailoverCursor(select(set, DS_ALG.HASH_CALLID, {}));
  assert.equal(cursor.selection.failure?.reason, 'missing-input');
  assert.equal(cursor.next(), undefined);
  assert.deepEqual(cursor.tried, []);
});

test('MarkEvidence: a destination is marked after N failures within the window, not after one', () => {
  let now = 0;
  const evidence = new MarkEvidence({ failures: 3, windowMs: 1000, now: () => now });
  assert.equal(evidence.record('sip:A'), false);
  now = 500;
  assert.equal(evidence.record('sip:a'), false, 'URIs compare case-insensitively');
  assert.equal(evidence.record('sip:b'), false, 'each destination counts on its own');
  now = 1200; // the first failure of A left the window
  assert.equal(evidence.record('sip:a'), false);
  now = 1300;
  assert.equal(evidence.record('sip:a'), true, 'three within 1 s');
  assert.equal(evidence.record('sip:a'), false, 'the count starts again after a mark');
});

test('MarkEvidence: failures 1 is Kamailio (mark on the first failure); bad settings throw', () => {
  assert.equal(new MarkEvidence({ failures: 1 }).record('sip:x'), true);
  assert.throws(() => new MarkEvidence({ failures: 0 }), RangeError);
  assert.throws(() => new MarkEvidence({ windowMs: 0 }), RangeError);
});
