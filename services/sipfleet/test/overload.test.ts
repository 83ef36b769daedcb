// The overload monitor on a real event loop: this test blocks its own loop with busy-waits and
// hands the monitor a transaction count it controls. No timed assertions: each step waits for the
// condition it needs (samples arrive when the loop is free again).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as yieldLoop } from 'node:timers/promises';
import { parseEdgeConfig } from '../src/config.js';
import { OverloadMonitor } from '../src/edge/overload.js';
import type { OverloadSample } from '../src/edge/overload.js';

function busyWait(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // the loop is blocked on purpose
  }
}

/** Lets timers run until `check` holds; `load` runs between turns (e.g. a busy-wait). */
async function until(what: string, check: () => boolean, load: () => void = () => undefined) {
  for (let turns = 0; !check(); turns++) {
    if (turns > 20_000) throw new Error(`overload test: never saw ${what}`);
    load();
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

function monitor(overrides: Record<string, unknown> = {}) {
  const settings = parseEdgeConfig({
    // windowMs = sampleIntervalMs: every sample counts in full (no averaging) unless a test says so.
    overload: {
      sampleIntervalMs: 20,
      windowMs: 20,
      eventLoopDelayMs: 50,
      recoveryMs: 100,
      ...overrides,
    },
  }).overload;
  const counts = { server: 0, client: 0 };
  const samples: OverloadSample[] = [];
  const m = new OverloadMonitor(
    settings,
    () => counts,
    (s) => samples.push(s),
  );
  return { m, counts, samples };
}

test('a blocked event loop turns overload on; it goes off again once the loop is free', async (t) => {
  const { m, samples } = monitor();
  t.after(() => m.close());
  // Start-up (module loading) may itself look like overload: wait for the calm state first.
  await until('a calm loop', () => samples.length > 0 && !m.overloaded && !m.laggedWithin(50));
  assert.equal(m.shed('INVITE'), undefined, 'nothing shed while calm');

  const before = samples.length;
  busyWait(300);
  await until('overload after a 300 ms block', () => m.overloaded);
  const hot = samples.slice(before).find((s) => s.overloaded);
  assert.ok(hot !== undefined && hot.delayMs > 50, 'the sample after the block saw the delay');
  assert.ok(m.laggedWithin(60_000), 'the lag is remembered');
  assert.ok(m.shedFraction > 0 && m.shedFraction < 1, 'one hot sample sheds a part, not all');

  await until('overload off again', () => !m.overloaded);
  assert.equal(m.shedFraction, 0);
  assert.equal(m.shed('INVITE'), undefined, 'calls go through again');
  await until('the lag to age out of a short window', () => !m.laggedWithin(50));
  assert.ok(m.laggedWithin(60_000), 'still inside a long window');
});

test('one stall is remembered as lag but sheds nothing when averaged over a longer window', async (t) => {
  const { m, samples } = monitor({ windowMs: 2000 });
  t.after(() => m.close());
  await until('a calm loop', () => samples.length > 0 && !m.overloaded && !m.laggedWithin(50));
  const before = samples.length;
  busyWait(150);
  await until('the sample after the stall', () => samples.length > before);
  const sample = samples[before];
  assert.ok(sample !== undefined && sample.delayMs > 50, 'the stall was measured');
  assert.ok(sample.averageDelayMs < 50, `averaged: ${sample.averageDelayMs} ms`);
  assert.ok(m.laggedWithin(60_000), 'a timeout now is no evidence against a destination');
  assert.equal(m.overloaded, false);
  assert.equal(m.shed('INVITE'), undefined);
});

test('sustained overload raises the shed share step by step up to all new calls', async (t) => {
  const { m, samples } = monitor({ step: 0.25 });
  t.after(() => m.close());
  // Keep the loop saturated (busy 60 ms per turn) until everything is shed.
  await until(
    'a shed share of 1',
    () => m.shedFraction === 1,
    () => busyWait(60),
  );
  const shares = samples.map((s) => s.shedFraction);
  assert.ok(
    shares.some((f) => f > 0 && f < 1),
    `the share grew through partial values: ${shares.join(',')}`,
  );
  for (let i = 0; i < 10; i++) assert.equal(m.shed('INVITE'), 'load');
  assert.equal(m.shed('OPTIONS'), undefined, 'methods outside overload.methods are not shed');
});

test('a partial shed share refuses that share of new calls, spread evenly', async (t) => {
  const { m } = monitor({ step: 0.5 });
  t.after(() => m.close());
  busyWait(200);
  await until('a share of one half', () => m.shedFraction === 0.5);
  const decisions = Array.from({ length: 10 }, () => m.shed('INVITE'));
  assert.deepEqual(
    decisions.filter((d) => d === 'load').length,
    5,
    `half shed: ${decisions.join(',')}`,
  );
  assert.ok(decisions.includes(undefined));
});

test('the hard cap sheds every new initial request while transactions are at the limit', async (t) => {
  const { m, counts } = monitor({ maxTransactions: 1000 });
  t.after(() => m.close());
  counts.server = 600;
  counts.client = 399;
  assert.equal(m.shed('INVITE'), undefined);
  counts.client = 400;
  assert.equal(m.shed('INVITE'), 'transactions');
  assert.equal(m.shed('OPTIONS'), 'transactions', 'every method at the cap');
  assert.equal(m.overloaded, false, 'the cap is not the load signal');
  counts.server = 10;
  assert.equal(m.shed('INVITE'), undefined, 'below the cap again');
});

test('enabled: false sheds nothing but still tracks lag', async (t) => {
  const { m, counts } = monitor({ enabled: false, maxTransactions: 1 });
  t.after(() => m.close());
  counts.server = 10;
  busyWait(200);
  await until('the lag seen', () => m.laggedWithin(60_000));
  assert.equal(m.shed('INVITE'), undefined);
});

test('laggedWithin sees a blocked loop before the next sample', async (t) => {
  const { m, samples } = monitor({ sampleIntervalMs: 1000 });
  t.after(() => m.close());
  await yieldLoop();
  const seen = samples.length;
  busyWait(1200);
  // The sampling timer is overdue by more than eventLoopDelayMs and has not run yet.
  assert.equal(samples.length, seen);
  assert.ok(m.laggedWithin(0));
});
