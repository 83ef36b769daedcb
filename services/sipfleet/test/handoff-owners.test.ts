// The announced owners: a map look-up that forgets an entry after its transaction's lifetime and
// keeps at most maxEntries, dropping the oldest.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OwnerTable } from '../src/edge/handoff/owners.js';

test('an announced owner is found until its lifetime ends, then forgotten by the sweep', () => {
  const table = new OwnerTable(1000, 10, () => assert.fail('nothing to evict'));
  table.set('tx-a', 'edge-1', 0);
  table.set('tx-b', 'edge-2', 500);
  assert.equal(table.get('tx-a', 1000), 'edge-1');
  assert.equal(table.get('tx-a', 1001), undefined);
  assert.equal(table.get('tx-c', 0), undefined);
  table.sweep(1001);
  assert.equal(table.size, 1);
  assert.equal(table.get('tx-b', 1001), 'edge-2');
});

test('a takeover moves the transaction to its new owner with a fresh lifetime', () => {
  const table = new OwnerTable(1000, 10, () => undefined);
  table.set('tx-a', 'edge-1', 0);
  table.set('tx-b', 'edge-2', 100);
  table.set('tx-a', 'edge-3', 900);
  table.sweep(1500); // tx-b expired; tx-a, moved behind it, did not
  assert.equal(table.size, 1);
  assert.equal(table.get('tx-a', 1500), 'edge-3');
});

test('a full table drops its oldest entry and counts it', () => {
  let evicted = 0;
  const table = new OwnerTable(1000, 2, () => evicted++);
  table.set('tx-a', 'edge-1', 0);
  table.set('tx-b', 'edge-1', 1);
  table.set('tx-c', 'edge-1', 2);
  assert.equal(evicted, 1);
  assert.equal(table.size, 2);
  assert.equal(table.get('tx-a', 2), undefined);
  assert.equal(table.get('tx-c', 2), 'edge-1');
});
