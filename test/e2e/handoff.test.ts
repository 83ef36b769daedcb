// Issue 15 acceptance: any edge takes any message. sipp UAC -> a relay that spreads datagrams
// round robin over three edges (a load balancer without affinity), losing every few datagrams
// both ways -> the edges -> sipp UAS. A CANCEL, an INVITE retransmission or the ACK of a 486 that
// lands on an edge other than the INVITE's is handed to the INVITE's edge.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startEdge } from '@sipfleet/test-helpers/edge';
import type { EdgeHandle } from '@sipfleet/test-helpers/edge';
import { startSpreadingRelay } from '@sipfleet/test-helpers/lossy-relay';
import type { SpreadingRelay } from '@sipfleet/test-helpers/lossy-relay';
import { freePort } from '@sipfleet/test-helpers/ports';
import { DialogClient } from '@sipfleet/test-helpers/sip-dialog';
import type { CleanupOwner } from '@sipfleet/test-helpers/processes';
import { startRedis, uniquePrefix, waitFor } from '@sipfleet/test-helpers/redis-server';
import type { RedisServer } from '@sipfleet/test-helpers/redis-server';
import { messageCount, runSipp, startSipp } from '@sipfleet/test-helpers/sipp';
import type { SippProcess, SippStats } from '@sipfleet/test-helpers/sipp';

const EDGES = 3;
const CALLS = 9;
const SECRET = 'test-fleet-secret-0123456789';

interface SpreadFleet {
  edges: EdgeHandle[];
  relay: SpreadingRelay;
  uas: SippProcess;
}

/** Sum of one metric over every edge. */
async function total(
  edges: EdgeHandle[],
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const values = await Promise.all(edges.map((e) => e.metric(name, labels)));
  return values.reduce((x, y) => x + y, 0);
}

async function spreadFleet(
  t: CleanupOwner,
  redis: RedisServer,
  uasScenario: string,
  loss: Parameters<typeof startSpreadingRelay>[1],
  extra: Record<string, unknown> = {},
): Promise<SpreadFleet> {
  const uasPort = await freePort();
  const uas = await startSipp({ scenario: uasScenario, localPort: uasPort, owner: t });
  const relay = await startSpreadingRelay(t, loss);
  const config = {
    redis: { url: redis.url, prefix: uniquePrefix() },
    // The relay's address is the fleet's public one; Record-Route names the fleet.
    aliases: [`127.0.0.1:${relay.port}`],
    advertise: { host: 'fleet.invalid', port: 5060 },
    routing: { destination: `sip:127.0.0.1:${uasPort}` },
    fleet: { heartbeatMs: 200, ttlMs: 1000 },
    handoff: { enabled: true, secret: SECRET },
    ...extra,
  };
  // One after the other: each start has its own deadline on a busy host.
  const edges: EdgeHandle[] = [];
  for (let i = 0; i < EDGES; i++) edges.push(await startEdge(t, config));
  relay.edges = edges.map((e) => e.port);
  await waitFor('every edge sees the other two', async () => {
    const peers = await Promise.all(edges.map((e) => e.metric('sipfleet_handoff_peers')));
    return peers.every((n) => n === EDGES - 1);
  });
  return { edges, relay, uas };
}

/** CALLS calls of `scenario` through the relay, 5 per second; every one must succeed. */
async function callThrough(
  t: CleanupOwner,
  relayPort: number,
  scenario: string,
): Promise<SippStats> {
  const stats = await runSipp({
    scenario,
    remote: { host: '127.0.0.1', port: relayPort },
    service: 'bob',
    rate: 5,
    maxCalls: CALLS,
    recvTimeoutMs: 10_000,
    owner: t,
  });
  assertAllSucceeded(stats, CALLS);
  return stats;
}

function assertAllSucceeded(stats: SippStats, calls: number): void {
  assert.equal(
    stats.failed,
    0,
    `failed calls: ${JSON.stringify(stats.failures)}\n${stats.errors.slice(0, 5).join('\n')}`,
  );
  assert.equal(stats.successful, calls);
}

/** The UAS got `method` once per call: no duplicate from a second edge, no retransmission. */
function assertOncePerCall(uas: SippStats, method: string, calls: number): void {
  const lines = uas.scenario.filter((l) => l.direction === 'received' && l.message === method);
  assert.equal(messageCount(uas, 'received', method), calls, `${method} at the UAS`);
  assert.deepEqual(
    lines.map((l) => l.retransmissions + l.unexpected),
    lines.map(() => 0),
    `${method} repeated at the UAS`,
  );
}

