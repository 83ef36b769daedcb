// Shared by the sipp-driven benches: a ramp of call rates through one proxy, with CPU, RSS and
// INVITE->200 percentiles per step.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { redisCli } from '@sipfleet/test-helpers/redis-server';
import { runSipp, startSipp } from '@sipfleet/test-helpers/sipp';
import type { SippStats } from '@sipfleet/test-helpers/sipp';
import { inDialog, invite } from '@sipfleet/test-helpers/stream-ua';
import type { StreamConnection } from '@sipfleet/test-helpers/stream-ua';

export const STEP_SECONDS = Number(process.env.BENCH_STEP_SECONDS ?? 10);
export const RATES = (process.env.BENCH_RATES ?? '500,1000,1500,2000,2400,2800,3200,3600,4000')
  .split(',')
  .map(Number);

/** Runs cleanup callbacks at the end, like a test's `after`. */
export class Owner {
  private readonly fns: (() => unknown)[] = [];
  after(fn: () => unknown): void {
    this.fns.push(fn);
  }
  async close(): Promise<void> {
    for (const fn of this.fns.reverse()) await fn();
  }
}

export interface Step {
  rate: number;
  stats: SippStats;
  achieved: number;
  /** Calls failed, and calls still unfinished STEP_SECONDS + 20 s after the start. */
  failed: number;
  /**
   * sipp had not ended STEP_SECONDS + 20 s after the start: the proxy fell behind the offered
   * rate, even when every call completed while sipp was being stopped.
   */
  unfinished: boolean;
  /** The proxy's CPU, % of one core. */
  cpu: number;
  /** The proxy's CPU time (user + system, all its processes) per completed call. */
  cpuPerCallUs: number;
  /** The kernel's part of cpuPerCallUs (stime: the socket syscalls, mostly). */
  sysPerCallUs: number;
  rssMb: number;
}

/** utime + stime of `pids`, in clock ticks (100 per second). */
export function cpuTicks(pids: number[]): number {
  const { user, system } = cpuTicksSplit(pids);
  return user + system;
}

/** utime and stime (the kernel's share: syscalls, softirqs) of `pids`, in clock ticks. */
function cpuTicksSplit(pids: number[]): { user: number; system: number } {
  let user = 0;
  let system = 0;
  for (const pid of pids) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      user += Number(fields[11]);
      system += Number(fields[12]);
    } catch {
      // process gone
    }
  }
  return { user, system };
}

function rssMb(pids: number[]): number {
  let kb = 0;
  for (const pid of pids) {
    try {
      kb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      // process gone
    }
  }
  return kb / 1024;
}

/** Percentile from sipp's ResponseTimeRepartition buckets (upper bound of the bucket). */
export function percentile(stats: SippStats, p: number): string {
  const buckets = Object.entries(stats.raw)
    .map(([k, v]) => ({ m: /^ResponseTimeRepartition1_(<|>=)(\d+)$/.exec(k), v: Number(v) }))
    .filter((b) => b.m !== null)
    .map((b) => ({ ge: b.m?.[1] === '>=', bound: Number(b.m?.[2]), count: b.v }))
    .sort((a, b) => Number(a.ge) - Number(b.ge) || a.bound - b.bound);
  const total = buckets.reduce((s, b) => s + b.count, 0);
  let seen = 0;
  for (const b of buckets) {
    seen += b.count;
    if (seen >= total * p) return b.ge ? `>=${b.bound} ms` : `<${b.bound} ms`;
  }
  return 'n/a';
}

/** Sums the counters of several sipp runs (one per proxy port) into one, buckets included. */
function mergeStats(all: SippStats[]): SippStats {
  const [first, ...rest] = all;
  if (first === undefined) throw new Error('mergeStats: no runs');
  const sum = { ...first, raw: { ...first.raw }, failures: { ...first.failures } };
  for (const s of rest) {
    sum.successful += s.successful;
    sum.failed += s.failed;
    sum.currentCalls += s.currentCalls;
    sum.retransmissions += s.retransmissions;
    for (const [k, v] of Object.entries(s.failures)) sum.failures[k] = (sum.failures[k] ?? 0) + v;
    for (const [k, v] of Object.entries(s.raw)) {
      if (k.startsWith('ResponseTimeRepartition'))
        sum.raw[k] = String(Number(sum.raw[k] ?? 0) + Number(v));
    }
  }
  return sum;
}

