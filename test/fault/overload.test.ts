// Issue 11 acceptance, and the hard cap on transactions in flight: an edge flooded far past what it holds degrades instead of collapsing. Two
// edges on one Redis and one dispatcher set (round-robin, two sipp UASes). One sipp floods edge A
// for a few seconds: edge A sheds part of the flood with 503 + Retry-After and answers the rest;
// edge B carries a steady modest rate with zero failed calls during and after the flood; once the
// flood stops, edge A leaves overload by itself and completes calls again with zero failures.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startEdge } from '@sipfleet/test-helpers/edge';
import type { EdgeHandle } from '@sipfleet/test-helpers/edge';
import { freePort } from '@sipfleet/test-helpers/ports';
import { DialogClient } from '@sipfleet/test-helpers/sip-dialog';
import { startRedis, uniquePrefix } from '@sipfleet/test-helpers/redis-server';
import { messageCount, runSipp, startSipp } from '@sipfleet/test-helpers/sipp';
import type { SippStats } from '@sipfleet/test-helpers/sipp';

/** Calls/s offered to edge A: about twice what one edge holds on a 2-core machine, for sipp. */
const FLOOD_RATE = 5000;
/** The flood lasts until edge A has shed this many new calls... */
const SHED_ENOUGH = 3000;
/** ...or this long at most. */
const FLOOD_MAX_MS = 15_000;
/** Edge B's steady rate, kept through the flood and after it. */
const STEADY_RATE = 50;
/** Edge A's transaction cap (overload.maxTransactions, its default). */
const MAX_TRANSACTIONS = 60_000;

function rssMb(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return Number(kb ?? 0) / 1024;
  } catch {
    return 0;
  }
}

/** The first call sipp aborted and why (its error log also lists harmless late messages). */
function firstAbort(stats: SippStats): string {
  return stats.errors.find((e) => e.includes('Aborting')) ?? '';
}

async function waitFor(what: string, check: () => Promise<boolean>, deadlineMs: number) {
  const until = Date.now() + deadlineMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`overload test: no ${what} within ${deadlineMs} ms`);
    await sleep(100);
  }
}

