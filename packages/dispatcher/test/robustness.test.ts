// Malformed input never escapes as anything but a typed error, and never crashes selection.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  formatList,
  parseList,
  select,
  SipfleetDispatcherError,
  uriHashKeys,
} from '../src/index.js';

test('parseList on arbitrary text either parses or throws SIPFLEET_ERR_DISPATCHER_LIST', () => {
  const fieldish = fc.oneof(
    fc.string(),
    fc.constantFrom('1', 'sip:a', '0', '5', 'weight=1', '#', ';', 'duid=x;;', 'sip:[::1]', '\t'),
  );
  const lineArb = fc.array(fieldish, { maxLength: 7 }).map((parts) => parts.join(' '));
  fc.assert(
    fc.property(fc.array(lineArb, { maxLength: 8 }), (lines) => {
      try {
        const sets = parseList(lines.join('\n'));
        // Whatever parses must survive a format/parse round trip.
        assert.deepEqual(parseList(formatList(sets)), sets);
      } catch (err) {
        assert.ok(err instanceof SipfleetDispatcherError, String(err));
        assert.equal(err.code, 'SIPFLEET_ERR_DISPATCHER_LIST');
        assert.ok(err.issues.length > 0);
      }
    }),
    { numRuns: 500, seed: 42 },
  );
});

test('select and uriHashKeys accept any strings without throwing', () => {
  const [set] = parseList('1 sip:a 0 0 duid=a\n1 sip:b 0 1 duid=b;weight=50;rweight=5\n');
  assert.ok(set);
  fc.assert(
    fc.property(fc.string(), fc.integer({ min: 0, max: 14 }), (s, alg) => {
      uriHashKeys(s);
      const r = select(
        set,
        alg,
        { callId: s, fromUri: s, toUri: s, ruri: s, authUser: s, hashValue: s },
        { counter: s.length },
      );
      assert.ok(r.candidates.length > 0 || r.failure !== undefined);
    }),
    { numRuns: 500, seed: 7 },
  );
});
