// A destination given by an SRV name is pinged at its targets in RFC 3263 order until one replies
// (tm with use_dns_failover): real dnsmasq, real UDP responders.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startDnsServer } from '@sipfleet/test-helpers/dns-server';
import { UdpResponders } from '@sipfleet/test-helpers/udp-responders';
import { createResolver } from '@sipfleet/transport';
import { Pinger } from '../src/index.js';

test('an SRV destination is up while any target answers: a silent priority-10 target, then priority 20', async (t) => {
  const responders = await UdpResponders.start(2);
  t.after(() => responders.close());
  const [silent, answers] = responders.responders;
  assert.ok(silent && answers);
  silent.mode = 'silent';
  const dns = await startDnsServer(t, {
    hosts: [{ name: 'p.svc.test', address: '127.0.0.1' }],
    srv: [
      { name: '_sip._udp.svc.test', target: 'p.svc.test', port: silent.port, priority: 10 },
      { name: '_sip._udp.svc.test', target: 'p.svc.test', port: answers.port, priority: 20 },
    ],
  });
  const pinger = await Pinger.start({
    address: '127.0.0.1',
    timeoutMs: 300,
    tcp: false,
    resolver: createResolver({ servers: [dns.server], family: 4 }),
  });
  t.after(() => pinger.close());
  const result = await pinger.ping({ uri: 'sip:svc.test', from: 'sip:dispatcher@localhost' });
  assert.equal(result.outcome, 'reply');
  assert.equal(result.status, 200);
  assert.equal(silent.pings.length, 1, 'the priority-10 target was pinged first');
  assert.equal(answers.pings.length, 1);

  answers.mode = 'silent';
  const down = await pinger.ping({ uri: 'sip:svc.test', from: 'sip:dispatcher@localhost' });
  assert.equal(down.outcome, 'timeout', 'down once every target is silent');
});
