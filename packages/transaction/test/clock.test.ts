import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock, resolveTimers, TransactionError } from '../src/index.js';

test('ManualClock fires timers in due order, ties in the order set, with now() at the due time', () => {
  const clock = new ManualClock(1000);
  const fired: string[] = [];
  clock.setTimeout(() => fired.push(`c@${clock.now()}`), 30);
  clock.setTimeout(() => fired.push(`a@${clock.now()}`), 10);
  clock.setTimeout(() => fired.push(`b@${clock.now()}`), 10);
  assert.equal(clock.pending, 3);
  clock.advance(9);
  assert.deepEqual(fired, []);
  clock.advance(21);
  assert.deepEqual(fired, ['a@1010', 'b@1010', 'c@1030']);
  assert.equal(clock.now(), 1030);
  assert.equal(clock.pending, 0);
});

test('ManualClock: cleared timers never fire; timers set while advancing fire in the same advance', () => {
  const clock = new ManualClock();
  const fired: number[] = [];
  const handle = clock.setTimeout(() => fired.push(-1), 5);
  clock.setTimeout(() => {
    fired.push(clock.now());
    clock.setTimeout(() => fired.push(clock.now()), 10);
  }, 5);
  clock.clearTimeout(handle);
  clock.clearTimeout(handle);
  clock.clearTimeout('not a handle');
  assert.equal(clock.pending, 1);
  clock.advance(100);
  assert.deepEqual(fired, [5, 15]);
  assert.equal(clock.now(), 100);
  assert.equal(clock.pending, 0);
});

test('ManualClock keeps order across many timers (heap)', () => {
  const clock = new ManualClock();
  const fired: number[] = [];
  const delays = Array.from({ length: 500 }, (_, i) => (i * 7919) % 1000);
  for (const d of delays) clock.setTimeout(() => fired.push(d), d);
  clock.advance(1000);
  assert.deepEqual(
    fired,
    [...delays].sort((a, b) => a - b),
  );
});

test('resolveTimers derives the lettered timers from T1/T2/T4 (RFC 3261 Table 4)', () => {
  const t = resolveTimers();
  assert.deepEqual(
    [t.T1, t.T2, t.T4, t.A, t.B, t.D, t.E, t.F, t.G, t.H, t.I, t.J, t.K, t.L, t.M],
    [500, 4000, 5000, 500, 32000, 32000, 500, 32000, 500, 32000, 5000, 32000, 5000, 32000, 32000],
  );
  const small = resolveTimers({ T1: 100 });
  assert.equal(small.B, 6400);
  assert.equal(small.D, 32000, 'Timer D does not scale with T1: "at least 32 seconds"');
});

test('resolveTimers rejects nonsense with SIPFLEET_ERR_TX_CONFIG', () => {
  for (const bad of [
    { T1: 0 },
    { T2: -1 },
    { T4: Number.NaN },
    { T1: 5000, T2: 4000 },
    { timerD: Infinity },
  ]) {
    assert.throws(
      () => resolveTimers(bad),
      (err: unknown) => err instanceof TransactionError && err.code === 'SIPFLEET_ERR_TX_CONFIG',
      JSON.stringify(bad),
    );
  }
});
