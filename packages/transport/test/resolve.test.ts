import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseUri } from '@sipfleet/sip';
import { startDnsServer } from '@sipfleet/test-helpers/dns-server';
import type { DnsServer } from '@sipfleet/test-helpers/dns-server';
import { waitFor } from '@sipfleet/test-helpers/redis-server';
import {
  TransportErrorCode,
  createResolver,
  orderSrv,
  resolveTarget,
  type RecordType,
  type ResolverOptions,
} from '../src/index.js';

describe('resolveTarget (RFC 3263 without DNS)', () => {
  it('uses IP literals directly, UDP and port 5060 by default', async () => {
    assert.deepEqual(await resolveTarget(parseUri('sip:alice@192.0.2.1')), {
      protocol: 'udp',
      address: '192.0.2.1',
      port: 5060,
    });
  });

  it('honours transport (any case) and port, and strips IPv6 brackets', async () => {
    assert.deepEqual(await resolveTarget(parseUri('sip:[2001:db8::1]:5070;transport=TCP')), {
      protocol: 'tcp',
      address: '2001:db8::1',
      port: 5070,
    });
    assert.equal(
      (await resolveTarget(parseUri('sip:b@192.0.2.1;transport=udp;lr'))).protocol,
      'udp',
    );
  });

  it('literalTargets answers IP hosts at once, like targets(), and names with undefined', async () => {
    const resolver = createResolver({ protocols: ['udp', 'tcp'] });
    for (const text of [
      'sip:a@192.0.2.1',
      'sip:[2001:db8::1]:5070;transport=tcp',
      'sip:b@h.invalid;maddr=192.0.2.9',
    ]) {
      const uri = parseUri(text);
      const literal = resolver.literalTargets(uri);
      assert.ok(literal !== undefined, text);
      assert.deepEqual(literal, await resolver.targets(uri));
    }
    assert.equal(resolver.literalTargets(parseUri('sip:b@h.invalid:5080')), undefined);
    assert.throws(
      () => resolver.literalTargets(parseUri('sips:a@192.0.2.1')),
      (err: { code?: string }) => err.code === TransportErrorCode.UnsupportedScheme,
    );
  });

  it('lets maddr override the host (no DNS for the host name)', async () => {
    assert.deepEqual(
      await resolveTarget(parseUri('sip:bob@nowhere.invalid:5080;maddr=192.0.2.9;transport=tcp')),
      { protocol: 'tcp', address: '192.0.2.9', port: 5080 },
    );
  });

  it('refuses tel:, sips: without TLS and transports other than udp/tcp/tls with typed errors', async () => {
    await assert.rejects(resolveTarget(parseUri('tel:+15551234567')), {
      code: TransportErrorCode.UnsupportedScheme,
    });
    await assert.rejects(resolveTarget(parseUri('sips:bob@192.0.2.1;transport=tcp')), {
      code: TransportErrorCode.UnsupportedTransport,
    });
    for (const transport of ['sctp']) {
      await assert.rejects(resolveTarget(parseUri(`sip:bob@192.0.2.1;transport=${transport}`)), {
        code: TransportErrorCode.UnsupportedTransport,
      });
    }
  });

  it('sends sips: and transport=tls over TLS, on 5061 by default, checking the name resolved (RFC 5630, RFC 5922)', async () => {
    assert.deepEqual(await resolveTarget(parseUri('sips:bob@192.0.2.1')), {
      protocol: 'tls',
      address: '192.0.2.1',
      port: 5061,
    });
    assert.deepEqual(await resolveTarget(parseUri('sip:bob@192.0.2.1:5071;transport=TLS')), {
      protocol: 'tls',
      address: '192.0.2.1',
      port: 5071,
    });
    const resolver = createResolver({ family: 4, protocols: ['udp', 'tcp', 'tls'] });
    resolver.close();
    assert.deepEqual(await resolver.resolve(parseUri('sips:localhost')), {
      protocol: 'tls',
      address: '127.0.0.1',
      port: 5061,
      serverName: 'localhost',
    });
  });

  it('maps transport=ws and wss to WebSocket targets (RFC 7118 section 5.2)', async () => {
    assert.deepEqual(await resolveTarget(parseUri('sip:bob@192.0.2.1:40000;transport=WS')), {
      protocol: 'ws',
      address: '192.0.2.1',
      port: 40000,
    });
    assert.equal((await resolveTarget(parseUri('sip:192.0.2.1;transport=wss'))).protocol, 'wss');
  });

  it('resolves a name with a port through getaddrinfo when no DNS server is configured', async () => {
    const resolver = createResolver({ family: 4 });
    resolver.close();
    assert.deepEqual(await resolver.resolve(parseUri('sip:localhost:5080')), {
      protocol: 'udp',
      address: '127.0.0.1',
      port: 5080,
    });
  });
});

