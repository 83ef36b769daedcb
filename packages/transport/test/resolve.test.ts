import assert from 'node:assert/strict';
import dns from 'node:dns';
import { describe, it } from 'node:test';
import { parseUri } from '@sipfleet/sip';
import { TransportErrorCode, createResolver, resolveTarget, type LookupFn } from '../src/index.js';

describe('resolveTarget (RFC 3263 without NAPTR/SRV)', () => {
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
    assert.deepEqual(await createResolver({ family: 4 })(parseUri('sips:localhost')), {
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

  it('resolves names with dns.lookup and reports failures as RESOLVE', async () => {
    const target = await createResolver({ family: 4 })(parseUri('sip:localhost:5080'));
    assert.deepEqual(target, { protocol: 'udp', address: '127.0.0.1', port: 5080 });
    await assert.rejects(resolveTarget(parseUri('sip:bob@no-such-host.invalid')), {
      code: TransportErrorCode.Resolve,
    });
  });

  it('caches a name for ttlMs, shares concurrent lookups and does not cache failures', async () => {
    let lookups = 0;
    let now = 1_000;
    const counting: LookupFn = (name, family) => {
      lookups++;
      return dns.promises.lookup(name, { family });
    };
    const resolve = createResolver({ family: 4, ttlMs: 30_000, lookup: counting, now: () => now });
    const uri = parseUri('sip:LocalHost');
    await Promise.all([resolve(uri), resolve(uri), resolve(parseUri('sip:localhost'))]);
    assert.equal(lookups, 1);
    now += 29_999;
    await resolve(uri);
    assert.equal(lookups, 1);
    now += 1;
    await resolve(uri);
    assert.equal(lookups, 2);

    const bad = parseUri('sip:no-such-host.invalid');
    await assert.rejects(resolve(bad), { code: TransportErrorCode.Resolve });
    await assert.rejects(resolve(bad), { code: TransportErrorCode.Resolve });
    assert.equal(lookups, 4);
  });
});
