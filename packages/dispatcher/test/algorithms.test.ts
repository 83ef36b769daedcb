import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  createSnapshot,
  DS_ALG,
  DS_DISABLED_DST,
  DS_INACTIVE_DST,
  dsHash,
  parseList,
  select,
  seededRandom,
  withFlags,
  type DestinationSet,
  type Selection,
} from '../src/index.js';

/** The first set of a list text. */
function setOf(text: string): DestinationSet {
  const [set] = parseList(text);
  assert.ok(set, 'list has a set');
  return set;
}

/** Five equal-priority destinations a..e in set order (written e..a, since ties reverse). */
function five(flags: Partial<Record<string, number>> = {}): DestinationSet {
  return setOf(
    ['e', 'd', 'c', 'b', 'a']
      .map((h) => `1 sip:${h}.example.com ${flags[h] ?? 0} 0 duid=${h}`)
      .join('\n'),
  );
}

const hosts = (s: Selection) => s.candidates.map((c) => c.destination.uri.slice(4, 5)).join('');

test('set order is what the tests assume', () => {
  assert.equal(hosts(select(five(), DS_ALG.SERIAL, {})), 'abcde');
});

test('alg 0: Call-ID hash modulo set size; failover is the rest after it, then before it', () => {
  const callId = 'a84b4c76e66710@pc33.atlanta.com';
  const i = dsHash(callId) % 5; // 2175018094 % 5 = 4 => e
  assert.equal(i, 4);
  assert.equal(hosts(select(five(), DS_ALG.HASH_CALLID, { callId })), 'eabcd');
  assert.equal(select(five(), DS_ALG.HASH_CALLID, {}).failure?.reason, 'missing-input');
});

test('a hashed destination that is inactive or disabled hands over to the next active one', () => {
  const callId = 'a84b4c76e66710@pc33.atlanta.com'; // lands on e
  const set = five({ e: DS_INACTIVE_DST, a: DS_DISABLED_DST });
  // e is down, wrap to a (disabled), then b; failover skips the down ones.
  assert.equal(hosts(select(set, DS_ALG.HASH_CALLID, { callId })), 'bcd');
});

test('alg 1, 2, 3 hash From, To and Request-URI user + host[:port]', () => {
  const set = five();
  const expected = 'abcde'[dsHash('alice', 'atlanta.com') % 5];
  assert.equal(
    hosts(select(set, DS_ALG.HASH_FROM_URI, { fromUri: 'sip:alice@atlanta.com;x=1' }))[0],
    expected,
  );
  assert.equal(
    hosts(select(set, DS_ALG.HASH_TO_URI, { toUri: 'sip:alice@atlanta.com:5060' }))[0],
    expected,
  );
  assert.equal(
    hosts(select(set, DS_ALG.HASH_RURI, { ruri: ' sip:alice@atlanta.com ' }))[0],
    expected,
  );
  const userOnly = 'abcde'[dsHash('alice', '') % 5];
  assert.equal(
    hosts(
      select(set, DS_ALG.HASH_RURI, { ruri: 'sip:alice@other.net:5080' }, {}, { userOnly: true }),
    )[0],
    userOnly,
  );
  const bad = select(set, DS_ALG.HASH_FROM_URI, { fromUri: 'tel:+1555' });
  assert.equal(bad.failure?.reason, 'bad-input');
  assert.deepEqual(bad.candidates, []);
  assert.equal(
    select(set, DS_ALG.HASH_TO_URI, { fromUri: 'sip:a@b' }).failure?.reason,
    'missing-input',
  );
});

test('alg 4: round-robin over the caller counter, skipping inactive ones', () => {
  const set = five();
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map(
      (counter) => hosts(select(set, DS_ALG.ROUND_ROBIN, {}, { counter }))[0],
    ),
    ['a', 'b', 'c', 'd', 'e', 'a', 'b', 'c', 'd', 'e'],
  );
  const withDown = five({ b: DS_INACTIVE_DST });
  assert.equal(hosts(select(withDown, DS_ALG.ROUND_ROBIN, {}, { counter: 1 })), 'cdea');
  assert.equal(
    hosts(select(set, DS_ALG.ROUND_ROBIN, {}, { counter: 2 ** 40 + 3 }))[0],
    'abcde'[(2 ** 40 + 3) % 5],
  );
  assert.equal(select(set, DS_ALG.ROUND_ROBIN, {}).failure?.reason, 'missing-input');
  assert.equal(select(set, DS_ALG.ROUND_ROBIN, {}, { counter: 1.5 }).failure?.reason, 'bad-input');
});

