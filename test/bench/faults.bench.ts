// Overload as a fault: one edge routing through a dispatcher set (round-robin, two sipp UASes,
// Redis) is flooded for FLOOD_SECONDS at 1.5x and 5x the zero-failure rate, and at 1.5x with a
// slower and an all-or-nothing shed share (overload.step) to compare with the default. Per case: the
// load offered, calls completed, calls shed with 503 (each must carry Retry-After, see
// uac-call-or-503.xml), calls failed (no answer or another final), destinations wrongly marked
// down (both UASes are healthy, so every inactive one is), how long until the edge is out of
// overload and completes a batch of calls with zero failures again, and the edge's peak RSS.
//
// Redis faults and an edge crash under call load: two edges over two sipp UASes, a sipp UAC per
// edge calling at FAULT_RATE/s while standalone Redis is killed and restarted (algorithms 4 and
// 10), Sentinel fails over, or the Cluster master of {ds:1} is killed (algorithm 10); and kill -9
// of one edge holding RINGING_CALLS unanswered calls (algorithm 10: the other edge reclaims their
// slots through the fleet membership). Per case: the load offered, calls failed, requests refused
// with 503, destinations wrongly marked down, slots leaked (call-load counters minus live calls,
// 0, once every call ended), seconds from the fault until calls through every edge complete with
// zero failures again (the crash: until the slots are back), and the edges' peak RSS.
// Run: `node --import tsx test/bench/faults.bench.ts` (or `npm run bench`).
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { startEdge } from '@sipfleet/test-helpers/edge';
import type { EdgeHandle } from '@sipfleet/test-helpers/edge';
import { callLoads, startFleet, sum, untilCallsComplete } from '@sipfleet/test-helpers/fleet';
import {
  failoverClusterMaster,
  failoverSentinel,
  startCluster,
  startRedis,
  startSentinelSetup,
  uniquePrefix,
  waitFor,
} from '@sipfleet/test-helpers/redis-server';
import { DialogClient } from '@sipfleet/test-helpers/sip-dialog';
import { messageCount, startSipp } from '@sipfleet/test-helpers/sipp';
import { dispatcherWorld } from './dispatcher-world.js';
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
/** Calls per second through each edge during a Redis fault, each lasting CALL_MS. */
const FAULT_RATE = Number(process.env.BENCH_FAULT_RATE ?? 50);
const CALL_MS = 1000;
/** Seconds of load before the fault. */
const LEAD_SECONDS = 3;
/** Unanswered calls the crashed edge holds. */
const RINGING_CALLS = 50;

const secs = (ms: number | undefined) =>
  ms === undefined ? `not within ${RECOVERY_LIMIT_MS / 1000} s` : `${(ms / 1000).toFixed(1)} s`;

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
    if ((await edge.metric('sipfleet_overloaded')) === 0) {
      overloadOffMs = Date.now() - since;
      break;
    }
    await sleep(100);
  }
  if (overloadOffMs === undefined) return { overloadOffMs, callsOkMs: undefined };
  const callsOkMs = await untilCallsComplete([edge], owner, since, RECOVERY_LIMIT_MS, PROBE_CALLS);
  return { overloadOffMs, callsOkMs };
}

