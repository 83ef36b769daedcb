import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DS_DISABLED_DST,
  DS_INACTIVE_DST,
  DS_NOPING_DST,
  DS_PROBING_DST,
  DS_TRYING_DST,
  formatFlags,
  isActive,
  parseMarkState,
  parseRpcState,
  SipfleetDispatcherError,
} from '../src/index.js';

test('bit values are Kamailio dispatch.h values', () => {
  assert.deepEqual([DS_INACTIVE_DST, DS_TRYING_DST, DS_DISABLED_DST, DS_PROBING_DST], [1, 2, 4, 8]);
});

test('formatFlags renders dispatcher.list FLAGS letters', () => {
  assert.equal(formatFlags(0), 'AX');
  assert.equal(formatFlags(DS_PROBING_DST), 'AP');
  assert.equal(formatFlags(DS_INACTIVE_DST | DS_PROBING_DST), 'IP');
  assert.equal(formatFlags(DS_DISABLED_DST), 'DX');
  assert.equal(formatFlags(DS_TRYING_DST | DS_PROBING_DST), 'TP');
  assert.equal(formatFlags(DS_INACTIVE_DST | DS_DISABLED_DST), 'IX'); // inactive checked first
  assert.equal(formatFlags(DS_INACTIVE_DST | DS_TRYING_DST), 'IX');
  assert.equal(formatFlags(DS_NOPING_DST), 'AN');
  assert.equal(formatFlags(DS_NOPING_DST | DS_PROBING_DST), 'AP');
});

test('isActive: not inactive, not disabled; trying still counts as active', () => {
  assert.equal(isActive(0), true);
  assert.equal(isActive(DS_TRYING_DST | DS_PROBING_DST), true);
  assert.equal(isActive({ flags: DS_INACTIVE_DST }), false);
  assert.equal(isActive({ flags: DS_DISABLED_DST }), false);
});

test('parseMarkState reads ds_mark_dst strings letter by letter, any case', () => {
  assert.equal(parseMarkState('a'), 0);
  assert.equal(parseMarkState('i'), DS_INACTIVE_DST);
  assert.equal(parseMarkState('IP'), DS_INACTIVE_DST | DS_PROBING_DST);
  assert.equal(parseMarkState('tp'), DS_TRYING_DST | DS_PROBING_DST);
  assert.equal(parseMarkState('ap'), DS_PROBING_DST);
  assert.equal(parseMarkState('d'), DS_DISABLED_DST);
  assert.equal(parseMarkState('ia'), 0); // 'a' clears what came before
  for (const bad of ['', 'x', 'ipx', 'a p']) {
    assert.throws(
      () => parseMarkState(bad),
      (e: unknown) =>
        e instanceof SipfleetDispatcherError && e.code === 'SIPFLEET_ERR_DISPATCHER_STATE',
    );
  }
});

test('parseRpcState reads dispatcher.set_state values, letters or digits', () => {
  assert.equal(parseRpcState('a'), 0);
  assert.equal(parseRpcState('1'), 0);
  assert.equal(parseRpcState('ap'), DS_PROBING_DST);
  assert.equal(parseRpcState('ip'), DS_INACTIVE_DST | DS_PROBING_DST);
  assert.equal(parseRpcState('0'), DS_INACTIVE_DST);
  assert.equal(parseRpcState('tp'), DS_TRYING_DST | DS_PROBING_DST);
  assert.equal(parseRpcState('dp'), DS_DISABLED_DST); // probing is not added to disabled
  assert.throws(() => parseRpcState('x'), SipfleetDispatcherError);
  assert.throws(() => parseRpcState(''), SipfleetDispatcherError);
});
