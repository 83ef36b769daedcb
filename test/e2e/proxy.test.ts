// Issue 3 acceptance: sipp UAC -> real edge -> sipp UAS, on UDP and TCP, record-routed, with
// in-dialog requests following the route set; CANCEL, 486, OPTIONS/MESSAGE and packet loss.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startEdge } from '@sipfleet/test-helpers/edge';
import { startLossyRelay } from '@sipfleet/test-helpers/lossy-relay';
import { freePort } from '@sipfleet/test-helpers/ports';
import { runSipp, startSipp } from '@sipfleet/test-helpers/sipp';
import type { SippTransport } from '@sipfleet/test-helpers/sipp';
import type { CleanupOwner } from '@sipfleet/test-helpers/processes';

async function uasAndEdge(t: CleanupOwner, scenario: string, transport: SippTransport = 'udp') {
  const uasPort = await freePort();
  const uas = await startSipp({
    scenario,
    localPort: uasPort,
    transport,
    autoAnswer: true,
    owner: t,
  });
  const edge = await startEdge(t, {
    routing: {
      destination: `sip:127.0.0.1:${uasPort}${transport === 'tcp' ? ';transport=tcp' : ''}`,
    },
  });
  return { uas, edge, uasPort };
}

function assertAllSucceeded(stats: Awaited<ReturnType<typeof runSipp>>, calls: number): void {
  assert.equal(
    stats.failed,
    0,
    `failed calls: ${JSON.stringify(stats.failures)}\n${stats.errors.slice(0, 5).join('\n')}`,
  );
  assert.equal(stats.successful, calls);
}

describe('edge e2e with sipp', { concurrency: 1 }, () => {
  for (const transport of ['udp', 'tcp'] as const) {
    test(`INVITE/180/200/ACK/BYE over ${transport}, record-routed`, async (t) => {
      const { uas, edge } = await uasAndEdge(t, 'uas-call', transport);
      const calls = 40;
      const stats = await runSipp({
        scenario: 'uac-call',
        remote: { host: '127.0.0.1', port: edge.port },
        transport,
        service: 'bob',
        rate: 20,
        maxCalls: calls,
        callLengthMs: 100,
        owner: t,
      });
      assertAllSucceeded(stats, calls);
      const uasStats = await uas.stop();
      assert.equal(uasStats.successful, calls, 'the UAS completed every call too');
      // ACK and BYE went through the edge (they followed the Record-Route), not around it.
      assert.equal(await edge.metric('sipfleet_sip_requests_total', { method: 'BYE' }), calls);
      assert.equal(await edge.metric('sipfleet_sip_requests_total', { method: 'ACK' }), calls);
      assert.equal(await edge.metric('sipfleet_routing_hook_errors_total'), 0);
    });
  }

  test('CANCEL after 180: the UAS gets the CANCEL, the caller gets 487', async (t) => {
    const { uas, edge } = await uasAndEdge(t, 'uas-cancel');
    const stats = await runSipp({
      scenario: 'uac-cancel',
      remote: { host: '127.0.0.1', port: edge.port },
      service: 'bob',
      rate: 10,
      maxCalls: 10,
      owner: t,
    });
    assertAllSucceeded(stats, 10);
    assert.equal((await uas.stop()).successful, 10);
    assert.equal(await edge.metric('sipfleet_sip_requests_total', { method: 'CANCEL' }), 10);
  });

  test('486 Busy Here is relayed and ACKed hop by hop', async (t) => {
    const { uas, edge } = await uasAndEdge(t, 'uas-busy');
    const stats = await runSipp({
      scenario: 'uac-busy',
      remote: { host: '127.0.0.1', port: edge.port },
      service: 'bob',
      rate: 10,
      maxCalls: 10,
      owner: t,
    });
    assertAllSucceeded(stats, 10);
    assert.equal((await uas.stop()).successful, 10);
    assert.equal(await edge.metric('sipfleet_sip_responses_total', { class: '4xx' }), 10);
  });

  test('OPTIONS and MESSAGE are relayed to the UAS', async (t) => {
    const { uas, edge } = await uasAndEdge(t, 'uas-nonInvite');
    for (const scenario of ['uac-options', 'uac-message']) {
      const stats = await runSipp({
        scenario,
        remote: { host: '127.0.0.1', port: edge.port },
        service: 'bob',
        rate: 10,
        maxCalls: 10,
        owner: t,
      });
      assertAllSucceeded(stats, 10);
    }
    await uas.stop();
    assert.equal(await edge.metric('sipfleet_sip_requests_total', { method: 'MESSAGE' }), 10);
    assert.equal(await edge.metric('sipfleet_sip_requests_total', { method: 'OPTIONS' }), 10);
  });

  test('with 20% of datagrams from the edge to the UAS lost, every call completes', async (t) => {
    const uasPort = await freePort();
    const uas = await startSipp({
      scenario: 'uas-call',
      localPort: uasPort,
      autoAnswer: true,
      owner: t,
    });
    // Every 5th datagram towards the UAS is dropped: deterministic loss, recovered by the edge's
    // Timer A/E retransmissions (requests) and by the UAS's 200 retransmissions (ACK lost).
    const relay = await startLossyRelay(t, { target: uasPort, dropEvery: 5 });
    const edge = await startEdge(t, {
      routing: { destination: `sip:127.0.0.1:${relay.port}` },
      timers: { T1: 100, T2: 400, T4: 1000 },
    });
    const calls = 30;
    const stats = await runSipp({
      scenario: 'uac-call',
      remote: { host: '127.0.0.1', port: edge.port },
      service: 'bob',
      rate: 10,
      maxCalls: calls,
      callLengthMs: 100,
      owner: t,
    });
    assertAllSucceeded(stats, calls);
    assert.ok(relay.dropped > 0, 'the relay really dropped datagrams');
    assert.ok(
      (await edge.metric('sipfleet_sip_retransmissions_total', { kind: 'request' })) > 0,
      'the edge retransmitted',
    );
    await uas.stop();
  });
});
