import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  formatReplyCodes,
  isAcceptedReply,
  parseReplyCodes,
  resolveProberSettings,
  SipfleetKeepaliveError,
} from '../src/index.js';

const code = (c: string) => (e: unknown) => e instanceof SipfleetKeepaliveError && e.code === c;

test('empty ds_ping_reply_codes accepts 2xx only', () => {
  const none = parseReplyCodes('');
  for (const s of [200, 202, 299]) assert.equal(isAcceptedReply(s, none), true, String(s));
  for (const s of [100, 180, 300, 404, 480, 503, 699])
    assert.equal(isAcceptedReply(s, none), false, String(s));
});

test("Kamailio's example class=2;code=480;code=404 accepts 2xx, 480 and 404, nothing else", () => {
  const rc = parseReplyCodes('class=2;code=480;code=404');
  assert.deepEqual([...rc.classes], [2]);
  assert.deepEqual([...rc.codes].sort(), [404, 480]);
  for (const s of [200, 404, 480]) assert.equal(isAcceptedReply(s, rc), true, String(s));
  for (const s of [403, 481, 486, 500, 503]) assert.equal(isAcceptedReply(s, rc), false, String(s));
});

test('a class accepts its hundred; names any case, spaces and one trailing ; tolerated', () => {
  const rc = parseReplyCodes(' Class = 4 ; CODE=503 ;');
  for (const s of [400, 404, 488, 499, 503]) assert.equal(isAcceptedReply(s, rc), true, String(s));
  for (const s of [500, 502, 600]) assert.equal(isAcceptedReply(s, rc), false, String(s));
  assert.equal(formatReplyCodes(rc), 'class=4;code=503');
  assert.equal(formatReplyCodes(parseReplyCodes(formatReplyCodes(rc))), 'class=4;code=503');
});

test('malformed reply codes are typed errors naming the bad item', () => {
  for (const bad of [
    'class=7',
    'code=99',
    'code=700',
    'kode=480',
    'code',
    'code=4x0',
    'class=2;;code=480',
  ]) {
    assert.throws(() => parseReplyCodes(bad), code('SIPFLEET_ERR_KEEPALIVE_REPLY_CODES'), bad);
  }
  assert.throws(() => parseReplyCodes('class=2;code=4x0'), /item "code=4x0"/);
});

test('settings: Kamailio defaults, and errors that name the setting', () => {
  const s = resolveProberSettings();
  assert.equal(s.pingIntervalMs, 10_000);
  assert.equal(s.probingMode, 0);
  assert.equal(s.probingThreshold, 1);
  assert.equal(s.inactiveThreshold, 1);
  assert.equal(s.method, 'OPTIONS');
  assert.equal(s.from, 'sip:dispatcher@localhost');
  assert.equal(s.timeoutMs, 5000);
  assert.equal(s.latencyEstimatorAlpha, 100);
  assert.equal(resolveProberSettings({ pingIntervalMs: 1000 }).timeoutMs, 1000);
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ pingIntervalMs: 0 }, /pingIntervalMs/],
    [{ probingMode: 4 }, /probingMode/],
    [{ probingThreshold: 0 }, /probingThreshold/],
    [{ inactiveThreshold: 1.5 }, /inactiveThreshold/],
    [{ pingIntervalMs: 1000, timeoutMs: 2000 }, /timeoutMs/],
    [{ method: 'INVITE' }, /method/],
    [{ from: 'dispatcher@localhost' }, /from/],
    [{ shardSize: 0 }, /shardSize/],
  ];
  for (const [input, message] of cases) {
    assert.throws(
      () => resolveProberSettings(input),
      (e: unknown) =>
        code('SIPFLEET_ERR_KEEPALIVE_SETTINGS')(e) && message.test((e as Error).message),
      JSON.stringify(input),
    );
  }
  assert.throws(
    () => resolveProberSettings({ replyCodes: 'class=9' }),
    code('SIPFLEET_ERR_KEEPALIVE_REPLY_CODES'),
  );
});
