// DNS failover (RFC 3263 §4.3, Kamailio use_dns_failover): a branch whose next hop has several SRV
// targets moves on to the next one after no reply within fr_timer, a 503 or a transport error. The
// names come from a real dnsmasq; the SIP side is the in-memory world of the other proxy tests.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parseUri } from '@sipfleet/sip';
import { startDnsServer } from '@sipfleet/test-helpers/dns-server';
import type { DnsServer } from '@sipfleet/test-helpers/dns-server';
import { createResolver } from '@sipfleet/transport';
import type { SipResolver } from '@sipfleet/transport';
import { defaultRoute } from '../src/index.js';
import { Uac, Uas, World } from './harness.js';

const FR_TIMER_MS = 1000;
const SILENT = { address: '127.0.1.1', port: 5071 };
const ANSWERS = { address: '127.0.1.2', port: 5072 };

describe('DNS failover across SRV targets', () => {
  const cleanups: (() => unknown)[] = [];
  let dns: DnsServer;
  let resolver: SipResolver;

  before(async () => {
    dns = await startDnsServer(
      { after: (fn) => cleanups.push(fn) },
      {
        hosts: [
          { name: 'silent.test', address: SILENT.address },
          { name: 'answers.test', address: ANSWERS.address },
        ],
        srv: [
          // Priority 10 first; priority 20 only after it failed.
          { name: '_sip._udp.svc.test', target: 'silent.test', port: SILENT.port, priority: 10 },
          { name: '_sip._udp.svc.test', target: 'answers.test', port: ANSWERS.port, priority: 20 },
          { name: '_sip._tcp.svc.test', target: 'silent.test', port: SILENT.port, priority: 10 },
          { name: '_sip._tcp.svc.test', target: 'answers.test', port: ANSWERS.port, priority: 20 },
        ],
      },
    );
    resolver = createResolver({ servers: [dns.server], family: 4, refreshIntervalMs: 0 });
    // Cached before the in-memory world runs: its settle() only waits for answers in memory.
    for (const uri of ['sip:svc.test', 'sip:svc.test;transport=tcp'])
      await resolver.targets(parseUri(uri));
  });
  after(async () => {
    for (const fn of cleanups.splice(0)) await fn();
  });

  function setup(dnsFailover = true) {
    const world = new World(
      defaultRoute({ allowRelay: true }),
      { timers: { frTimerMs: FR_TIMER_MS }, dnsFailover },
      undefined,
      resolver,
    );
    return { world, uac: new Uac(world), uas: new Uas(world, ANSWERS.address, ANSWERS.port) };
  }

  test('no reply within fr_timer: the request goes to the next target with a new Via branch', async () => {
    const { world, uac, uas } = setup();
    uac.send(uac.request('INVITE', 'sip:bob@svc.test'));
    await world.settle();
    const first = world.net.log.find((p) => p.to.address === SILENT.address);
    assert.ok(first, 'the priority-10 target was tried first');
    assert.equal(uas.received.length, 0);
    await world.advance(FR_TIMER_MS + 100);
    const relayed = uas.received.find((r) => r.method === 'INVITE');
    assert.ok(relayed, 'the priority-20 target got the INVITE');
    assert.notEqual(
      relayed.topVia?.branch,
      /branch=([^;\r]+)/.exec(first.data.toString('latin1'))?.[1],
    );
    assert.equal(relayed.vias.length, 2, 'one Via of ours, not one per attempt');
    assert.deepEqual(uac.statuses(), [100, 180, 200]);
    assert.deepEqual(world.observed.get('dnsFailover'), [['timeout']]);
  });

  test('a 503 from a target moves on to the next; the caller never sees it', async () => {
    const { world, uac } = setup();
    const busy = new Uas(world, SILENT.address, SILENT.port);
    busy.script = [[0, 503]];
    uac.send(uac.request('INVITE', 'sip:bob@svc.test'));
    await world.settle();
    assert.equal(busy.received.length, 1);
    assert.deepEqual(uac.statuses(), [100, 180, 200]);
    assert.deepEqual(world.observed.get('dnsFailover'), [['503']]);
  });

  test('a transport error (TCP, nobody listening) moves on to the next target', async () => {
    const { world, uac, uas } = setup();
    uac.send(uac.request('MESSAGE', 'sip:bob@svc.test;transport=tcp'));
    await world.settle();
    assert.equal(uas.received[0]?.method, 'MESSAGE');
    assert.deepEqual(uac.statuses(), [200]);
    assert.deepEqual(world.observed.get('dnsFailover'), [['transport-error']]);
  });

  test('with dnsFailover off the first target is the only one: no reply ends the branch 408', async () => {
    const { world, uac, uas } = setup(false);
    uac.send(uac.request('INVITE', 'sip:bob@svc.test'));
    await world.advance(FR_TIMER_MS + 100);
    assert.equal(uas.received.length, 0);
    assert.equal(uac.statuses().at(-1), 408);
    assert.equal(world.observed.get('dnsFailover'), undefined);
  });
});
