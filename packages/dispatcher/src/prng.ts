// A small seeded PRNG, so every edge of the fleet shuffles a set's weight slots the same way.

/** A source of uniformly distributed numbers in [0, 1), like Math.random. */
export type RandomSource = () => number;

/**
 * mulberry32 (Tommy Ettinger): 32-bit state, full period 2^32, good enough for shuffling 100
 * slots and far cheaper than a cryptographic source. Deterministic for a given seed.
 */
export function seededRandom(seed: number): RandomSource {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [0, n) drawn from `random`; guards against sources that return exactly 1. */
export function randomIndex(random: RandomSource, n: number): number {
  const i = Math.floor(random() * n);
  return i >= n ? n - 1 : i < 0 ? 0 : i;
}