async function flood(
  label: string,
  factor: number,
  overload: Record<string, unknown>,
): Promise<string> {
  const owner = new Owner();
  try {
    const { redis, listFile, uris } = await dispatcherWorld(owner, 'faults-bench');
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

/** Samples the edges' RSS every 250 ms until stopped; returns the peak per edge (MB). */
function peakRss(edges: EdgeHandle[], owner: Owner): () => number[] {
  const peaks = edges.map((e) => rssMb(e.process.pid));
  const sampler = setInterval(() => {
    edges.forEach((e, i) => (peaks[i] = Math.max(peaks[i] ?? 0, rssMb(e.process.pid))));
  }, 250);
  owner.after(() => clearInterval(sampler));
  return () => {
    clearInterval(sampler);
    return peaks;
  };
}

/** Destinations some edge shows inactive (every UAS is healthy: each one is wrongly marked). */
async function wronglyMarked(edges: EdgeHandle[], uris: string[]): Promise<number> {
  const active = await Promise.all(
    edges.map((e) => e.metric('sipfleet_dispatcher_destination_active')),
  );
  return uris.length - Math.min(...active);
}

/** Call-load counters once the calls ended (live calls 0): waits up to 10 s for them to settle. */
async function leakedSlots(edge: EdgeHandle, uris: string[]): Promise<number> {
  let left = sum(await callLoads(edge, uris));
  const until = Date.now() + 10_000;
  while (left !== 0 && Date.now() < until) {
    await sleep(250);
    left = sum(await callLoads(edge, uris));
  }
  return left;
}

interface RedisUnderTest {
  url: string;
  /** Breaks Redis and resolves once the topology serves again (restarted, failed over). */
  fault(): Promise<void>;
  stop(): Promise<void>;
}

const TOPOLOGIES: Record<'restart' | 'sentinel' | 'cluster', () => Promise<RedisUnderTest>> = {
  restart: async () => {
    const redis = await startRedis();
    return {
      url: redis.url,
      fault: async () => {
        await redis.kill();
        await redis.restart();
      },
      stop: () => redis.stop(),
    };
  },
  sentinel: async () => {
    const sentinel = await startSentinelSetup();
    return {
      url: sentinel.url,
      fault: async () => void (await failoverSentinel(sentinel)),
      stop: () => sentinel.stop(),
    };
  },
  cluster: async () => {
    const cluster = await startCluster({ replicas: 1 });
    return {
      url: cluster.url,
      fault: async () => void (await failoverClusterMaster(cluster, '{ds:1}')),
      stop: () => cluster.stop(),
    };
  },
};

/** A Redis fault while a sipp UAC per edge calls at FAULT_RATE/s through the fleet. */
async function redisFault(
  label: string,
  algorithm: number,
  topology: keyof typeof TOPOLOGIES,
): Promise<string> {
  const owner = new Owner();
  try {
    const redis = await TOPOLOGIES[topology]();
    owner.after(() => redis.stop());
    const { edges, uris } = await startFleet(
      owner,
      redis.url,
      algorithm,
      ['uas-call', 'uas-call'],
      {
        config: { log: { level: 'error' } },
      },
    );
    const rss = peakRss(edges, owner);
    const loads = await Promise.all(
      edges.map((edge) =>
        startSipp({
          scenario: 'uac-call-or-503',
          remote: { host: '127.0.0.1', port: edge.port },
          service: 'load',
          rate: FAULT_RATE,
          callLengthMs: CALL_MS,
          maxRetrans: 3,
          recvTimeoutMs: 10_000,
          owner,
        }),
      ),
    );
    // A load profile: steady calls for LEAD_SECONDS, then the fault while they go on.
    await sleep(LEAD_SECONDS * 1000);
    const faultAt = Date.now();
    await redis.fault();
    for (const edge of edges) {
      await waitFor(
        `edge :${edge.port} ready`,
        async () => (await edge.admin('/readyz')).status === 200,
        RECOVERY_LIMIT_MS,
      ).catch(() => undefined);
    }
    const callsOkMs = await untilCallsComplete(edges, owner, faultAt, RECOVERY_LIMIT_MS);
    const stats = await Promise.all(loads.map((s) => s.stop(30_000)));
    const seconds = (Date.now() - faultAt) / 1000 + LEAD_SECONDS;
    const created = sum(stats.map((s) => s.callsCreated));
    const failed = sum(stats.map((s) => s.failed));
    const refused = sum(stats.map((s) => messageCount(s, 'received', '503')));
    const noRetryAfter = sum(stats.map((s) => s.failures.RegexpHdrNotFound ?? 0));
    const shedByEdges = sum(
      await Promise.all(edges.map((e) => e.metric('sipfleet_overload_shed_total'))),
    );
    const marked = await wronglyMarked(edges, uris);
    const leaked = await leakedSlots(edges[0] as EdgeHandle, uris);
    const peaks = rss();
    return (
      `${label}\n  offered ${FAULT_RATE * edges.length}/s (${created} calls in ${seconds.toFixed(0)} s, ${CALL_MS} ms each)` +
      `  failed ${failed} (${noRetryAfter} of them a 503 without Retry-After)  refused 503 ${refused} (overload shed ${shedByEdges})` +
      `\n  wrongly marked ${marked} of ${uris.length}  slots leaked ${leaked}  calls ok ${secs(callsOkMs)} after the fault` +
      `  peak rss ${peaks.map((p) => p.toFixed(0)).join(' / ')} MB`
    );
  } finally {
    await owner.close();
  }
}

/** kill -9 of an edge holding RINGING_CALLS unanswered calls; the other one reclaims their slots. */
async function edgeCrash(label: string): Promise<string> {
  const owner = new Owner();
  try {
    const redis = await startRedis();
    owner.after(() => redis.stop());
    const { edges, uris } = await startFleet(owner, redis.url, 10, ['uas-cancel', 'uas-cancel'], {
      config: { log: { level: 'error' } },
    });
    const [a, b] = edges as [EdgeHandle, EdgeHandle];
    const rss = peakRss(edges, owner);
    const client = await DialogClient.open();
    owner.after(() => client.close());
    // The UASes ring and never answer: each INVITE holds a slot until its edge dies.
    const ringing = Array.from({ length: RINGING_CALLS }, () =>
      client.invite(a.port).then(
        (d) => d.status,
        () => 0,
      ),
    );
    await waitFor(
      'every ringing call holds a slot',
      async () => sum(await callLoads(b, uris)) === RINGING_CALLS,
    );
    const killedAt = Date.now();
    await a.stop(); // SIGKILL
    let reclaimedMs: number | undefined;
    await waitFor(
      "the dead edge's slots are reclaimed",
      async () => sum(await callLoads(b, uris)) === 0,
      RECOVERY_LIMIT_MS,
    )
      .then(() => (reclaimedMs = Date.now() - killedAt))
      .catch(() => undefined);
    const unanswered = (await Promise.all(ringing)).filter((s) => s === 0).length;
    const leaked = sum(await callLoads(b, uris));
    const marked = await wronglyMarked([b], uris);
    const peaks = rss();
    return (
      `${label}\n  offered ${RINGING_CALLS} ringing calls through one edge  failed ${unanswered} (calls of the killed edge, no final answer)  refused 503 0` +
      `\n  wrongly marked ${marked} of ${uris.length}  slots leaked ${leaked}  slots back ${secs(reclaimedMs)} after kill -9` +
      `  peak rss ${peaks.map((p) => p.toFixed(0)).join(' / ')} MB`
    );
  } finally {
    await owner.close();
  }
}

console.log(
  `\n### Redis faults and an edge crash under call load: two edges, two sipp UASes, ${FAULT_RATE}/s through each edge\n`,
);
console.log('```');
const FAULTS: { label: string; run: (label: string) => Promise<string> }[] = [
  { label: 'Redis restart (no AOF), algorithm 4', run: (l) => redisFault(l, 4, 'restart') },
  { label: 'Redis restart (no AOF), algorithm 10', run: (l) => redisFault(l, 10, 'restart') },
  { label: 'Sentinel failover, algorithm 10', run: (l) => redisFault(l, 10, 'sentinel') },
  {
    label: 'Cluster master failover (the master of {ds:1}), algorithm 10',
    run: (l) => redisFault(l, 10, 'cluster'),
  },
  {
    label: `kill -9 of one edge with ${RINGING_CALLS} ringing calls, algorithm 10`,
    run: edgeCrash,
  },
];
for (const { label, run } of FAULTS) {
  try {
    console.log(await run(label));
  } catch (err) {
    console.log(`${label}  did not finish: ${(err as Error).message.split('\n')[0]}`);
  }
}
console.log('```');