/** The records every test below reads, from a real dnsmasq on loopback. */
const RECORDS = {
  hosts: [
    { name: 'a.svc.test', address: '127.0.0.1' },
    { name: 'b.svc.test', address: '127.0.0.2' },
    { name: 'c.svc.test', address: '127.0.0.3' },
    { name: 'h.hop.test', address: '127.0.0.4' },
    { name: 't.hop.test', address: '127.0.0.5' },
  ],
  srv: [
    { name: '_sip._udp.svc.test', target: 'a.svc.test', port: 5071, priority: 10, weight: 1 },
    { name: '_sip._udp.svc.test', target: 'b.svc.test', port: 5072, priority: 10, weight: 3 },
    { name: '_sip._udp.svc.test', target: 'c.svc.test', port: 5073, priority: 20, weight: 1 },
    { name: '_sip._udp.hop.test', target: 'h.hop.test', port: 5080 },
    { name: '_sip._tcp.hop.test', target: 't.hop.test', port: 5090 },
    { name: '_sip._udp.tlsonly.test', target: 'h.hop.test', port: 5070 },
    { name: '_sips._tcp.tlsonly.test', target: 'h.hop.test', port: 5071 },
  ],
  naptr: [
    // Order 20 for UDP, 10 for TCP: NAPTR order beats our preference for UDP.
    {
      name: 'hop.test',
      order: 20,
      preference: 50,
      service: 'SIP+D2U',
      replacement: '_sip._udp.hop.test',
    },
    {
      name: 'hop.test',
      order: 10,
      preference: 50,
      service: 'SIP+D2T',
      replacement: '_sip._tcp.hop.test',
    },
    {
      name: 'tlsonly.test',
      order: 10,
      preference: 50,
      service: 'SIPS+D2T',
      replacement: '_sips._tcp.tlsonly.test',
    },
  ],
};

