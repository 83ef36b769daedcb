// Issue 13, Kamailio dispatcher functions beyond ds_select_dst, against real edges, sipp UASes and
// redis-server: use_default, ds_select_domain, ds_select_routes, the state RPCs
// (set_duid_state, ds_mark_addr) through `sipfleet ctl`, ds_count / ds_is_active /
// ds_is_from_list (a destination listed by host name) from a routing module, and the `socket`
// attribute / ds_default_socket choosing the listener relayed requests leave from.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ctl } from '@sipfleet/test-helpers/ctl';
import { startEdge } from '@sipfleet/test-helpers/edge';
import type { EdgeHandle } from '@sipfleet/test-helpers/edge';
import { startFleet } from '@sipfleet/test-helpers/fleet';
import type { FleetOptions } from '@sipfleet/test-helpers/fleet';
import { freePort } from '@sipfleet/test-helpers/ports';
import type { CleanupOwner } from '@sipfleet/test-helpers/processes';
import { startRedis, uniquePrefix, waitFor } from '@sipfleet/test-helpers/redis-server';
import { sendRequest } from '@sipfleet/test-helpers/sip-probe';
import { runSipp } from '@sipfleet/test-helpers/sipp';
import { type Responder, UdpResponders } from '@sipfleet/test-helpers/udp-responders';

const DS_QUERY_ROUTES = fileURLToPath(new URL('../helpers/ds-query-routes.mjs', import.meta.url));

/** Redis and two edges routing set 1 with `algorithm` over one sipp UAS per scenario. */
async function fleetOn(
  t: CleanupOwner,
  algorithm: number,
  uases: (string | null)[],
  extra: FleetOptions,
) {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const fleet = await startFleet(t, redis.url, algorithm, uases, extra);
  const ds = (...args: string[]) =>
    ctl(['--redis-url', redis.url, '--prefix', fleet.prefix, 'dispatcher', ...args]);
  return { ...fleet, ds };
}

/** `count` calls through `edge`, all expected to succeed. */
async function placeCalls(edge: EdgeHandle, t: CleanupOwner, count: number): Promise<void> {
  const stats = await runSipp({
    scenario: 'uac-call',
    remote: { host: '127.0.0.1', port: edge.port },
    service: 'bob',
    rate: 20,
    maxCalls: count,
    callLengthMs: 0,
    owner: t,
  });
  assert.equal(stats.failed, 0, `failed: ${JSON.stringify(stats.failures)}`);
  assert.equal(stats.successful, count);
}

/** Until every edge's snapshot shows `uri` active (1) or not (0). */
async function untilActive(edges: EdgeHandle[], uri: string, active: 0 | 1): Promise<void> {
  for (const edge of edges) {
    await waitFor(`${uri} active=${active} on :${edge.port}`, async () => {
      return (await edge.metric('sipfleet_dispatcher_destination_active', { uri })) === active;
    });
  }
}

/** The Request-URIs of the INVITEs in a sipp message trace. */
const inviteUris = (trace: string | undefined) =>
  [...(trace ?? '').matchAll(/^INVITE (\S+) SIP\/2\.0/gm)].map((m) => m[1]);