test('alg 5: auth username hash; without credentials Kamailio falls back to round-robin', () => {
  const set = five();
  assert.equal(
    hosts(select(set, DS_ALG.HASH_AUTH_USER, { authUser: 'abc' }, { counter: 0 }))[0],
    'abcde'[dsHash('abc') % 5],
  );
  assert.equal(hosts(select(set, DS_ALG.HASH_AUTH_USER, {}, { counter: 3 }))[0], 'd');
  assert.equal(
    hosts(select(set, DS_ALG.HASH_AUTH_USER, { authUser: '  ' }, { counter: 1 }))[0],
    'b',
  );
  assert.equal(select(set, DS_ALG.HASH_AUTH_USER, {}).failure?.reason, 'missing-input');
});

test('alg 6: random index from the injected source', () => {
  const set = five();
  assert.equal(hosts(select(set, DS_ALG.RANDOM, {}, { random: () => 0 }))[0], 'a');
  assert.equal(hosts(select(set, DS_ALG.RANDOM, {}, { random: () => 0.5 }))[0], 'c');
  assert.equal(hosts(select(set, DS_ALG.RANDOM, {}, { random: () => 0.9999 }))[0], 'e');
  assert.equal(hosts(select(set, DS_ALG.RANDOM, {}, { random: () => 1 }))[0], 'e');
});

test('alg 7: hash of the caller-supplied value (ds_hash_pvar), empty is an error', () => {
  const set = five();
  assert.equal(
    hosts(select(set, DS_ALG.HASH_PV, { hashValue: '42@proxy' }))[0],
    'abcde'[dsHash('42@proxy') % 5],
  );
  assert.equal(select(set, DS_ALG.HASH_PV, { hashValue: ' ' }).failure?.reason, 'bad-input');
  assert.equal(select(set, DS_ALG.HASH_PV, {}).failure?.reason, 'missing-input');
});

test('alg 8: priority order, the highest first, inactive ones skipped', () => {
  const set = setOf('1 sip:low 0 1\n1 sip:high 0 9\n1 sip:mid 0 5\n1 sip:down 1 10\n');
  assert.deepEqual(
    select(set, DS_ALG.SERIAL, {}).candidates.map((c) => c.destination.uri),
    ['sip:high', 'sip:mid', 'sip:low'],
  );
});

test('unknown algorithm numbers use the first entry, as Kamailio', () => {
  assert.equal(hosts(select(five({ a: DS_INACTIVE_DST }), 64, {})), 'bcde');
});

test('limit caps the candidate list, the selected one included; 0 means no limit', () => {
  const set = five();
  assert.equal(hosts(select(set, DS_ALG.ROUND_ROBIN, {}, { counter: 3 }, { limit: 2 })), 'de');
  assert.equal(hosts(select(set, DS_ALG.ROUND_ROBIN, {}, { counter: 3 }, { limit: 0 })), 'deabc');
  assert.equal(hosts(select(set, DS_ALG.ROUND_ROBIN, {}, { counter: 3 }, { limit: 99 })), 'deabc');
  assert.equal(select(set, DS_ALG.SERIAL, {}, {}, { limit: -1 }).failure?.reason, 'bad-input');
});

test('no active destination, or an empty set, is a failure with no candidates', () => {
  const down = five({ a: 1, b: 1, c: 4, d: 1, e: 5 });
  for (const alg of [0, 1, 4, 6, 8, 9, 10, 11, 12, 13]) {
    const s = select(
      down,
      alg,
      { callId: 'x', fromUri: 'sip:a@b' },
      { counter: 0, random: () => 0 },
    );
    assert.equal(s.failure?.reason, 'no-active-destination', `alg ${alg}`);
    assert.deepEqual(s.candidates, []);
  }
  const empty = createSnapshot([]).sets.get(1);
  assert.equal(empty, undefined);
  const none: DestinationSet = {
    id: 9,
    destinations: [],
    weightSlots: undefined,
    rweightSlots: undefined,
  };
  assert.equal(select(none, 0, { callId: 'x' }).failure?.reason, 'empty-set');
});