describe('SipResolver with a real DNS server (RFC 3263 §4, RFC 2782)', { concurrency: 1 }, () => {
  let server: DnsServer;
  // The server (restarted by one test) and the resolvers' timers go when the suite ends.
  const cleanups: (() => unknown)[] = [];
  const owner = { after: (fn: () => unknown) => cleanups.push(fn) };
  const resolverFor = (extra: ResolverOptions = {}) => {
    const r = createResolver({ servers: [server.server], family: 4, ...extra });
    cleanups.push(() => r.close());
    return r;
  };

  before(async () => {
    server = await startDnsServer(owner, RECORDS);
  });
  after(async () => {
    for (const fn of cleanups.splice(0)) await fn();
  });

  it('follows NAPTR (by order) to SRV to A: every target, in order', async () => {
    const targets = await resolverFor().targets(parseUri('sip:bob@hop.test'));
    assert.deepEqual(targets, [
      { protocol: 'tcp', address: '127.0.0.5', port: 5090 },
      { protocol: 'udp', address: '127.0.0.4', port: 5080 },
    ]);
  });

  it('skips NAPTR records of transports we do not listen on (SIPS+D2T without TLS), then tries SRV', async () => {
    const targets = await resolverFor().targets(parseUri('sip:tlsonly.test'));
    assert.deepEqual(targets, [{ protocol: 'udp', address: '127.0.0.4', port: 5070 }]);
  });

  it('with TLS: follows SIPS+D2T, and a TLS target checks the URI host, not the SRV target (RFC 5922); ws/wss take the host addresses only', async () => {
    const resolver = resolverFor({ protocols: ['udp', 'tcp', 'tls'] });
    const tls = { protocol: 'tls', address: '127.0.0.4', port: 5071, serverName: 'tlsonly.test' };
    assert.deepEqual(await resolver.targets(parseUri('sip:tlsonly.test')), [tls]);
    assert.deepEqual(await resolver.targets(parseUri('sips:bob@tlsonly.test')), [tls]);
    assert.deepEqual(await resolver.targets(parseUri('sip:h.hop.test;transport=ws')), [
      { protocol: 'ws', address: '127.0.0.4', port: 5060 },
    ]);
    await assert.rejects(resolver.targets(parseUri('sip:hop.test;transport=wss')), {
      code: TransportErrorCode.Resolve,
    });
  });

  it('orders SRV targets by priority, and by weight within one: ~1:3 first picks, priority 20 last', async () => {
    const resolver = resolverFor();
    const firsts = new Map<number, number>();
    for (let i = 0; i < 400; i++) {
      const targets = await resolver.targets(parseUri('sip:svc.test'));
      assert.equal(targets.length, 3);
      assert.equal(targets[2]?.port, 5073, 'the priority-20 target comes last');
      const port = targets[0]?.port ?? 0;
      firsts.set(port, (firsts.get(port) ?? 0) + 1);
    }
    // Expected 300 of 400 for weight 3 (sd ~8.7): the bounds are ±6 sd.
    const heavy = firsts.get(5072) ?? 0;
    assert.ok(heavy > 248 && heavy < 352, `weight 3 came first ${heavy} times of 400`);
    assert.equal((firsts.get(5071) ?? 0) + heavy, 400);
  });

  it('orderSrv puts weight-0 records after the weighted ones of their priority', () => {
    const records = [
      { name: 'z', port: 1, priority: 5, weight: 0 },
      { name: 'w', port: 2, priority: 5, weight: 10 },
      { name: 'p', port: 3, priority: 1, weight: 0 },
    ];
    assert.deepEqual(
      orderSrv(records, () => 0.99).map((r) => r.name),
      ['p', 'w', 'z'],
    );
  });

  it('with transport= and no port asks that SRV only, else A on port 5060; an explicit port skips SRV', async () => {
    const resolver = resolverFor();
    assert.deepEqual(await resolver.targets(parseUri('sip:hop.test;transport=udp')), [
      { protocol: 'udp', address: '127.0.0.4', port: 5080 },
    ]);
    assert.deepEqual(await resolver.targets(parseUri('sip:h.hop.test;transport=tcp')), [
      { protocol: 'tcp', address: '127.0.0.4', port: 5060 },
    ]);
    assert.deepEqual(await resolver.targets(parseUri('sip:a.svc.test:6000')), [
      { protocol: 'udp', address: '127.0.0.1', port: 6000 },
    ]);
    await assert.rejects(resolver.targets(parseUri('sip:nx.test:5060')), {
      code: TransportErrorCode.Resolve,
    });
  });

  it('answers from the cache within the TTL, serves stale while refreshing, and refreshes in the background', async () => {
    let now = 1_000_000;
    const queries: RecordType[] = [];
    const errors: string[] = [];
    const resolver = resolverFor({
      now: () => now,
      minTtlMs: 1000,
      refreshIntervalMs: 20,
      onQuery: (type, name, result) => {
        queries.push(type);
        if (result === 'error') errors.push(name);
      },
    });
    const uri = parseUri('sip:a.svc.test:5060');
    assert.equal((await resolver.resolve(uri)).address, '127.0.0.1');
    assert.deepEqual(queries, ['A']);
    now += 29_000; // dnsmasq's TTL is 30 s
    await resolver.resolve(uri);
    assert.deepEqual(queries, ['A'], 'no query within the TTL');

    // New records behind the same port: the next tick past the TTL refreshes without a call.
    await server.stop();
    server = await startDnsServer(
      owner,
      { ...RECORDS, hosts: [{ name: 'a.svc.test', address: '127.0.0.9' }] },
      server.port,
    );
    now += 1_500;
    await waitFor('the background refresh', async () => {
      return (await resolver.resolve(uri)).address === '127.0.0.9';
    });
    assert.ok(queries.length >= 2);

    // The server gone: the last answer is served, and the failure reported, not thrown.
    await server.stop();
    now += 31_000;
    assert.equal((await resolver.resolve(uri)).address, '127.0.0.9');
    await waitFor('a failed refresh', () => Promise.resolve(errors.includes('a.svc.test')));

    // A failure with no answer to fall back on is cached for minTtlMs.
    const unknown = parseUri('sip:other.test:5060');
    await assert.rejects(resolver.resolve(unknown), { code: TransportErrorCode.Resolve });
    const sent = queries.length;
    await assert.rejects(resolver.resolve(unknown), { code: TransportErrorCode.Resolve });
    assert.equal(queries.length, sent, 'the failure was cached');
  });
});
