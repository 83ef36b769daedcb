// The lease's rules, on a counter held in this test (the Redis side is in
// fleet-selection.redis.test.ts): positions come in order, each once, the next block is asked
// for at half of this one, and callers wait only while no block is leased.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RoundRobinLease } from '../src/fleet/round-robin-lease.js';

/** A counter whose INCRBY answers when the test says so. */
function counter() {
  let value = 0;
  const calls: number[] = [];
  const waiting: (() => void)[] = [];
  return {
    calls,
    incrBy: (size: number) => {
      calls.push(size);
      return new Promise<number>((resolve) => waiting.push(() => resolve((value += size))));
    },
    answer: () => waiting.shift()?.(),
    /** Another edge takes a block meanwhile. */
    skip: (n: number) => (value += n),
  };
}

test('the first call waits for a block, then positions come from it in order', async () => {
  const c = counter();
  const lease = new RoundRobinLease(4, c.incrBy, (err) => assert.fail(String(err)));
  assert.equal(lease.take(), undefined);
  const refilled = lease.refill();
  assert.deepEqual(c.calls, [4], 'one INCRBY in flight, not two');
  c.answer();
  await refilled;
  assert.deepEqual([lease.take(), lease.take()], [0, 1]);
  // Half of the block used: the next one is asked for while 2 and 3 are still handed out.
  assert.deepEqual(c.calls, [4, 4]);
  c.skip(4); // another edge took 4..7 first
  c.answer();
  await lease.refill();
  assert.deepEqual([lease.take(), lease.take(), lease.take(), lease.take()], [2, 3, 8, 9]);
  assert.deepEqual(c.calls, [4, 4, 4], 'the third block asked for at half of the second');
});

test('calls never wait while the block ahead arrives in time', async () => {
  const c = counter();
  const lease = new RoundRobinLease(10, c.incrBy, (err) => assert.fail(String(err)));
  const first = lease.refill();
  c.answer();
  await first;
  const seen: number[] = [];
  for (let i = 0; i < 50; i++) {
    const position = lease.take();
    assert.notEqual(position, undefined, `call ${i} had to wait`);
    seen.push(position ?? -1);
    c.answer(); // each INCRBY answers before the next call
    await Promise.resolve();
    await Promise.resolve();
  }
  assert.deepEqual(
    seen,
    Array.from({ length: 50 }, (_, i) => i),
  );
  assert.ok(c.calls.length <= 6, `${c.calls.length} INCRBY for 50 positions of blocks of 10`);
});

test('a failed INCRBY is reported, and the next take asks again', async () => {
  const errors: unknown[] = [];
  let fail = true;
  let value = 0;
  const lease = new RoundRobinLease(
    2,
    async (size) => {
      if (fail) throw new Error('connection is closed');
      return (value += size);
    },
    (err) => errors.push(err),
  );
  assert.equal(lease.take(), undefined);
  await lease.refill();
  assert.equal(lease.take(), undefined, 'no block after a failure');
  await lease.refill();
  assert.equal(errors.length, 2);
  fail = false;
  await lease.refill();
  assert.equal(lease.take(), 0);
});