test('alg 9: each run of 100 counter values gives exactly the weights', () => {
  const set = setOf('1 sip:a 0 3 weight=50\n1 sip:b 0 2 weight=30\n1 sip:c 0 1 weight=20\n');
  const counts = new Map<string, number>();
  for (let counter = 0; counter < 100; counter++) {
    const uri = select(set, DS_ALG.WEIGHT, {}, { counter }).candidates[0]?.destination.uri ?? '';
    counts.set(uri, (counts.get(uri) ?? 0) + 1);
  }
  assert.deepEqual(Object.fromEntries(counts), { 'sip:a': 50, 'sip:b': 30, 'sip:c': 20 });
  // Shuffled: the first 10 calls are not all for the first destination.
  const first10 = new Set(
    [...Array(10).keys()].map(
      (counter) => select(set, DS_ALG.WEIGHT, {}, { counter }).candidates[0]?.index,
    ),
  );
  assert.ok(first10.size > 1);
});

test('alg 9: weights under 100 give the rest to the last destination; over 100 are cut', () => {
  const under = setOf('1 sip:a 0 3 weight=10\n1 sip:b 0 2 weight=10\n1 sip:c 0 1 weight=10\n');
  assert.deepEqual(slotShares(under.weightSlots), [10, 10, 80]);
  const over = setOf('1 sip:a 0 3 weight=60\n1 sip:b 0 2 weight=60\n1 sip:c 0 1 weight=60\n');
  assert.deepEqual(slotShares(over.weightSlots), [60, 40, 0]);
  // No weight on the first destination: no table, alg 9 starts at index 0 like Kamailio.
  const none = setOf('1 sip:a 0 3\n1 sip:b 0 2 weight=100\n');
  assert.equal(none.weightSlots, undefined);
  assert.equal(
    select(none, DS_ALG.WEIGHT, {}, { counter: 7 }).candidates[0]?.destination.uri,
    'sip:a',
  );
});

test('alg 9: an inactive destination keeps its slots, which fall to the next active one', () => {
  const set = setOf('1 sip:a 0 3 weight=50\n1 sip:b 1 2 weight=30\n1 sip:c 0 1 weight=20\n');
  const counts = [0, 0, 0];
  for (let counter = 0; counter < 100; counter++) {
    const i = select(set, DS_ALG.WEIGHT, {}, { counter }).candidates[0]?.index ?? -1;
    counts[i] = (counts[i] ?? 0) + 1;
  }
  assert.deepEqual(counts, [50, 0, 50]);
});

test('alg 9: the slot table is the same on every edge (seeded by set id)', () => {
  const text = '4 sip:a 0 3 weight=50\n4 sip:b 0 2 weight=30\n4 sip:c 0 1 weight=20\n';
  assert.deepEqual(setOf(text).weightSlots, setOf(text).weightSlots);
});

test('alg 11: relative weights over active destinations, recomputed when one goes down', () => {
  const set = setOf('1 sip:a 0 3 rweight=1\n1 sip:b 0 2 rweight=2\n1 sip:c 0 1 rweight=1\n');
  assert.deepEqual(slotShares(set.rweightSlots), [25, 50, 25]);
  // The README's example: third host failing turns 25/50/25 into 33/67/0.
  const snapshot = withFlags(createSnapshot([set]), 1, 'sip:c', DS_INACTIVE_DST);
  const after = snapshot.sets.get(1);
  assert.deepEqual(slotShares(after?.rweightSlots), [33, 67, 0]);
  const counts = [0, 0, 0];
  for (let counter = 0; counter < 100; counter++) {
    const i = after
      ? (select(after, DS_ALG.RELATIVE_WEIGHT, {}, { counter }).candidates[0]?.index ?? -1)
      : -1;
    counts[i] = (counts[i] ?? 0) + 1;
  }
  assert.deepEqual(counts, [33, 67, 0]);
  // A destination without rweight gets no slots.
  assert.deepEqual(
    slotShares(setOf('1 sip:a 0 2 rweight=3\n1 sip:b 0 1\n').rweightSlots, 2),
    [100, 0],
  );
});

