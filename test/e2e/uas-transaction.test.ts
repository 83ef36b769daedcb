// Foundation acceptance: "a sipp UAC talks to a tiny UAS built on the transaction layer over UDP and
// TCP, and every call completes". Real sipp, our scenarios, the real transport and transaction
// layers; afterwards every transaction must have ended through its timers (short T1/T4 here).
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { freePort } from '@sipfleet/test-helpers/ports';
import { type SippStats, type SippTransport, runSipp } from '@sipfleet/test-helpers/sipp';
import { DemoMediaServer } from '../../services/sipfleet/src/demo/media-server.js';

// Timer J / L / Timer H bounds are 64*T1 = 3.2 s, Timer I / K are T4 = 0.5 s.
const TIMERS = { T1: 50, T2: 400, T4: 500 };

function explain(stats: SippStats): string {
  return `${stats.errors.slice(0, 5).join('\n')}\n${stats.output.slice(-3000)}`;
}

/** Waits (bounded) for the UAS's transaction tables to empty: Timers J, L, I, K end them. */
async function drained(
  uas: DemoMediaServer,
  deadlineMs = 20_000,
): Promise<{ server: number; client: number }> {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    const counts = uas.transactions.counts;
    if (counts.server === 0 && counts.client === 0) return counts;
    await sleep(100);
  }
  return uas.transactions.counts;
}

async function startUas(
  t: { after(fn: () => unknown): void },
  ringMs = 0,
): Promise<DemoMediaServer> {
  const uas = await DemoMediaServer.start({ port: await freePort(), timers: TIMERS, ringMs });
  t.after(() => uas.close());
  return uas;
}

describe('sipp UAC -> tiny UAS on the transaction layer', () => {
  const plans: { transport: SippTransport; calls: number; rate: number }[] = [
    { transport: 'udp', calls: 200, rate: 50 },
    { transport: 'tcp', calls: 100, rate: 50 },
  ];
  for (const { transport, calls, rate } of plans) {
    test(`uac-call: ${calls} calls at ${rate} cps over ${transport}, every one completes`, async (t) => {
      const uas = await startUas(t);
      const stats = await runSipp({
        scenario: 'uac-call',
        remote: { host: '127.0.0.1', port: uas.port },
        transport,
        rate,
        maxCalls: calls,
        callLengthMs: 100,
        owner: t,
      });
      assert.equal(stats.callsCreated, calls, explain(stats));
      assert.equal(stats.successful, calls, explain(stats));
      assert.equal(stats.failed, 0, explain(stats));
      assert.equal(stats.unexpectedMessages, 0, explain(stats));
      assert.equal(uas.counters.invites, calls);
      assert.equal(uas.counters.acks, calls);
      assert.equal(uas.counters.byes, calls);
      assert.equal(uas.counters.parseErrors, 0);
      console.log(
        `# ${transport}: ${calls} calls, ${stats.retransmissions} retransmissions, ` +
          `mean INVITE->200 ${stats.responseTimesMs[0]?.toFixed(2)} ms`,
      );
      assert.deepEqual(await drained(uas), { server: 0, client: 0 });
    });
  }

  for (const transport of ['udp', 'tcp'] as const) {
    test(`uac-cancel over ${transport}: the layer answers CANCEL 200, the UAS the INVITE 487`, async (t) => {
      const uas = await startUas(t, 60_000); // rings until cancelled
      const stats = await runSipp({
        scenario: 'uac-cancel',
        remote: { host: '127.0.0.1', port: uas.port },
        transport,
        rate: 20,
        maxCalls: 20,
        owner: t,
      });
      assert.equal(stats.successful, 20, explain(stats));
      assert.equal(stats.failed, 0, explain(stats));
      assert.equal(uas.counters.cancelled, 20);
      assert.equal(uas.counters.answered, 0);
      assert.deepEqual(await drained(uas), { server: 0, client: 0 });
    });
  }

  test('uac-options and uac-message over udp get 200', async (t) => {
    const uas = await startUas(t);
    for (const scenario of ['uac-options', 'uac-message']) {
      const stats = await runSipp({
        scenario,
        remote: { host: '127.0.0.1', port: uas.port },
        rate: 20,
        maxCalls: 10,
        owner: t,
      });
      assert.equal(stats.successful, 10, explain(stats));
      assert.equal(stats.failed, 0, explain(stats));
    }
    assert.equal(uas.counters.options, 10);
    assert.equal(uas.counters.messages, 10);
    assert.deepEqual(await drained(uas), { server: 0, client: 0 });
  });
});
