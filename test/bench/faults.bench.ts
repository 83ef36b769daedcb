// Overload as a fault: one edge routing through a dispatcher set (round-robin, two sipp UASes,
// Redis) is flooded for FLOOD_SECONDS at 1.5x and 5x the zero-failure rate, and at 1.5x with a
// slower and an all-or-nothing shed share (overload.step) to compare with the default. Per case: the
// load offered, calls completed, calls shed with 503 (each must carry Retry-After, see
// uac-call-or-503.xml), calls failed (no answer or another final), destinations wrongly marked
// down (both UASes are healthy, so every inactive one is), how long until the edge is out of
// overload and completes a batch of calls with zero failures again, and the edge's peak RSS.
// Run: `node --import tsx test/bench/faults.bench.ts` (or `npm run bench`).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startEdge } from '@sipfleet/test-helpers/edge';
import type { EdgeHandle } from '@sipfleet/test-helpers/edge';
import { freePort } from '@sipfleet/test-helpers/ports';
import { startRedis, uniquePrefix } from '@sipfleet/test-helpers/redis-server';
import { messageCount, runSipp, startSipp } from '@sipfleet/test-helpers/sipp';
import { Owner } from './ramp.js';

/** Highest zero-failure rate of one edge routing with algorithm 4 (fleet bench). */
const ZERO_FAILURE_RATE = Number(process.env.BENCH_ZERO_FAILURE_RATE ?? 1500);
/** Each case: a factor of the zero-failure rate and overload settings (default, or another step). */
const CASES: { label: string; factor: number; overload: Record<string, unknown> }[] = [
  { label: '1.5x', factor: 1.5, overload: {} },
  { label: '5x', factor: 5, overload: {} },
  { label: '1.5x, overload.step 0.1 (a slow share)', factor: 1.5, overload: { step: 0.1 } },
  { label: '1.5x, overload.step 1 (all or nothing)', factor: 1.5, overload: { step: 1 } },
];
const FLOOD_SECONDS = Number(process.env.BENCH_FLOOD_SECONDS ?? 10);
/** Recovery is measured with batches of this many calls at 50/s, up to RECOVERY_LIMIT_MS. */
const PROBE_CALLS = 50;
const RECOVERY_LIMIT_MS = 30_000;

function rssMb(pid: number | undefined): number {
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return Number(kb ?? 0) / 1024;
  } catch {
    return 0;
  }
}

/** Time until the edge is out of overload and a batch of calls completes with zero failures. */
async function recovery(edge: EdgeHandle, owner: Owner, since: number) {
  let overloadOffMs: number | undefined;
  while (Date.now() - since < RECOVERY_LIMIT_MS) {
    if (overloadOffMs === undefined) {
      if ((await edge.metric('sipfleet_overloaded')) === 0) overloadOffMs = Date.now() - since;
      else {
        await sleep(100);
        continue;
      }
    }
    const start = Date.now();
    const batch = await runSipp({
      scenario: 'uac-call',
      remote: { host: '127.0.0.1', port: edge.port },
      service: 'probe',
      rate: 50,
      maxCalls: PROBE_CALLS,
      callLengthMs: 0,
      maxRetrans: 3,
      recvTimeoutMs: 5000,
      owner,
      timeoutMs: 30_000,
    });
    if (batch.failed === 0) return { overloadOffMs, callsOkMs: start - since };
  }
  return { overloadOffMs, callsOkMs: undefined };
}

async function flood(
  label: string,
  factor: number,
  overload: Record<string, unknown>,
): Promise<string> {
  const owner = new Owner();
  try {
    const redis = await startRedis();
    owner.after(() => redis.stop());
    const dir = mkdtempSync(join(tmpdir(), 'sipfleet-faults-bench-'));
    owner.after(() => rmSync(dir, { recursive: true, force: true }));
    const uris: string[] = [];
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      await startSipp({ scenario: 'uas-call', localPort: port, autoAnswer: true, owner });
      uris.push(`sip:127.0.0.1:${port}`);
    }
    const listFile = join(dir, 'dispatcher.list');
    writeFileSync(listFile, uris.map((u) => `1 ${u} 0 0`).join('\n') + '\n');
    const edge = await startEdge(owner, {
      redis: { url: redis.url, prefix: uniquePrefix() },
      dispatcher: { listFile },
      routing: { dispatcher: { set: 1, algorithm: 4 } },
      overload,
      log: { level: 'error' },
    });
    const pid = edge.process.pid;
    let peakRss = rssMb(pid);
    let peakTransactions = 0;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, rssMb(pid));
      edge
        .metric('sipfleet_active_transactions')
        .then((n) => (peakTransactions = Math.max(peakTransactions, n)))
        .catch(() => undefined);
    }, 250);
    owner.after(() => clearInterval(sampler));

    const rate = Math.round(ZERO_FAILURE_RATE * factor);
    const sipp = await startSipp({
      scenario: 'uac-call-or-503',
      remote: { host: '127.0.0.1', port: edge.port },
      service: 'flood',
      rate,
      limit: rate * 2,
      callLengthMs: 0,
      // Unanswered calls end after a few retransmissions; none waits forever for a final.
      maxRetrans: 3,
      recvTimeoutMs: 10_000,
      owner,
    });
    // The flood is a load profile of a fixed length; then sipp makes no new calls (SIGUSR1) and
    // ends those in progress while recovery is measured.
    await sleep(FLOOD_SECONDS * 1000);
    const floodEnded = Date.now();
    const stopped = sipp.stop(30_000);
    const { overloadOffMs, callsOkMs } = await recovery(edge, owner, floodEnded);
    const stats = await stopped;
    clearInterval(sampler);
    const shed = messageCount(stats, 'received', '503');
    const active = await edge.metric('sipfleet_dispatcher_destination_active');
    const failovers = await edge.metric('sipfleet_dispatcher_failovers_total');
    const shedByEdge = await edge.metric('sipfleet_overload_shed_total');
    const seconds = FLOOD_SECONDS;
    const noAnswer = (stats.failures.MaxUDPRetrans ?? 0) + (stats.failures.TimeoutOnRecv ?? 0);
    const secs = (ms: number | undefined) =>
      ms === undefined ? `not within ${RECOVERY_LIMIT_MS / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
    return (
      `${label}\n  offered ${String(rate).padStart(5)}/s (sipp sent ${(stats.callsCreated / seconds).toFixed(0)}/s, ${stats.callsCreated} calls)` +
      `\n  completed ${String(stats.successful - shed).padStart(6)}  shed 503 ${String(shed).padStart(6)} (edge ${shedByEdge})` +
      `  failed ${String(stats.failed).padStart(6)} (${noAnswer} no answer, ${stats.failed - noAnswer} another final)  wrongly marked ${uris.length - active} of ${uris.length} (failovers ${failovers})` +
      `\n  overload off ${secs(overloadOffMs)}  calls ok ${secs(callsOkMs)}` +
      `  peak rss ${peakRss.toFixed(0)} MB  peak transactions ${peakTransactions}`
    );
  } finally {
    await owner.close();
  }
}

console.log(
  `### Overload: one edge, dispatcher algorithm 4 over two sipp UASes, flooded for ${FLOOD_SECONDS} s at 1.5x and 5x its zero-failure rate (${ZERO_FAILURE_RATE}/s)\n`,
);
console.log('```');
for (const { label, factor, overload } of CASES) {
  try {
    console.log(await flood(label, factor, overload));
  } catch (err) {
    console.log(`${label}  did not finish: ${(err as Error).message.split('\n')[0]}`);
  }
}
console.log('```');