/**
 * One step: sipp's uac-call at `rate` for STEP_SECONDS through the proxy at `proxyPort`, with the
 * proxy's CPU (all of `pids`) and RSS. Several ports (one edge per core): one sipp UAC per port,
 * all at once, the rate split evenly between them.
 */
export async function step(
  name: string,
  proxyPort: number | readonly number[],
  pids: () => number[],
  rate: number,
): Promise<Step> {
  const owner = new Owner();
  const ports = typeof proxyPort === 'number' ? [proxyPort] : proxyPort;
  const each = Math.round(rate / ports.length);
  const ticks0 = cpuTicksSplit(pids());
  const t0 = performance.now();
  let stats: SippStats;
  let unfinished = false;
  try {
    const runs = await Promise.all(
      ports.map(async (port) => {
        const uac = await startSipp({
          scenario: 'uac-call',
          remote: { host: '127.0.0.1', port },
          service: 'bench',
          rate: each,
          maxCalls: each * STEP_SECONDS,
          limit: each * 4,
          callLengthMs: 0,
          owner,
        });
        // Past the limit calls pile up and sipp never ends by itself: stop it and count what is left.
        await uac.process.waitForExit(STEP_SECONDS * 1000 + 20_000).catch(() => {
          unfinished = true;
        });
        return uac.stop(2000);
      }),
    );
    stats = mergeStats(runs);
  } finally {
    await owner.close();
  }
  const seconds = (performance.now() - t0) / 1000;
  const ticks1 = cpuTicksSplit(pids());
  const cpuSeconds = (ticks1.user + ticks1.system - ticks0.user - ticks0.system) / 100;
  const sysSeconds = (ticks1.system - ticks0.system) / 100;
  const result: Step = {
    rate,
    stats,
    failed: stats.failed + stats.currentCalls,
    unfinished,
    achieved: stats.successful / seconds,
    cpu: (cpuSeconds / seconds) * 100,
    cpuPerCallUs: (cpuSeconds * 1e6) / Math.max(stats.successful, 1),
    sysPerCallUs: (sysSeconds * 1e6) / Math.max(stats.successful, 1),
    rssMb: rssMb(pids()),
  };
  console.log(
    `${name.padEnd(9)} offered ${String(rate).padStart(5)}/s  ok ${String(stats.successful).padStart(6)}` +
      `  failed ${String(result.failed).padStart(5)}${unfinished ? ' (unfinished)' : ''}  retrans ${String(stats.retransmissions).padStart(5)}` +
      `  achieved ${result.achieved.toFixed(0).padStart(5)}/s  p50 ${percentile(stats, 0.5)}` +
      `  p99 ${percentile(stats, 0.99)}  cpu ${result.cpu.toFixed(0)}%  ${result.cpuPerCallUs.toFixed(0)} µs/call (kernel ${result.sysPerCallUs.toFixed(0)})` +
      `  rss ${result.rssMb.toFixed(0)} MB`,
    result.failed > 0 ? `  why ${JSON.stringify(stats.failures)}` : '',
  );
  return result;
}

/** The step held its rate: no call failed and sipp ended in time. */
export function held(s: Step): boolean {
  return s.failed === 0 && !s.unfinished;
}

export async function ramp(
  name: string,
  proxyPort: number,
  pids: () => number[],
  rates: readonly number[] = RATES,
): Promise<Step[]> {
  const steps: Step[] = [];
  for (const rate of rates) {
    const result = await step(name, proxyPort, pids, rate);
    steps.push(result);
    if (!held(result)) break;
    await sleep(6000); // let finished transactions expire between steps
  }
  return steps;
}

