// Issue 14, DNS (RFC 3263): a real dnsmasq on loopback serves NAPTR, SRV and A records whose
// targets are real sipp UASes. A dispatcher destination given by an SRV name spreads its calls by
// weight over the best priority and fails over to the next priority only when those do not
// answer; a Request-URI whose host has NAPTR -> SRV -> A records reaches its UAS. Names are
// resolved when the list loads, so the calls themselves send no DNS query.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { startDnsServer } from '@sipfleet/test-helpers/dns-server';
import type { DnsRecords } from '@sipfleet/test-helpers/dns-server';
import { startEdge } from '@sipfleet/test-helpers/edge';
import type { EdgeHandle } from '@sipfleet/test-helpers/edge';
import { freePort } from '@sipfleet/test-helpers/ports';
import type { CleanupOwner } from '@sipfleet/test-helpers/processes';
import { startRedis, uniquePrefix, waitFor } from '@sipfleet/test-helpers/redis-server';
import { DialogClient } from '@sipfleet/test-helpers/sip-dialog';
import { runSipp, startSipp } from '@sipfleet/test-helpers/sipp';
import type { SippProcess } from '@sipfleet/test-helpers/sipp';

/** Long TTLs: nothing expires during a test, so any query during the calls would be a miss. */
const TTL = 300;

/** `_sip._udp.svc.test`: a and b at priority 10 (weights 1 and 3), c at priority 20. */
function srvRecords(ports: { a: number; b: number; c: number }): DnsRecords {
  return {
    ttl: TTL,
    hosts: ['a', 'b', 'c'].map((h) => ({ name: `${h}.svc.test`, address: '127.0.0.1' })),
    srv: [
      { name: '_sip._udp.svc.test', target: 'a.svc.test', port: ports.a, priority: 10, weight: 1 },
      { name: '_sip._udp.svc.test', target: 'b.svc.test', port: ports.b, priority: 10, weight: 3 },
      { name: '_sip._udp.svc.test', target: 'c.svc.test', port: ports.c, priority: 20, weight: 1 },
    ],
  };
}

/** A UAS on a free port, or (answering false) a free port nobody answers on. */
async function uas(
  t: CleanupOwner,
  answering: boolean,
): Promise<{ port: number; sipp?: SippProcess }> {
  const port = await freePort();
  if (!answering) return { port };
  return { port, sipp: await startSipp({ scenario: 'uas-call', localPort: port, owner: t }) };
}