test('alg 11 with cc=1: weight minus congestion as relative weight, by ratio when all congested', () => {
  /** Calls per destination index over 100 consecutive counters (one walk of the table). */
  const shares = (
    set: DestinationSet,
    latency?: Map<string, { estimate: number; average: number }>,
  ) => {
    const out = new Array<number>(set.destinations.length).fill(0);
    for (let counter = 0; counter < 100; counter++) {
      const i = select(
        set,
        DS_ALG.RELATIVE_WEIGHT,
        {},
        { counter, ...(latency ? { latency } : {}) },
      ).candidates[0]?.index;
      assert.ok(i !== undefined);
      out[i] = (out[i] ?? 0) + 1;
    }
    return out;
  };
  const stats = (entries: Record<string, [number, number]>) =>
    new Map(
      Object.entries(entries).map(([uri, [estimate, average]]) => [uri, { estimate, average }]),
    );
  const cc = setOf(
    '1 sip:a 0 2 weight=50;rweight=50;cc=1\n1 sip:b 0 1 weight=50;rweight=50;cc=1\n',
  );
  assert.deepEqual(shares(cc), [50, 50], 'no latency yet: the rweight attributes');
  // a is 30 ms congested (estimate 80 over an average of 50): 50 - 30 = 20 against b's 50.
  assert.deepEqual(shares(cc, stats({ 'sip:a': [80, 50], 'sip:b': [10, 10] })), [28, 72]);
  // Below its average is no congestion; the lookup ignores the URI's case.
  const upper = setOf('1 SIP:A 0 2 weight=50;cc=1\n1 sip:b 0 1 weight=50;cc=1\n');
  assert.deepEqual(shares(upper, stats({ 'sip:a': [40, 50], 'sip:b': [10, 10] })), [50, 50]);
  // Both congested past their weight: (total << 4) / own congestion, so 60 ms gets twice 120 ms.
  assert.deepEqual(shares(cc, stats({ 'sip:a': [110, 50], 'sip:b': [130, 10] })), [66, 34]);
  // Only a has cc=1: b keeps its rweight, and the all-congested ratio never applies.
  const mixed = setOf('1 sip:a 0 2 weight=50;cc=1\n1 sip:b 0 1 rweight=50\n');
  assert.deepEqual(shares(mixed, stats({ 'sip:a': [75, 50] })), [33, 67]);
  assert.deepEqual(shares(mixed, stats({ 'sip:a': [500, 50] })), [0, 100]);
  // A set without cc=1 ignores latency.
  const plain = setOf('1 sip:a 0 2 rweight=1\n1 sip:b 0 1 rweight=3\n');
  assert.deepEqual(shares(plain, stats({ 'sip:a': [500, 50] })), [25, 75]);
});

test('alg 10: least loaded under maxload, ties to the earlier one; failover skips full ones', () => {
  const set = setOf(
    [
      '1 sip:a 0 4 duid=a;maxload=10',
      '1 sip:b 0 3 duid=b;maxload=2',
      '1 sip:c 0 2 duid=c',
      '1 sip:d 0 1 duid=d;maxload=5',
    ].join('\n'),
  );
  const pick = (loads: Record<string, number>) =>
    select(set, DS_ALG.CALL_LOAD, {}, { loads: new Map(Object.entries(loads)) }).candidates.map(
      (c) => c.destination.uri.slice(4),
    );
  assert.deepEqual(pick({ a: 3, b: 1, c: 1, d: 4 }), ['b', 'c', 'd', 'a']);
  assert.deepEqual(pick({ a: 3, b: 2, c: 1, d: 4 }), ['c', 'd', 'a']); // b is at maxload
  assert.deepEqual(pick({ a: 0, b: 0, c: 0, d: 0 }), ['a', 'b', 'c', 'd']); // tie: first
  assert.deepEqual(pick({ a: 10, b: 2, c: 9, d: 5 }), ['c']); // c has no maxload
  assert.deepEqual(pick({}), ['a', 'b', 'c', 'd']);
  const full = setOf('1 sip:a 0 0 duid=a;maxload=1\n1 sip:b 1 0 duid=b\n');
  const s = select(full, DS_ALG.CALL_LOAD, {}, { loads: new Map([['a', 1]]) });
  assert.equal(s.failure?.reason, 'all-at-maxload');
  assert.deepEqual(s.candidates, []);
});

test('alg 12: every active destination as one parallel group', () => {
  const s = select(five({ c: DS_INACTIVE_DST }), DS_ALG.PARALLEL, {});
  assert.equal(s.parallel, true);
  assert.equal(hosts(s), 'abde');
  assert.equal(select(five(), DS_ALG.SERIAL, {}).parallel, false);
});

