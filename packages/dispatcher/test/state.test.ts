import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  defaultMarkState,
  DS_DISABLED_DST,
  DS_INACTIVE_DST,
  DS_NOPING_DST,
  DS_PROBE,
  DS_PROBING_DST,
  DS_TRYING_DST,
  formatFlags,
  mark,
  probeResult,
  shouldProbe,
  SipfleetDispatcherError,
  type DestinationState,
} from '../src/index.js';

const ACTIVE: DestinationState = { flags: 0, count: 0 };

test('ds_mark_dst("ip") takes an active destination down, with probing', () => {
  const t = mark(ACTIVE, 'ip');
  assert.equal(formatFlags(t.newFlags), 'IP');
  assert.equal(t.oldFlags, 0);
  assert.equal(t.changed, true);
  assert.equal(t.wentDown, true);
  assert.equal(t.wentUp, false);
  assert.deepEqual(t.next, { flags: DS_INACTIVE_DST | DS_PROBING_DST, count: 0 });
});

test('trying counts failures up to the probing threshold, then inactive', () => {
  const th = { probingThreshold: 3 };
  let s = ACTIVE;
  const seen: string[] = [];
  for (let i = 0; i < 3; i++) {
    const t = mark(s, 'tp', th);
    seen.push(`${formatFlags(t.newFlags)}:${t.next.count}:${t.wentDown}`);
    s = t.next;
  }
  assert.deepEqual(seen, ['TP:1:false', 'TP:2:false', 'IP:0:true']);
});

test('with the default thresholds (1) the first trying mark makes it inactive', () => {
  assert.equal(formatFlags(mark(ACTIVE, 't').newFlags), 'IX');
});

test('trying requested on an inactive destination keeps it inactive', () => {
  const t = mark({ flags: DS_INACTIVE_DST | DS_PROBING_DST, count: 0 }, 'tp', {
    probingThreshold: 5,
  });
  assert.equal(formatFlags(t.newFlags), 'IP');
  assert.equal(t.changed, false);
  assert.equal(t.next.count, 0);
});

test('recovery needs inactiveThreshold good marks; probing is kept while waiting', () => {
  const th = { inactiveThreshold: 2 };
  const down: DestinationState = { flags: DS_INACTIVE_DST | DS_PROBING_DST, count: 0 };
  const first = mark(down, 'a', th);
  assert.equal(formatFlags(first.newFlags), 'IP');
  assert.equal(first.next.count, 1);
  assert.equal(first.changed, false);
  const second = mark(first.next, 'a', th);
  assert.equal(formatFlags(second.newFlags), 'AX');
  assert.equal(second.next.count, 0);
  assert.equal(second.wentUp, true);
  // A failure in between restarts the count (our rule: an i mark is no "success").
  const again = mark(mark(first.next, 'ip', th).next, 'a', th);
  assert.equal(formatFlags(again.newFlags), 'IP');
});

test('disabled wins over everything else and keeps only its own bit', () => {
  const t = mark({ flags: DS_TRYING_DST | DS_PROBING_DST, count: 1 }, 'dp');
  assert.equal(t.newFlags, DS_DISABLED_DST);
  assert.equal(t.wentDown, true);
});

test('list-file configuration bits survive a state change', () => {
  const t = mark({ flags: DS_NOPING_DST, count: 0 }, DS_INACTIVE_DST);
  assert.equal(t.newFlags, DS_NOPING_DST | DS_INACTIVE_DST);
});

test('a bad state string is a typed error', () => {
  assert.throws(
    () => mark(ACTIVE, 'x'),
    (e: unknown) =>
      e instanceof SipfleetDispatcherError && e.code === 'SIPFLEET_ERR_DISPATCHER_STATE',
  );
});

test('probeResult: failed pings with probing threshold 2 take it down, good replies bring it back', () => {
  const th = { probingThreshold: 2, inactiveThreshold: 2 };
  let s: DestinationState = { flags: DS_PROBING_DST, count: 0 };
  const trail: string[] = [];
  for (const ok of [false, false, true, true]) {
    const t = probeResult(s, ok, DS_PROBE.ALL, th);
    trail.push(formatFlags(t.newFlags));
    s = t.next;
  }
  assert.deepEqual(trail, ['TP', 'IP', 'IP', 'AP']);
});

test('probeResult in mode 0 clears the probing flag on a good reply', () => {
  const t = probeResult({ flags: DS_INACTIVE_DST | DS_PROBING_DST, count: 0 }, true, DS_PROBE.NONE);
  assert.equal(formatFlags(t.newFlags), 'AX');
  const fail = probeResult({ flags: DS_PROBING_DST, count: 0 }, false, DS_PROBE.NONE, {
    probingThreshold: 3,
  });
  assert.equal(formatFlags(fail.newFlags), 'TX');
});

test('probeResult leaves disabled destinations, and unflagged ones in mode 3, alone', () => {
  const disabled = { flags: DS_DISABLED_DST, count: 0 };
  assert.equal(probeResult(disabled, true, DS_PROBE.ALL).next, disabled);
  const unflagged = { flags: DS_INACTIVE_DST, count: 0 };
  assert.equal(probeResult(unflagged, true, DS_PROBE.ONLY_FLAGGED).changed, false);
  const flagged = probeResult(
    { flags: DS_INACTIVE_DST | DS_PROBING_DST, count: 0 },
    true,
    DS_PROBE.ONLY_FLAGGED,
  );
  assert.equal(formatFlags(flagged.newFlags), 'AP');
});

test('shouldProbe follows ds_probing_mode', () => {
  assert.equal(shouldProbe(0, DS_PROBE.ALL), true);
  assert.equal(shouldProbe(DS_DISABLED_DST, DS_PROBE.ALL), false);
  assert.equal(shouldProbe(DS_NOPING_DST | DS_PROBING_DST, DS_PROBE.ALL), false);
  assert.equal(shouldProbe(0, DS_PROBE.NONE), false);
  assert.equal(shouldProbe(DS_PROBING_DST, DS_PROBE.NONE), true);
  assert.equal(shouldProbe(DS_PROBING_DST, DS_PROBE.INACTIVE), false);
  assert.equal(shouldProbe(DS_PROBING_DST | DS_INACTIVE_DST, DS_PROBE.INACTIVE), true);
  assert.equal(shouldProbe(DS_PROBING_DST, DS_PROBE.ONLY_FLAGGED), true);
});

test('ds_mark_dst() without a state: inactive, plus probing in mode 1', () => {
  assert.equal(defaultMarkState(DS_PROBE.NONE), DS_INACTIVE_DST);
  assert.equal(defaultMarkState(DS_PROBE.ALL), DS_INACTIVE_DST | DS_PROBING_DST);
});