export function best(steps: Step[]): Step | undefined {
  return steps.filter(held).at(-1);
}

/** Calls per command from Redis' INFO commandstats (commands run inside scripts included). */
export async function commandstats(port: number): Promise<Map<string, number>> {
  const text = await redisCli(port, 'INFO', 'commandstats');
  const stats = new Map<string, number>();
  for (const m of text.matchAll(/^cmdstat_([a-z|_-]+):calls=(\d+)/gm)) {
    stats.set(m[1] ?? '', Number(m[2]));
  }
  return stats;
}

/** Commands per call between two commandstats snapshots, most frequent first (>= 0.001). */
export function commandsPerCall(
  before: Map<string, number>,
  after: Map<string, number>,
  calls: number,
): (readonly [string, number])[] {
  return [...after.entries()]
    .map(([cmd, n]) => [cmd, (n - (before.get(cmd) ?? 0)) / Math.max(calls, 1)] as const)
    .filter(([, n]) => n >= 0.001)
    .sort((a, b) => b[1] - a[1]);
}

/** `set 1.000, get 1.000` (or `none`). */
export function formatPerCall(perCall: readonly (readonly [string, number])[]): string {
  return perCall.map(([cmd, n]) => `${cmd} ${n.toFixed(3)}`).join(', ') || 'none';
}

/** One closed-loop run (tls and wss benches): calls made by one kind of caller. */
export interface Row {
  caller: string;
  calls: number;
  failed: number;
  seconds: number;
  cpuMs: number;
}

/** Runs `work` and measures wall time and the edge's CPU (ms) over it. */
export async function measured<T>(pid: number, work: () => Promise<T>) {
  const ticks0 = cpuTicks([pid]);
  const t0 = performance.now();
  const result = await work();
  return {
    result,
    seconds: (performance.now() - t0) / 1000,
    cpuMs: (cpuTicks([pid]) - ticks0) * 10,
  };
}

/** One call at a time on `conn` until `left` runs out; returns the failed count. */
export async function callLoop(
  conn: StreamConnection,
  port: number,
  transport: 'tcp' | 'tls' | 'ws' | 'wss',
  left: { n: number },
): Promise<number> {
  let failed = 0;
  while (left.n > 0) {
    left.n--;
    const inv = invite({
      ruri: `sip:bob@127.0.0.1:${port}`,
      transport,
      localPort: conn.localPort,
      contact: `<sip:alice@127.0.0.1:${conn.localPort};transport=${transport}>`,
    });
    conn.send(inv.text);
    try {
      const ok = await conn.final('INVITE', inv.callId);
      if (ok.status !== 200) throw new Error(`INVITE answered ${ok.status}`);
      const routes = [...ok.getHeaders('record-route')].reverse();
      conn.send(inDialog(inv, ok, 'ACK', 1, routes, conn.localPort));
      conn.send(inDialog(inv, ok, 'BYE', 2, routes, conn.localPort));
      if ((await conn.final('BYE', inv.callId)).status !== 200) throw new Error('BYE failed');
    } catch {
      failed++; // counted; the connection goes on with the next call
    }
  }
  return failed;
}

/** `calls` calls by sipp, `inFlight` at a time (its -l), as fast as the edge takes them. */
export async function sippCalls(
  owner: Owner,
  pid: number,
  port: number,
  transport: 'udp' | 'tcp',
  calls: number,
  inFlight: number,
): Promise<Row> {
  const { result, seconds, cpuMs } = await measured(pid, () =>
    runSipp({
      scenario: 'uac-call',
      remote: { host: '127.0.0.1', port },
      transport,
      service: 'bob',
      rate: 5000,
      limit: inFlight,
      maxCalls: calls,
      callLengthMs: 0,
      owner,
      timeoutMs: 300_000,
    }),
  );
  return {
    caller: `${transport} (sipp, ${inFlight} calls in flight${transport === 'tcp' ? ', 1 connection' : ''})`,
    calls,
    failed: result.failed + (calls - result.successful - result.failed),
    seconds,
    cpuMs,
  };
}
