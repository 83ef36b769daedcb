import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveTimers } from '../src/index.js';

test('wait (Kamailio wt_timer) replaces the lingering timers D, J, L and M, nothing else', () => {
  const rfc = resolveTimers({ T1: 500 });
  assert.deepEqual([rfc.D, rfc.J, rfc.L, rfc.M], [32_000, 32_000, 32_000, 32_000]);
  const kam = resolveTimers({ T1: 500, wait: 5000 });
  assert.deepEqual([kam.D, kam.J, kam.L, kam.M], [5000, 5000, 5000, 5000]);
  assert.deepEqual([kam.B, kam.F, kam.H, kam.I, kam.K], [rfc.B, rfc.F, rfc.H, rfc.I, rfc.K]);
  assert.throws(() => resolveTimers({ wait: 0 }), /timers\.wait/);
});