/** Redis, a list file with the single destination `sip:svc.test`, and one edge routing set 1 to it. */
async function dispatcherEdge(
  t: CleanupOwner,
  dnsServer: string,
  extra: { dispatcher?: object; dns?: object } = {},
): Promise<EdgeHandle> {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const dir = mkdtempSync(join(tmpdir(), 'sipfleet-dns-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const listFile = join(dir, 'dispatcher.list');
  writeFileSync(listFile, '1 sip:svc.test 0 0\n');
  return startEdge(t, {
    redis: { url: redis.url, prefix: uniquePrefix() },
    dispatcher: { listFile, ...extra.dispatcher },
    routing: { dispatcher: { set: 1, algorithm: 0, frTimerMs: 500 } },
    dns: { servers: [dnsServer], defaultTtlSeconds: TTL, maxTtlSeconds: TTL, ...extra.dns },
  });
}

const queries = (edge: EdgeHandle) => edge.metric('sipfleet_dns_queries_total');

/** `count` short calls from a sipp UAC through `edge`; every one must succeed. */
async function calls(t: CleanupOwner, edge: EdgeHandle, count: number, rate: number) {
  const stats = await runSipp({
    scenario: 'uac-call',
    remote: { host: '127.0.0.1', port: edge.port },
    service: 'bob',
    rate,
    maxCalls: count,
    callLengthMs: 0,
    owner: t,
  });
  assert.equal(stats.successful, count, stats.output);
}

describe('DNS (RFC 3263) with a real DNS server', { concurrency: 1 }, () => {
  test('an SRV destination spreads calls ~1:3 by weight over priority 10, none to priority 20, with no DNS query per call', async (t) => {
    const [a, b, c] = [await uas(t, true), await uas(t, true), await uas(t, true)];
    const dns = await startDnsServer(t, srvRecords({ a: a.port, b: b.port, c: c.port }));
    const edge = await dispatcherEdge(t, dns.server);
    // ds_dns_mode init: the list load resolved the SRV name and its three targets.
    await waitFor('the destination resolved at load', async () => {
      const srv = await edge.metric('sipfleet_dns_queries_total', { type: 'SRV', result: 'ok' });
      const addr = await edge.metric('sipfleet_dns_queries_total', { type: 'A', result: 'ok' });
      return srv >= 1 && addr >= 3;
    });
    const before = await queries(edge);

    const count = 40;
    await calls(t, edge, count, 20);
    const na = (await a.sipp?.stop())?.successful ?? 0;
    const nb = (await b.sipp?.stop())?.successful ?? 0;
    const nc = (await c.sipp?.stop())?.successful ?? 0;
    assert.equal(nc, 0, 'the priority-20 target takes no call while priority 10 answers');
    assert.equal(na + nb, count);
    // Weight 1 of 4 over 40 calls: 10 expected (sd 2.7); outside [2, 19] has odds below 1/1000.
    assert.ok(na >= 2 && na <= 19, `weights 1:3 gave ${na}:${nb}`);
    assert.equal(await queries(edge), before, 'the calls were routed from the cache');
  });

  test('the priority-20 SRV target takes the calls when the priority-10 targets do not answer', async (t) => {
    const [a, b, c] = [await uas(t, false), await uas(t, false), await uas(t, true)];
    const dns = await startDnsServer(t, srvRecords({ a: a.port, b: b.port, c: c.port }));
    const edge = await dispatcherEdge(t, dns.server);
    const count = 4;
    await calls(t, edge, count, 10);
    assert.equal((await c.sipp?.stop())?.successful, count);
    // Each call waited fr_timer on both priority-10 targets before moving on.
    assert.equal(
      await edge.metric('sipfleet_dns_failovers_total', { cause: 'timeout' }),
      2 * count,
    );
  });

  test('ds_dns_mode timer: destination names are queried again every dnsIntervalSeconds without a call', async (t) => {
    const dns = await startDnsServer(t, { ...srvRecords({ a: 1, b: 2, c: 3 }), ttl: 1 });
    // Answers live 1 s and the background tick is an hour away: only the dispatcher's timer
    // (every second) makes the edge ask again.
    const edge = await dispatcherEdge(t, dns.server, {
      dispatcher: { dnsMode: 'timer', dnsIntervalSeconds: 1 },
      dns: {
        minTtlSeconds: 1,
        maxTtlSeconds: 1,
        defaultTtlSeconds: 1,
        refreshIntervalSeconds: 3600,
      },
    });
    const srv = () => edge.metric('sipfleet_dns_queries_total', { type: 'SRV', result: 'ok' });
    await waitFor('the SRV name queried at load', async () => (await srv()) >= 1);
    const atLoad = await srv();
    await waitFor(
      'the SRV name queried again by the timer',
      async () => (await srv()) >= atLoad + 2,
    );
  });

  test('a Request-URI host with NAPTR -> SRV -> A records reaches its UAS (NAPTR order picks UDP)', async (t) => {
    const target = await uas(t, true);
    const unused = await freePort();
    const dns = await startDnsServer(t, {
      ttl: TTL,
      hosts: [
        { name: 'u.hop.test', address: '127.0.0.1' },
        { name: 't.hop.test', address: '127.0.0.1' },
      ],
      naptr: [
        {
          name: 'hop.test',
          order: 10,
          preference: 10,
          service: 'SIP+D2U',
          replacement: '_sip._udp.hop.test',
        },
        {
          name: 'hop.test',
          order: 20,
          preference: 10,
          service: 'SIP+D2T',
          replacement: '_sip._tcp.hop.test',
        },
      ],
      srv: [
        { name: '_sip._udp.hop.test', target: 'u.hop.test', port: target.port },
        { name: '_sip._tcp.hop.test', target: 't.hop.test', port: unused },
      ],
    });
    const edge = await startEdge(t, {
      routing: { allowRelay: true },
      dns: { servers: [dns.server] },
    });
    const client = await DialogClient.open();
    t.after(() => client.close());
    const dialog = await client.invite(edge.port, 'bob', 'sip:bob@hop.test');
    assert.equal(dialog.status, 200);
    client.ack(dialog, edge.port);
    assert.equal(await client.bye(dialog, edge.port), 200);
    assert.equal((await target.sipp?.stop())?.successful, 1);
    assert.equal(
      await edge.metric('sipfleet_dns_queries_total', { type: 'NAPTR', result: 'ok' }),
      1,
    );
  });
});
