// The pike rate tracker and the list checks, on a manual clock (time moves only when the test says).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  AddressSet,
  SecfilterError,
  SourceFilter,
  type SourceFilterOptions,
  UserAgentSet,
  looksLikeRequest,
  normalizeAddressEntry,
} from '../src/index.js';

function setup(options: SourceFilterOptions = {}) {
  let now = 1_000_000;
  const blocks: [string, number, string][] = [];
  const filter = new SourceFilter({
    samplingTimeUnitMs: 2000,
    reqsDensityPerUnit: 16,
    removeLatencyMs: 4000,
    banMs: 300_000,
    now: () => now,
    onBlock: (address, banMs, reason) => blocks.push([address, banMs, reason]),
    ...options,
  });
  return {
    filter,
    blocks,
    advance(ms: number) {
      now += ms;
    },
    /** Sends n requests from `address`; returns how many were admitted. */
    send(address: string, n: number, request = true): number {
      let admitted = 0;
      for (let i = 0; i < n; i++) if (filter.admit(address, request)) admitted++;
      return admitted;
    },
  };
}

describe('SourceFilter: pike rate limit (sampling_time_unit, reqs_density_per_unit)', () => {
  test('density requests per unit pass; the next one blocks the source and is dropped', () => {
    const s = setup();
    assert.equal(s.send('203.0.113.9', 16), 16);
    assert.deepEqual(s.blocks, []);
    assert.equal(s.filter.admit('203.0.113.9', true), false);
    assert.deepEqual(s.blocks, [['203.0.113.9', 300_000, 'pike']]);
    assert.equal(s.filter.counters.blocksPike, 1);
    // Blocked: everything from it is dropped, responses too, and the block is reported once.
    assert.equal(s.send('203.0.113.9', 50), 0);
    assert.equal(s.filter.admit('203.0.113.9', false), false);
    assert.equal(s.blocks.length, 1);
    assert.equal(s.filter.counters.droppedBlocked, 52);
    // Other sources are not affected.
    assert.equal(s.send('203.0.113.10', 16), 16);
  });

  test('a steady rate under the density never blocks, one over it does (sliding window)', () => {
    const s = setup();
    // 15 per 2 s (one every 134 ms) for a minute: the window never holds more than 16.
    for (let i = 0; i < 450; i++) {
      assert.equal(s.filter.admit('198.51.100.1', true), true, `request ${i}`);
      s.advance(134);
    }
    assert.deepEqual(s.blocks, []);
    // 20 per 2 s: blocked within the second unit, never earlier than the 17th request.
    let admitted = 0;
    while (s.filter.admit('198.51.100.2', true)) {
      admitted++;
      s.advance(100);
    }
    assert.ok(admitted >= 16 && admitted <= 40, `blocked after ${admitted}`);
    assert.deepEqual(s.blocks, [['198.51.100.2', 300_000, 'pike']]);
  });

  test('a burst split across a unit boundary still counts: the previous unit is weighted in', () => {
    const s = setup();
    s.advance(1900);
    assert.equal(s.send('192.0.2.7', 16), 16); // late in the first unit
    s.advance(200); // just into the next unit: most of the previous one still counts
    assert.equal(s.send('192.0.2.7', 3), 0);
    assert.equal(s.blocks.length, 1);
  });

  test('after two quiet units the counters start from zero', () => {
    const s = setup();
    assert.equal(s.send('192.0.2.8', 16), 16);
    s.advance(4000);
    assert.equal(s.send('192.0.2.8', 16), 16);
    assert.deepEqual(s.blocks, []);
  });

  test('responses and keepalives are not metered', () => {
    const s = setup();
    assert.equal(s.send('192.0.2.9', 1000, false), 1000);
    assert.deepEqual(s.blocks, []);
  });

  test('the block ends after banMs; the source starts with a clean count', () => {
    const s = setup({ banMs: 10_000 });
    s.send('203.0.113.1', 17);
    assert.equal(s.filter.admit('203.0.113.1', true), false);
    s.advance(9_999);
    assert.equal(s.filter.admit('203.0.113.1', true), false);
    s.advance(1);
    assert.equal(s.send('203.0.113.1', 16), 16);
  });

  test('trusted sources (config and allow-ip) are never metered nor blocked', () => {
    const s = setup({ trusted: ['10.1.0.0/16', '2001:db8::1'] });
    assert.equal(s.send('10.1.2.3', 10_000), 10_000);
    assert.equal(s.send('2001:db8::1', 10_000), 10_000);
    s.filter.setAddressList('allow-ip', ['198.51.100.0/24']);
    assert.equal(s.send('198.51.100.77', 10_000), 10_000);
    // Even a fleet block or the deny list does not apply to them: allow wins (Kamailio secfilter).
    s.filter.setBlock('10.1.2.3', Infinity);
    s.filter.setAddressList('deny-ip', ['198.51.100.77']);
    assert.equal(s.send('10.1.2.3', 1), 1);
    assert.equal(s.send('198.51.100.77', 1), 1);
    assert.deepEqual(s.blocks, []);
    assert.equal(s.filter.isTrusted('10.1.9.9'), true);
    assert.equal(s.filter.isTrusted('10.2.0.1'), false);
  });

  test('a list change applies to sources already known (verdicts are recomputed)', () => {
    const s = setup();
    assert.equal(s.send('192.0.2.50', 1), 1);
    const malformed = s.filter.setAddressList('deny-ip', ['192.0.2.0/24', 'not-an-ip']);
    assert.deepEqual(malformed, ['not-an-ip']);
    assert.equal(s.send('192.0.2.50', 1), 0);
    assert.equal(s.filter.counters.droppedDenied, 1);
    s.filter.setAddressList('deny-ip', []);
    assert.equal(s.send('192.0.2.50', 1), 1);
  });

  test('fleet blocks: set, cleared, replaced; an IPv4 source seen on a dual-stack socket too', () => {
    const s = setup();
    s.filter.setBlock('203.0.113.5', 1_000_000 + 5000);
    assert.equal(s.send('203.0.113.5', 1), 0, 'blocked before it was ever seen');
    assert.equal(s.send('::ffff:203.0.113.5', 1), 0, 'same address, mapped');
    s.filter.clearBlock('203.0.113.5');
    assert.equal(s.send('203.0.113.5', 1), 1);
    assert.equal(s.send('::ffff:203.0.113.5', 1), 1);
    s.filter.setBlock('203.0.113.6', Infinity);
    s.filter.replaceBlocks(new Map([['203.0.113.7', Infinity]]));
    assert.deepEqual([...s.filter.blocked().keys()], ['203.0.113.7']);
    assert.equal(s.send('203.0.113.6', 1), 1);
    assert.equal(s.send('203.0.113.7', 1), 0);
    // A block the filter decided on a mapped address is published as the plain address.
    s.send('::ffff:192.0.2.1', 17);
    assert.deepEqual(s.blocks.at(-1), ['192.0.2.1', 300_000, 'pike']);
  });

  test('sweep forgets idle sources (remove_latency) but keeps blocked ones', () => {
    const s = setup();
    s.send('192.0.2.1', 1);
    s.send('192.0.2.2', 17); // blocked
    assert.equal(s.filter.trackedSources, 2);
    s.advance(4000);
    s.filter.sweep();
    assert.equal(s.filter.trackedSources, 1);
    s.advance(300_000);
    s.filter.sweep();
    assert.equal(s.filter.trackedSources, 0);
    assert.equal(s.filter.blocked().size, 0);
  });

  test('maxSources: new sources beyond it pass unmetered but lists and blocks still apply', () => {
    const s = setup({ maxSources: 2 });
    s.send('192.0.2.1', 1);
    s.send('192.0.2.2', 1);
    assert.equal(s.send('192.0.2.3', 100), 100);
    assert.equal(s.filter.counters.untracked, 100);
    assert.equal(s.filter.trackedSources, 2);
    s.filter.setAddressList('deny-ip', ['192.0.2.4']);
    assert.equal(s.send('192.0.2.4', 1), 0);
    s.filter.setBlock('192.0.2.5', Infinity);
    assert.equal(s.send('192.0.2.5', 1), 0);
    // Once the remembered sources went idle, a full map makes room (one sweep a second at most).
    s.advance(4000);
    assert.equal(s.send('192.0.2.6', 1), 1);
    assert.equal(s.filter.trackedSources, 1);
  });

  test('User-Agent: deny-ua refuses and blocks the source, allow-ua and trusted are exempt', () => {
    const s = setup({ trusted: ['10.0.0.1'] });
    assert.equal(s.filter.refuseUserAgent('192.0.2.1', 'friendly-scanner'), false, 'empty list');
    assert.equal(s.filter.checksUserAgents, false);
    s.filter.setUserAgentList('deny-ua', ['friendly-scanner', 'SIPVicious']);
    assert.equal(s.filter.checksUserAgents, true);
    s.filter.setUserAgentList('allow-ua', ['sipvicious-audit-by-us']);
    assert.equal(s.filter.refuseUserAgent('192.0.2.1', 'Friendly-Scanner 1.0'), true);
    assert.deepEqual(s.blocks, [['192.0.2.1', 300_000, 'user-agent']]);
    assert.equal(s.send('192.0.2.1', 1), 0, 'its next message is dropped unparsed');
    assert.equal(s.filter.refuseUserAgent('192.0.2.2', 'sipvicious-audit-by-us'), false);
    assert.equal(s.filter.refuseUserAgent('10.0.0.1', 'friendly-scanner'), false);
    assert.equal(s.filter.refuseUserAgent('192.0.2.3', undefined), false);
    assert.equal(s.filter.refuseUserAgent('192.0.2.3', 'Acme Phone'), false);
    assert.equal(s.filter.counters.refusedUserAgent, 1);
    assert.equal(s.filter.counters.blocksUserAgent, 1);
  });

  test('a bad trusted entry is refused at construction', () => {
    assert.throws(() => new SourceFilter({ trusted: ['10.0.0.0/33'] }), /10\.0\.0\.0\/33/);
  });
});