test('a flooded edge sheds with 503 + Retry-After, its neighbour keeps every call, and it recovers', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const dir = mkdtempSync(join(tmpdir(), 'sipfleet-overload-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const uris: string[] = [];
  for (let i = 0; i < 2; i++) {
    const port = await freePort();
    await startSipp({ scenario: 'uas-call', localPort: port, autoAnswer: true, owner: t });
    uris.push(`sip:127.0.0.1:${port}`);
  }
  const listFile = join(dir, 'dispatcher.list');
  writeFileSync(listFile, uris.map((u) => `1 ${u} 0 0`).join('\n') + '\n');
  const config = {
    redis: { url: redis.url, prefix: uniquePrefix() },
    dispatcher: { listFile },
    routing: { dispatcher: { set: 1, algorithm: 4 } },
    overload: { maxTransactions: MAX_TRANSACTIONS },
  };
  const a: EdgeHandle = await startEdge(t, config);
  const b: EdgeHandle = await startEdge(t, config);

  // Edge B's steady calls run through the whole flood and the recovery; stopped at the end.
  const steady = await startSipp({
    scenario: 'uac-call',
    remote: { host: '127.0.0.1', port: b.port },
    service: 'steady',
    rate: STEADY_RATE,
    callLengthMs: 0,
    owner: t,
  });
  let peakRss = 0;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssMb(a.process.pid))), 200);
  t.after(() => clearInterval(sampler));
  const flood = await startSipp({
    scenario: 'uac-call-or-503',
    remote: { host: '127.0.0.1', port: a.port },
    service: 'flood',
    rate: FLOOD_RATE,
    limit: FLOOD_RATE,
    callLengthMs: 0,
    // A call nobody answers ends after a few retransmissions instead of 32 s of Timer B, one
    // left without a final after 10 s fails: the flood stops in bounded time.
    maxRetrans: 3,
    recvTimeoutMs: 10_000,
    owner: t,
  });
  // Flood until edge A has shed a good part of it (or long enough to be sure it never would).
  const floodStart = Date.now();
  await waitFor(
    'shedding',
    async () =>
      (await a.metric('sipfleet_overload_shed_total')) >= SHED_ENOUGH ||
      Date.now() - floodStart > FLOOD_MAX_MS,
    FLOOD_MAX_MS + 10_000,
  );
  // SIGUSR1: sipp makes no new calls and exits once those in progress end (and prints the
  // scenario screen the 503 count comes from).
  const floodStats = await flood.stop(30_000);
  const floodEnded = Date.now();
  clearInterval(sampler);
  const shed503 = messageCount(floodStats, 'received', '503');
  const completed = floodStats.successful - shed503;
  const shedMetric = await a.metric('sipfleet_overload_shed_total');
  t.diagnostic(
    `flood: ${floodStats.callsCreated} calls offered at ${FLOOD_RATE}/s over ${floodEnded - floodStart} ms, ` +
      `completed ${completed}, shed with 503 ${shed503} (edge counted ${shedMetric}), ` +
      `failed ${floodStats.failed} (no answer or another final) ${firstAbort(floodStats)}; ` +
      `edge A peak RSS ${peakRss.toFixed(0)} MB`,
  );
  assert.ok(shed503 > 0, 'part of the flood was shed with 503 (each carried Retry-After)');
  assert.ok(completed > 0, 'and part of it was served');
  assert.ok(shedMetric >= shed503, 'the edge counted what it shed');
  assert.equal(a.process.exitStatus, undefined, 'edge A is still running');

  const failovers = await Promise.all(
    [a, b].map((e) => e.metric('sipfleet_dispatcher_failovers_total')),
  );
  const active = await Promise.all(
    [a, b].map((e) => e.metric('sipfleet_dispatcher_destination_active')),
  );
  t.diagnostic(
    `after the flood: destinations active (of 2) edge A ${active[0]}, edge B ${active[1]}; ` +
      `failovers edge A ${failovers[0]}, edge B ${failovers[1]}`,
  );
  // The flood is edge A's trouble, not the destinations': none is marked down fleet-wide (its
  // timeouts while its loop lagged are no evidence, docs/architecture.md "Failure").
  assert.deepEqual(active, [2, 2], 'both destinations stay active on both edges');
  // Edge A leaves overload by itself within a few seconds, then completes calls with zero
  // failures.
  await waitFor('recovery', async () => (await a.metric('sipfleet_overloaded')) === 0, 10_000);
  t.diagnostic(`edge A out of overload ${Date.now() - floodEnded} ms after the flood ended`);
  // The part of the flood it served lingers (timers.waitMs): a fast edge can serve enough of it
  // to fill its transaction table, and the cap sheds every new call until they expire. The calls
  // below (four transactions each) start when there is room for them.
  const room = MAX_TRANSACTIONS - 4 * STEADY_RATE * 2;
  await waitFor(
    'room in the transaction table',
    async () => (await a.metric('sipfleet_active_transactions')) < room,
    40_000,
  );
  t.diagnostic(`edge A has room for new calls ${Date.now() - floodEnded} ms after the flood ended`);
  const after = await runSipp({
    scenario: 'uac-call',
    remote: { host: '127.0.0.1', port: a.port },
    service: 'after',
    rate: STEADY_RATE,
    maxCalls: STEADY_RATE * 2,
    callLengthMs: 0,
    owner: t,
  });
  const neighbour = await steady.stop();
  t.diagnostic(
    `edge B: ${neighbour.successful} calls at ${STEADY_RATE}/s through the flood, failed ${neighbour.failed} ` +
      firstAbort(neighbour),
  );
  assert.equal(neighbour.failed, 0, `edge B during the flood: ${firstAbort(neighbour)}`);
  assert.ok(neighbour.successful > 0);
  assert.equal(after.failed, 0, `edge A after the flood: ${firstAbort(after)}`);
  assert.equal(after.successful, STEADY_RATE * 2);
});

test('at the transaction cap new calls get 503 while a call in progress ends normally', async (t) => {
  const uas = await startSipp({ scenario: 'uas-call', autoAnswer: true, owner: t });
  // Two live transactions at most, checked before a new request gets one: the first call's
  // server and client transactions linger 30 s, so the count cannot fall back below the cap by
  // itself while the test runs.
  const edge = await startEdge(t, {
    routing: { destination: `sip:${uas.address}` },
    timers: { waitMs: 30_000 },
    overload: { maxTransactions: 2 },
  });
  const client = await DialogClient.open();
  t.after(() => client.close());
  const call = await client.invite(edge.port);
  assert.equal(call.status, 200, 'the first call fits (its two transactions stay live)');
  client.ack(call, edge.port);
  const refused = await client.invite(edge.port);
  assert.equal(refused.status, 503, 'a new call past the cap is shed');
  assert.equal(await edge.metric('sipfleet_overload_shed_total', { reason: 'transactions' }), 1);
  assert.equal(await client.bye(call, edge.port), 200, 'the call in progress still ends');
  assert.equal(await edge.metric('sipfleet_overloaded'), 0, 'the cap is not the load signal');
});