describe('dispatcher functions', { concurrency: 1 }, () => {
  test('use_default: the last destination gets calls only once the others are down', async (t) => {
    // Priorities 10, 10, 0: the third UAS is last in set order, the default.
    const { edges, uases, uris, ds } = await fleetOn(t, 4, ['uas-call', 'uas-call', 'uas-call'], {
      priorities: [10, 10, 0],
      routing: { useDefault: true },
    });
    const [a, b, fallback] = uris;
    const [first, second] = edges as [EdgeHandle, EdgeHandle];
    await placeCalls(first, t, 6);
    for (const uri of [a, b]) {
      const run = await ds('set-state', 'i', '1', uri ?? '');
      assert.equal(run.code, 0, run.stderr);
      await untilActive(edges, uri ?? '', 0);
    }
    await placeCalls(second, t, 4);
    const perUas = await Promise.all(uases.map(async (u) => (await u.stop()).successful));
    assert.deepEqual(perUas, [3, 3, 4], `${fallback} takes only the calls after the others went`);
  });

  test('ds_select_domain: the UAS sees its own host and port in the Request-URI', async (t) => {
    const { edges, uases, uris } = await fleetOn(t, 4, ['uas-call', 'uas-call'], {
      routing: { mode: 'domain' },
      traceMessages: true,
    });
    await placeCalls(edges[0] as EdgeHandle, t, 4);
    for (const [i, uas] of uases.entries()) {
      const seen = inviteUris((await uas.stop()).messages);
      const expected = (uris[i] ?? '').replace('sip:', 'sip:bob@');
      assert.equal(seen.length, 2, `each UAS got 2 INVITEs: ${seen.join(' ')}`);
      for (const uri of seen) assert.equal(uri, expected);
    }
  });

  test('ds_select_routes: calls fall through from a failing set 1 to set 2', async (t) => {
    // Set 1 answers 500 on both destinations; `routes: 2=0` adds set 2 after them.
    const { edges, uases } = await fleetOn(t, 4, ['uas-500', 'uas-500', 'uas-call'], {
      sets: [1, 1, 2],
      routing: { routes: '2=0' },
    });
    await placeCalls(edges[0] as EdgeHandle, t, 4);
    const answered = await Promise.all(uases.map(async (u) => (await u.stop()).successful));
    assert.equal(answered[2], 4, `set 2 answered every call: ${answered.join(',')}`);
  });

  test('set-duid-state and mark-addr through ctl change a destination on every edge', async (t) => {
    const { edges, uases, uris, ds } = await fleetOn(t, 4, ['uas-call', 'uas-call'], {
      attrs: ['duid=gw-a', 'duid=gw-b'],
    });
    const [a = '', b = ''] = uris;
    const byDuid = await ds('set-duid-state', 'ip', '1', 'gw-a');
    assert.equal(byDuid.code, 0, byDuid.stderr);
    assert.equal(byDuid.stdout, `set 1 ${a}: AX -> IP (dst-down published)\n`);
    await untilActive(edges, a, 0);
    assert.equal((await ds('set-duid-state', 'i', '1', 'nope')).code, 3);

    // ds_mark_dst letters by address: `a` brings gw-a back, `ip` takes gw-b down.
    assert.equal((await ds('mark-addr', 'a', '1', a)).code, 0);
    const down = await ds('mark-addr', 'ip', '1', b);
    assert.equal(down.stdout, `set 1 ${b}: AX -> IP (dst-down published)\n`);
    await untilActive(edges, a, 1);
    await untilActive(edges, b, 0);
    assert.equal((await ds('count', '1', 'a')).stdout, '1\n');
    assert.equal((await ds('count', '1', 'ip')).stdout, '1\n');
    assert.equal((await ds('is-active', '1', b)).stdout, `${b} in set 1: not active\n`);

    await placeCalls(edges[1] as EdgeHandle, t, 4);
    const perUas = await Promise.all(uases.map(async (u) => (await u.stop()).successful));
    assert.deepEqual(perUas, [4, 0]);
  });

  test('a routing module asks ds_count, ds_is_active and ds_is_from_list (a localhost destination)', async (t) => {
    const redis = await startRedis();
    t.after(() => redis.stop());
    const dir = mkdtempSync(join(tmpdir(), 'sipfleet-dsq-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const [p1, p2] = [await freePort(), await freePort()];
    const [a, b] = [`sip:127.0.0.1:${p1}`, `sip:127.0.0.1:${p2}`];
    const listFile = join(dir, 'dispatcher.list');
    // Set 2 lists a host name without port: requests from any port of what it resolves to match.
    writeFileSync(listFile, `1 ${a}\n1 ${b}\n2 sip:localhost\n`);
    const prefix = uniquePrefix();
    const edge = await startEdge(
      t,
      {
        redis: { url: redis.url, prefix },
        dispatcher: { listFile },
        routing: { module: DS_QUERY_ROUTES },
      },
      { TEST_DS_URI: b },
    );
    const ask = async () => {
      const text = await sendRequest(edge.port, 'OPTIONS', 'ds');
      const header = (name: string) => new RegExp(`^${name}: (.*)\\r$`, 'mi').exec(text)?.[1];
      return {
        active: header('X-DS-Count-Active'),
        down: header('X-DS-Count-Down'),
        setActive: header('X-DS-Set-Active'),
        uriActive: header('X-DS-Uri-Active'),
        from: header('X-DS-From-List'),
      };
    };
    // Resolved in the background after the list read, then answered from memory.
    await waitFor('localhost resolved', async () => (await ask()).from === '2 sip:localhost');
    assert.deepEqual(await ask(), {
      active: '2',
      down: '0',
      setActive: 'true',
      uriActive: 'true',
      from: '2 sip:localhost',
    });
    const ds = (...args: string[]) =>
      ctl(['--redis-url', redis.url, '--prefix', prefix, 'dispatcher', ...args]);
    assert.equal((await ds('set-state', 'i', '1', b)).code, 0);
    await waitFor('b inactive on the edge', async () => (await ask()).uriActive === 'false');
    assert.deepEqual(await ask(), {
      active: '1',
      down: '1',
      setActive: 'true',
      uriActive: 'false',
      from: '2 sip:localhost',
    });
    assert.equal((await ds('set-state', 'd', '1', a)).code, 0);
    await waitFor(
      'set 1 without an active destination',
      async () => (await ask()).setActive === 'false',
    );
    assert.equal((await ask()).down, '2');
  });
});

describe('dispatcher send sockets', () => {
  test('socket= and dispatcher.defaultSocket: requests leave from the named listener', async (t) => {
    const redis = await startRedis();
    t.after(() => redis.stop());
    const responders = await UdpResponders.start(2);
    t.after(() => responders.close());
    const [named, plain] = responders.responders as [Responder, Responder];
    const [socketPort, defaultPort] = [await freePort(), await freePort()];
    const dir = mkdtempSync(join(tmpdir(), 'sipfleet-dss-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const listFile = join(dir, 'dispatcher.list');
    writeFileSync(
      listFile,
      `1 ${named.uri} 0 0 socket=udp:127.0.0.1:${socketPort}\n1 ${plain.uri} 0 0\n`,
    );
    const edge = await startEdge(
      t,
      {
        redis: { url: redis.url, prefix: uniquePrefix() },
        dispatcher: { listFile, defaultSocket: `udp:127.0.0.1:${defaultPort}` },
        routing: { dispatcher: { set: 1, algorithm: 4 } },
      },
      {},
      {
        extraListen: [
          { protocol: 'udp', address: '127.0.0.1', port: socketPort },
          { protocol: 'udp', address: '127.0.0.1', port: defaultPort },
        ],
      },
    );
    // Round-robin: one OPTIONS to each destination; each answers 200 to where it came from.
    for (let i = 0; i < 2; i++) {
      assert.match(await sendRequest(edge.port, 'OPTIONS', 'bob'), /^SIP\/2\.0 200 /);
    }
    assert.deepEqual(named.lastSource, { address: '127.0.0.1', port: socketPort });
    assert.deepEqual(plain.lastSource, { address: '127.0.0.1', port: defaultPort });
  });
});
