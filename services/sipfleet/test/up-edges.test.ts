// `sipfleet up --edges`: a count, or `auto` for one edge per core (one Node.js edge uses one core).
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { test } from 'node:test';
import { edgeCount } from '../src/commands/up.js';

test('--edges auto runs one edge per core, within 1-32', () => {
  assert.equal(edgeCount('auto'), Math.min(availableParallelism(), 32));
  assert.equal(edgeCount('auto', 2), 2);
  assert.equal(edgeCount('auto', 64), 32);
  assert.equal(edgeCount('auto', 0), 1);
});

test('--edges N takes a count 1-32 and refuses anything else', () => {
  assert.equal(edgeCount('1'), 1);
  assert.equal(edgeCount('32'), 32);
  for (const bad of ['0', '33', 'two', '-1', 'Auto', '']) assert.equal(edgeCount(bad), undefined);
});
