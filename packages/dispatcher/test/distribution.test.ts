// Statistical checks of alg 9 and alg 11 over 100,000 selections with a seeded random source:
// deterministic, so a pass is repeatable, yet a wrong table or slot pick fails the chi-square.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DS_ALG, parseList, select, seededRandom, type DestinationSet } from '../src/index.js';

const N = 100_000;
/** Chi-square critical values at p = 0.001 by degrees of freedom. */
const CRITICAL_001: Record<number, number> = { 1: 10.828, 2: 13.816, 3: 16.266 };

function chiSquare(observed: number[], expectedShare: number[]): number {
  let chi = 0;
  observed.forEach((o, i) => {
    const e = (expectedShare[i] ?? 0) * N;
    chi += ((o - e) * (o - e)) / e;
  });
  return chi;
}

function counts(set: DestinationSet, alg: number, seed: number): number[] {
  const random = seededRandom(seed);
  const out = new Array<number>(set.destinations.length).fill(0);
  for (let i = 0; i < N; i++) {
    const idx = select(set, alg, {}, { random }).candidates[0]?.index ?? -1;
    out[idx] = (out[idx] ?? 0) + 1;
  }
  return out;
}

test('alg 9 with random slots follows the weights (chi-square, p = 0.001)', () => {
  const [set] = parseList('1 sip:a 0 3 weight=50\n1 sip:b 0 2 weight=30\n1 sip:c 0 1 weight=20\n');
  assert.ok(set);
  const observed = counts(set, DS_ALG.WEIGHT, 1);
  const chi = chiSquare(observed, [0.5, 0.3, 0.2]);
  assert.ok(chi < (CRITICAL_001[2] ?? 0), `chi-square ${chi.toFixed(2)} for ${observed.join('/')}`);
});

test('alg 11 with random slots follows the relative weights of the active destinations', () => {
  const [set] = parseList(
    '1 sip:a 0 4 rweight=10\n1 sip:b 0 3 rweight=30\n1 sip:c 1 2 rweight=50\n1 sip:d 0 1 rweight=60\n',
  );
  assert.ok(set);
  const observed = counts(set, DS_ALG.RELATIVE_WEIGHT, 2);
  assert.equal(observed[2], 0, 'the inactive destination gets nothing');
  // Active sum 100: shares 10/30/60 exactly (no truncation remainder).
  const active = [observed[0] ?? 0, observed[1] ?? 0, observed[3] ?? 0];
  const chi = chiSquare(active, [0.1, 0.3, 0.6]);
  assert.ok(chi < (CRITICAL_001[2] ?? 0), `chi-square ${chi.toFixed(2)} for ${active.join('/')}`);
});

test('a wrong distribution is caught by the same check', () => {
  const [set] = parseList('1 sip:a 0 3 weight=50\n1 sip:b 0 2 weight=30\n1 sip:c 0 1 weight=20\n');
  assert.ok(set);
  const observed = counts(set, DS_ALG.WEIGHT, 1);
  assert.ok(chiSquare(observed, [0.45, 0.35, 0.2]) > (CRITICAL_001[2] ?? 0));
});

test('alg 9 over a fleet-wide counter: exact shares in every window of 100', () => {
  const [set] = parseList('1 sip:a 0 3 weight=50\n1 sip:b 0 2 weight=30\n1 sip:c 0 1 weight=20\n');
  assert.ok(set);
  const out = [0, 0, 0];
  for (let counter = 0; counter < N; counter++) {
    const idx = select(set, DS_ALG.WEIGHT, {}, { counter }).candidates[0]?.index ?? -1;
    out[idx] = (out[idx] ?? 0) + 1;
  }
  assert.deepEqual(out, [50_000, 30_000, 20_000]);
});