describe('lists and helpers', () => {
  test('normalizeAddressEntry: addresses and CIDRs in one form, anything else a typed error', () => {
    assert.equal(normalizeAddressEntry(' 10.0.0.0/08 '), '10.0.0.0/8');
    assert.equal(normalizeAddressEntry('::FFFF:192.0.2.1'), '192.0.2.1');
    assert.equal(normalizeAddressEntry('2001:DB8::/32'), '2001:db8::/32');
    for (const bad of ['', 'example.com', '10.0.0.1/', '10.0.0.1/33', '::1/129', '1.2.3.4/8/9']) {
      assert.throws(
        () => normalizeAddressEntry(bad),
        (e: unknown) =>
          e instanceof SecfilterError && e.code === 'SIPFLEET_ERR_SECFILTER_BAD_ENTRY',
        bad,
      );
    }
  });

  test('AddressSet matches IPv4 and IPv6 hosts and ranges', () => {
    const set = new AddressSet(['10.0.0.0/8', '192.0.2.1', '2001:db8::/32']);
    assert.equal(set.size, 3);
    assert.equal(set.has('10.200.1.1'), true);
    assert.equal(set.has('::ffff:10.200.1.1'), true);
    assert.equal(set.has('192.0.2.1'), true);
    assert.equal(set.has('192.0.2.2'), false);
    assert.equal(set.has('2001:db8:1::5'), true);
    assert.equal(set.has('2001:db9::5'), false);
  });

  test('UserAgentSet: case-insensitive substrings', () => {
    const set = new UserAgentSet(['sipcli', ' Scanner ', '']);
    assert.equal(set.size, 2);
    assert.equal(set.matches('SIPCLI/v1.8'), true);
    assert.equal(set.matches('friendly-scanner'), true);
    assert.equal(set.matches('Linphone'), false);
  });

  test('looksLikeRequest: methods yes; responses, CRLF keepalives and junk no', () => {
    const b = (text: string) => Buffer.from(text);
    assert.equal(looksLikeRequest(b('INVITE sip:x SIP/2.0\r\n')), true);
    assert.equal(looksLikeRequest(b('OPTIONS sip:x SIP/2.0\r\n')), true);
    assert.equal(looksLikeRequest(b('SUBSCRIBE sip:x SIP/2.0\r\n')), true);
    assert.equal(looksLikeRequest(b('SIP/2.0 200 OK\r\n')), false);
    assert.equal(looksLikeRequest(b('\r\n\r\n')), false);
    assert.equal(looksLikeRequest(b('')), false);
  });
});