describe('any edge takes any message (hand-off)', { concurrency: 1 }, () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis.stop());

  test('a CANCEL on another edge: 200 for the CANCEL, 487 for the INVITE, one INVITE and one CANCEL at the UAS', async (t) => {
    // Loss on the way to the edges: lost INVITEs, CANCELs and ACKs come again, to another edge. (A
    // 180 lost on the way back would never come again: the caller has its 100 and waits.)
    const { edges, relay, uas } = await spreadFleet(t, redis, 'uas-cancel', { dropToEdges: 5 });
    const stats = await callThrough(t, relay.port, 'uac-cancel');
    assert.ok(
      messageCount(stats, 'received', '200') >= CALLS,
      'the caller got 200 for its CANCELs',
    );
    const uasStats = await uas.stop();
    assert.equal(uasStats.successful, CALLS);
    assertOncePerCall(uasStats, 'INVITE', CALLS);
    assertOncePerCall(uasStats, 'CANCEL', CALLS);
    assert.ok((await total(edges, 'sipfleet_handoff_sent_total', { message: 'CANCEL' })) > 0);
    // No edge answered a CANCEL 481 (the layer's own 4xx) and every edge sent its CANCEL downstream
    // only for an INVITE it forwarded: the UAS saw one per call.
    assert.equal(
      await total(edges, 'sipfleet_sip_responses_total', { class: '4xx', origin: 'transaction' }),
      0,
    );
    assert.ok(relay.toEdges.dropped > 0, 'the path lost datagrams');
  });

  test('INVITE retransmissions spread over the edges: the UAS sees one INVITE per call, every call completes', async (t) => {
    // Every fifth datagram to the edges lost, and each call's first 100 Trying: the caller
    // retransmits its INVITE (the 486 comes 1.2 s later), and the relay sends a retransmission to
    // another edge than its last copy, so each call's INVITE reaches an edge that does not hold it.
    const { edges, relay, uas } = await spreadFleet(t, redis, 'uas-slow-busy', {
      dropToEdges: 5,
      dropFirstToClient: /^SIP\/2\.0 100 /,
    });
    const stats = await callThrough(t, relay.port, 'uac-busy');
    const uasStats = await uas.stop();
    assertOncePerCall(uasStats, 'INVITE', CALLS);
    assert.ok(stats.retransmissions > 0, 'the caller retransmitted');
    assert.ok((await total(edges, 'sipfleet_handoff_sent_total', { message: 'INVITE' })) > 0);
    assert.ok(relay.toEdges.dropped > 0 && relay.toClient.dropped > 0, 'the path lost datagrams');
  });

  test('a 486 whose ACK reaches another edge: the owner absorbs the ACK and stops retransmitting the 486', async (t) => {
    // T4 (Timer I, Confirmed) and the wait timer short: a transaction whose ACK was absorbed ends
    // within a second, one still waiting for it lives Timer H, 64*T1 = 32 s, retransmitting.
    // Loss on the way to the caller only: a lost 486 is retransmitted, and the caller ACKs the one
    // it gets; that ACK always arrives, so every transaction must end Confirmed.
    const { edges, relay, uas } = await spreadFleet(
      t,
      redis,
      'uas-busy',
      { dropToClient: 5 },
      { timers: { T4: 500, waitMs: 500 } },
    );
    await callThrough(t, relay.port, 'uac-busy');
    assertOncePerCall(await uas.stop(), 'INVITE', CALLS);
    assert.ok((await total(edges, 'sipfleet_handoff_received_total', { message: 'ACK' })) > 0);
    assert.ok(relay.toClient.dropped > 0, 'the path lost datagrams');
    await waitFor(
      'every INVITE server transaction confirmed by its ACK and ended (long before Timer H)',
      async () => (await total(edges, 'sipfleet_active_transactions', { side: 'server' })) === 0,
      10_000,
    );
  });

  test('the owning edge crashed: a CANCEL on another edge is answered 481, as for an unknown transaction', async (t) => {
    const { edges } = await spreadFleet(t, redis, 'uas-cancel', {});
    const [owner, other] = edges as [EdgeHandle, EdgeHandle];
    const client = await DialogClient.open();
    t.after(() => client.close());
    const ringing = await client.ringing(owner.port);
    await owner.stop(); // SIGKILL: no goodbye, its membership record expires (fleet.ttlMs)
    // Retransmitted until answered: hand-offs to the dead edge are lost until the others drop it.
    assert.equal(await client.cancel(ringing, other.port), 481);
    assert.ok(
      (await other.metric('sipfleet_handoff_owner_gone_total', { message: 'CANCEL' })) >= 1,
      "the CANCEL was known to be the dead edge's",
    );
  });
});