test('alg 13: priority lowered by latency/priority, ties keep the round-robin rotation', () => {
  const set = setOf(
    [
      '1 sip:a 0 10', // 50 ms: handicap 5 => 5
      '1 sip:b 0 8', // 10 ms: handicap 1 => 7
      '1 sip:c 0 10', // 5 ms: no handicap => 10
      '1 sip:d 0 3 cc=1', // congestion 40-38 = 2 ms: none => 3
      '1 sip:e 0 2', // 500 ms: handicap 250, floored at 1
    ].join('\n'),
  );
  const latency = new Map([
    ['sip:a', { estimate: 50.9, average: 20 }],
    ['sip:b', { estimate: 10, average: 10 }],
    ['sip:c', { estimate: 5, average: 1 }],
    ['sip:d', { estimate: 40, average: 38 }],
    ['sip:e', { estimate: 500, average: 400 }],
  ]);
  const order = (counter: number, l = latency) =>
    select(set, DS_ALG.LATENCY, {}, { counter, latency: l }).candidates.map((c) =>
      c.destination.uri.slice(4),
    );
  assert.deepEqual(order(0), ['c', 'b', 'a', 'd', 'e']);
  // Without latency data it is plain priority, equal priorities rotating with the counter.
  const flat = setOf('1 sip:x 0 5\n1 sip:y 0 5\n1 sip:z 0 1\n');
  const rr = (counter: number) =>
    select(flat, DS_ALG.LATENCY, {}, { counter })
      .candidates.map((c) => c.destination.uri.slice(4))
      .join('');
  assert.equal(rr(0), 'yxz'); // set order is y, x (ties reversed), z
  assert.equal(rr(1), 'xyz');
  assert.equal(rr(2), 'yxz');
  const down = setOf('1 sip:x 1 5\n1 sip:y 0 1\n');
  assert.deepEqual(
    select(down, DS_ALG.LATENCY, {}, { counter: 0 }).candidates.map((c) => c.destination.uri),
    ['sip:y'],
  );
});

/** Slots per destination index in a 100-slot table. */
function slotShares(slots: readonly number[] | undefined, size = 3): number[] {
  assert.ok(slots, 'table exists');
  assert.equal(slots.length, 100);
  const out = new Array<number>(size).fill(0);
  for (const s of slots) out[s] = (out[s] ?? 0) + 1;
  return out;
}

test('selection with a seeded source is reproducible', () => {
  const set = five();
  const run = () => {
    const random = seededRandom(7);
    return [...Array(20).keys()].map(
      () => select(set, DS_ALG.RANDOM, {}, { random }).candidates[0]?.index,
    );
  };
  assert.deepEqual(run(), run());
});

test('use_default: the last destination is only the final candidate, or the only one left', () => {
  const callId = 'a84b4c76e66710@pc33.atlanta.com';
  const opts = { useDefault: true };
  // Round-robin over a..d only (modulo 4), e appended last.
  const rr = [0, 1, 2, 3, 4].map((counter) =>
    hosts(select(five(), DS_ALG.ROUND_ROBIN, {}, { counter }, opts)),
  );
  assert.deepEqual(rr, ['abcde', 'bcdae', 'cdabe', 'dabce', 'abcde']);
  // Hashes take the Call-ID modulo 4 (2175018094 % 4 = 2 => c), never e first.
  assert.equal(hosts(select(five(), DS_ALG.HASH_CALLID, { callId }, {}, opts)), 'cdabe');
  // Every other destination down: the default alone; down itself: nothing.
  const others = { a: DS_INACTIVE_DST, b: DS_INACTIVE_DST, c: DS_DISABLED_DST, d: 1 };
  assert.equal(hosts(select(five(others), DS_ALG.ROUND_ROBIN, {}, { counter: 7 }, opts)), 'e');
  const all = select(five({ ...others, e: DS_INACTIVE_DST }), DS_ALG.SERIAL, {}, {}, opts);
  assert.equal(all.failure?.reason, 'no-active-destination');
  // limit counts the default; parallel forks to the others only.
  assert.equal(hosts(select(five(), DS_ALG.SERIAL, {}, {}, { ...opts, limit: 2 })), 'ab');
  const parallel = select(five(), DS_ALG.PARALLEL, {}, {}, opts);
  assert.equal(hosts(parallel), 'abcd');
  assert.equal(parallel.parallel, true);
  // A missing input stays an error; a set of one uses its only destination.
  assert.equal(select(five(), DS_ALG.HASH_CALLID, {}, {}, opts).failure?.reason, 'missing-input');
  assert.equal(hosts(select(setOf('1 sip:z.example.com'), DS_ALG.SERIAL, {}, {}, opts)), 'z');
});
