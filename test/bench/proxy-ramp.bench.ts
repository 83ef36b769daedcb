// Side by side, in one run on the same cores: sipp UAC → proxy → two sipp UASes, INVITE/180/200/
// ACK/BYE/200 over UDP, record-routed, stateful, dispatcher round-robin with failover and the
// maintenance flag checked. The proxies: Kamailio with the project's anchor configuration
// (test/bench/kamailio/anchor.cfg, a verbatim copy of shared/anchors/kamailio; `-m 1024 -M 32`,
// 4 children) when it is installed, and one sipfleet edge with Redis routing by dispatcher
// algorithm 4 (round-robin, one INCRBY per 100 calls for its lease of counter positions) and
// algorithm 10 (call load: reserves, confirms and releases gathered, 0.3–0.4 EVALSHA per call),
// and two alg-4 edges of one fleet (one process per core, each with its own sipp UAC at half the
// rate) for what the second core adds. And the floor (udp-floor.mjs): a bare node:dgram relay that
// does no SIP work, the least any Node.js proxy can cost per call here (in the pairs; in the ramp
// only when BENCH_PROXIES names it).
// Every step is run twice, interleaved (rate r: Kamailio, alg 4, alg 10, then again), each with a
// fresh proxy and fresh UASes (warmed up over BENCH_WARMUP_SECONDS, 30 by default, climbing to
// the step's rate, not measured), so a melted step cannot poison the next one and the other jobs
// on the machine hit every proxy alike. A proxy climbs to the next rate while both runs at this
// one had zero failures. Per run: CPU per completed call (the proxy's own, all its processes, from
// /proc), INVITE→200 p50/p99, RSS. Then one more run of the alg-4 edge at its highest zero-failure
// rate under `node --cpu-prof`, broken down per call (cpu-profile.ts). Before that, pairs of
// proxies measured at the same time (BENCH_PAIRS): sequential runs on this shared host move by
// ±15%, so a ratio of two proxies taken at once is the steadier figure.
// Run: `node --import tsx test/bench/proxy-ramp.bench.ts` (or `npm run bench`);
// BENCH_RATES, BENCH_STEP_SECONDS, BENCH_PROXIES (e.g. "kamailio,alg 4") narrow it.
import { spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { startEdge } from '@sipfleet/test-helpers/edge';
import type { EdgeHandle } from '@sipfleet/test-helpers/edge';
import { freePort } from '@sipfleet/test-helpers/ports';
import { spawnTracked } from '@sipfleet/test-helpers/processes';
import { startRedis, uniquePrefix } from '@sipfleet/test-helpers/redis-server';
import { runSipp, startSipp } from '@sipfleet/test-helpers/sipp';
import { breakdown } from './cpu-profile.js';
import { perfShares } from './perf-profile.js';
import { held, Owner, percentile, STEP_SECONDS, step } from './ramp.js';
import type { Step } from './ramp.js';

/**
 * Steps of 150 calls/s up to 2,400: with steps of 300 the 2026-12-02 steady-state ramp read 1.50×
 * Kamailio's rate where one step in between each gave 1.44× (docs/benchmarks.md, session 9). Up to
 * 5,000 past that: on session 10's host one edge held 3,600 and Kamailio 4,500, so a ramp that
 * stopped at 3,000 read both as 3,000. A proxy stops climbing at its first failed step.
 */
const RATES = (
  process.env.BENCH_RATES ??
  '1200,1350,1500,1650,1800,1950,2100,2250,2400,2700,3000,3300,3600,4000,4500,5000'
)
  .split(',')
  .map(Number);
const REPEATS = 2;
/**
 * Every run warms up this long before it is measured, to compare steady states: an edge that
 * runs for hours has compiled its rarer paths too (the Redis client's, which alg 10 runs a few
 * hundred times a second; after 4 s their compiling lands in the measured step, perf: JIT 46
 * against 21 µs per call), and Kamailio's CPU per call keeps falling for tens of seconds (its
 * kernel time per call by a quarter over its first 40 s). On session 9's host the 4 s used before
 * 2026-12-02 put alg 4 at 0.68–0.77× Kamailio's CPU per call, and steady state at 0.86–0.99×
 * (docs/benchmarks.md; the ratio depends on the host). Pairs warm up for PAIR_WARMUP_SECONDS.
 */
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 30);
const PAIR_WARMUP_SECONDS = Number(process.env.BENCH_PAIR_WARMUP_SECONDS ?? 40);
const ANCHOR = fileURLToPath(new URL('./kamailio/anchor.cfg', import.meta.url));

interface Running {
  /** Where the UAC sends; several ports get one sipp UAC each (the rate split between them). */
  port: number | number[];
  pids: () => number[];
}
interface Proxy {
  name: string;
  /** Starts the proxy in front of the UASes at `uris`; stopped when `owner` closes. */
  start(owner: Owner, uris: string[], dir: string): Promise<Running>;
}

/**
 * Whether `command` runs here; as root, installs the Debian `pkg` first when it does not (the
 * bench says so), else the caller skips what needs it.
 */
function available(command: string, pkg: string, why: string): boolean {
  const has = () =>
    spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
  if (has()) return true;
  if (process.getuid?.() !== 0) return false;
  console.log(`installing ${command} for ${why} (apt-get install ${pkg})...`);
  spawnSync('apt-get', ['install', '-y', '-qq', pkg], {
    stdio: 'ignore',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  return has();
}

/** The anchor's destination list format (Kamailio dispatcher list_file), for both proxies. */
function writeList(dir: string, uris: string[]): string {
  const file = join(dir, `dispatcher-${Date.now()}.list`);
  const ids = 'abcdefgh';
  writeFileSync(file, uris.map((u, i) => `1 ${u} 0 0 duid=${ids[i]};maxload=100000\n`).join(''));
  return file;
}

/**
 * Ready once it answers an in-dialog OPTIONS that matches no dialog (the anchor answers it
 * statelessly, "404 Not here"; nothing reaches a UAS).
 */
async function untilAnswers(port: number, deadlineMs = 15_000): Promise<void> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const local = socket.address().port;
  const answered = new Promise<void>((resolve) => socket.once('message', () => resolve()));
  const deadline = Date.now() + deadlineMs;
  try {
    for (let i = 0; ; i++) {
      const msg =
        `OPTIONS sip:ready@127.0.0.1:${port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bKready${i}\r\n` +
        `From: <sip:bench@127.0.0.1>;tag=a\r\nTo: <sip:ready@127.0.0.1>;tag=b\r\nCall-ID: ready-${local}\r\n` +
        `CSeq: ${i + 1} OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`;
      socket.send(msg, port, '127.0.0.1');
      const done = await Promise.race([answered.then(() => true), sleep(200).then(() => false)]);
      if (done) return;
      if (Date.now() > deadline) throw new Error(`nothing answers on :${port}`);
    }
  } finally {
    socket.close();
  }
}

const kamailio: Proxy = {
  name: 'kamailio',
  async start(owner, uris, dir) {
    const port = await freePort();
    const cfg = join(dir, `kamailio-${port}.cfg`);
    writeFileSync(
      cfg,
      readFileSync(ANCHOR, 'utf8')
        .replace('listen=udp:127.0.0.1:5070', `listen=udp:127.0.0.1:${port}`)
        .replace('"DSLIST"', `"${writeList(dir, uris)}"`)
        .replace('unix:/tmp/kamailio_anchor_ctl', `unix:${join(dir, `ctl-${port}`)}`),
    );
    const kam = spawnTracked(
      'kamailio',
      ['-f', cfg, '-DD', '-E', '-m', '1024', '-M', '32', '-w', dir, '-P', join(dir, `${port}.pid`)],
      { name: 'kamailio' },
    );
    owner.after(() => kam.stop());
    await untilAnswers(port).catch((err: Error) => {
      throw new Error(`${err.message}; kamailio:\n${kam.output()}`);
    });
    const pids = () => {
      const out = spawnSync('pgrep', ['-P', String(kam.pid)], { encoding: 'utf8' }).stdout;
      return [kam.pid ?? 0, ...out.split('\n').filter(Boolean).map(Number)];
    };
    return { port, pids };
  },
};

const FLOOR = fileURLToPath(new URL('./udp-floor.mjs', import.meta.url));

/**
 * The floor (udp-floor.mjs): a bare node:dgram relay to the first UAS, no SIP at all. What any
 * Node.js proxy costs at least on this job; not a proxy (no 100 Trying, no failover).
 */
const floor: Proxy = {
  name: 'floor',
  async start(owner, uris) {
    const port = await freePort();
    const uas = Number(uris[0]?.split(':').at(-1));
    const relay = spawnTracked(process.execPath, [FLOOR, String(port), String(uas)], {
      name: 'floor',
    });
    owner.after(() => relay.stop());
    await untilAnswers(port);
    return { port, pids: () => [relay.pid ?? 0] };
  },
};

/** The side-by-side edge's config: dispatcher `algorithm` on set 1 with Redis, as the anchor. */
function edgeConfig(
  algorithm: number,
  redisUrl: string,
  prefix: string,
  listFile: string,
  callLoadPick?: 'reserve',
) {
  return {
    redis: { url: redisUrl, prefix },
    dispatcher: { listFile, ...(callLoadPick === undefined ? {} : { callLoadPick }) },
    // The anchor leaves tm's fr_timer at its 30 s default; the edge's dispatcher route fails
    // over after 2 s by default, which on a loaded host re-sends INVITEs to the other UAS
    // while the first is merely slow, and the two answers then strand calls.
    routing: { dispatcher: { set: 1, algorithm, frTimerMs: 30_000 } },
    log: { level: 'error' },
    shutdown: { drainTimeoutMs: 0 },
    // The anchor sheds nothing (no pike, no ratelimit), so neither does the edge here; on a
    // shared host the loop-delay signal also trips on the other jobs' load, not the edge's.
    overload: { enabled: false },
  };
}

/**
 * One edge; `callLoadPick: 'reserve'` ("alg 10 reserve") makes every alg-10 INVITE wait for the
 * atomic reserve, as before the edge picked on its own.
 */
function edge(
  algorithm: number,
  redisUrl: string,
  nodeArgs: string[] = [],
  base?: string,
  callLoadPick?: 'reserve',
): Proxy {
  return {
    name: `${base === undefined ? '' : 'base '}alg ${algorithm}${callLoadPick === undefined ? '' : ` ${callLoadPick}`}`,
    async start(owner, uris, dir) {
      const handle = await startEdge(
        owner,
        edgeConfig(algorithm, redisUrl, uniquePrefix(), writeList(dir, uris), callLoadPick),
        {},
        { nodeArgs, ...(base === undefined ? {} : { bin: base }) },
      );
      // A graceful stop first, so that a profiled edge writes its profile (SIGKILL comes after).
      owner.after(() => handle.process.stop({ signal: 'SIGTERM', graceMs: 10_000 }));
      const pid = handle.process.pid ?? 0;
      return { port: handle.port, pids: () => [pid] };
    },
  };
}

/**
 * `count` alg-4 edges on this host (one process per core, as `sipfleet up --edges auto`), one
 * fleet: same Redis prefix, so the round-robin counter and the maintenance flag are shared.
 * Each edge gets its own sipp UAC (a caller picks one edge of the fleet's name), so the rate
 * per added core is what the host gains from the second process.
 */
function edges(count: number, redisUrl: string): Proxy {
  return {
    name: `alg 4x${count}`,
    async start(owner, uris, dir) {
      const prefix = uniquePrefix();
      const list = writeList(dir, uris);
      const handles: EdgeHandle[] = [];
      for (let i = 0; i < count; i++) {
        const handle = await startEdge(owner, edgeConfig(4, redisUrl, prefix, list));
        owner.after(() => handle.process.stop({ signal: 'SIGTERM', graceMs: 10_000 }));
        handles.push(handle);
      }
      return {
        port: handles.map((h) => h.port),
        pids: () => handles.map((h) => h.process.pid ?? 0),
      };
    },
  };
}

/** The monotonic clock of `node --cpu-prof` timestamps, µs. */
const nowUs = () => Number(process.hrtime.bigint() / 1000n);

/** One run: fresh UASes, a fresh proxy, one step; `window` is when the step ran. */
async function run(
  proxy: Proxy,
  rate: number,
  dir: string,
  label = proxy.name,
  /** Called as the measured step starts, with the proxy's pids; its result awaited after it. */
  measure?: (pids: number[], owner: Owner) => () => Promise<unknown>,
): Promise<Step & { window: { fromUs: number; toUs: number } }> {
  const owner = new Owner();
  try {
    const { port, pids } = await warmedUp(proxy, rate, dir, owner);
    const fromUs = nowUs();
    const finish = measure?.(pids(), owner);
    const result = await step(label, port, pids, rate);
    await finish?.();
    return { ...result, window: { fromUs, toUs: nowUs() } };
  } finally {
    await owner.close();
  }
}

/** Fresh UASes and a fresh `proxy` in front of them (stopped with `owner`), warmed up to `rate`. */
async function warmedUp(
  proxy: Proxy,
  rate: number,
  dir: string,
  owner: Owner,
  warmupSeconds = WARMUP_SECONDS,
): Promise<Running> {
  const uris: string[] = [];
  for (let i = 0; i < 2; i++) {
    const port = await freePort();
    await startSipp({ scenario: 'uas-call', localPort: port, autoAnswer: true, owner });
    uris.push(`sip:127.0.0.1:${port}`);
  }
  const { port, pids } = await proxy.start(owner, uris, dir);
  // Warm up first (the edge's JIT compiles its hot path in the first seconds; Kamailio has none
  // to do), so the measured step is the steady state at this rate. The warm-up climbs to the
  // rate in `warmupSeconds` steps of a second (a thirtieth of it more each second with the
  // default 30) instead of starting at it: a cold edge hit at once with the full rate near its
  // ceiling falls behind, and the UASes' 200 retransmissions of the calls that warm-up left
  // unfinished then run on into the measured step, which measures that instead of the rate.
  const ports = typeof port === 'number' ? [port] : port;
  const each = Math.round(rate / ports.length);
  const stepUp = Math.max(1, Math.round(each / warmupSeconds));
  await Promise.all(
    ports.map(
      (p) =>
        runSipp({
          scenario: 'uac-call',
          remote: { host: '127.0.0.1', port: p },
          service: 'warmup',
          rate: stepUp,
          extraArgs: ['-rate_increase', String(stepUp), '-rate_max', String(each), '-no_rate_quit'],
          // 1/n + 2/n + ... + n/n seconds of the full rate
          maxCalls: Math.round((each * (warmupSeconds + 1)) / 2),
          limit: each * 4,
          callLengthMs: 0,
          timeoutMs: warmupSeconds * 1000 + 20_000,
        }).catch(() => undefined), // a warm-up that overloads shows in the measured step anyway
    ),
  );
  return { port, pids };
}

/**
 * `a` and `b` measured at the same time, each at `rate` with its own sipp UAC and UASes, so both
 * see the same host (the other tenants' load moves sequential runs by ±15% here): CPU per call
 * of `a` over `b`, `repeats` times with fresh processes.
 */
async function paired(a: Proxy, b: Proxy, rate: number, dir: string, repeats: number) {
  const ratios: number[] = [];
  for (let rep = 0; rep < repeats; rep++) {
    const owner = new Owner();
    try {
      const [ra, rb] = await Promise.all(
        [a, b].map((p) => warmedUp(p, rate, dir, owner, PAIR_WARMUP_SECONDS)),
      );
      if (ra === undefined || rb === undefined) continue;
      const [sa, sb] = await Promise.all([
        step(`${a.name}*`, ra.port, ra.pids, rate),
        step(`${b.name}*`, rb.port, rb.pids, rate),
      ]);
      if (sa === undefined || sb === undefined || !held(sa) || !held(sb)) continue;
      ratios.push(sa.cpuPerCallUs / sb.cpuPerCallUs);
    } finally {
      await owner.close();
    }
  }
  return ratios.sort((x, y) => x - y);
}

const us = (x: number | undefined) => (x === undefined ? '-' : `${x.toFixed(0)} µs`);

async function main(): Promise<void> {
  const owner = new Owner();
  try {
    const redis = await startRedis();
    owner.after(() => redis.stop());
    const dir = mkdtempSync(join(tmpdir(), 'sipfleet-side-by-side-'));
    owner.after(() => rmSync(dir, { recursive: true, force: true }));
    const only = process.env.BENCH_PROXIES?.split(',');
    // BENCH_BASE_BIN: another checkout's built services/sipfleet/bin/sipfleet.js, for pairs such
    // as "alg 4/base alg 4" (a change measured against the commit before it, at the same time)
    const baseline = process.env.BENCH_BASE_BIN === undefined ? [] : [4, 10];
    const all = [
      ...(available('kamailio', 'kamailio', 'the comparison') ? [kamailio] : []),
      edge(4, redis.url),
      edge(10, redis.url),
      edge(10, redis.url, [], undefined, 'reserve'),
      edges(2, redis.url),
      floor,
      ...baseline.map((alg) => edge(alg, redis.url, [], process.env.BENCH_BASE_BIN)),
    ];
    // The floor, alg 10 reserve and the baseline edges are for the pairs; the ramp takes them
    // only when named.
    const proxies = all.filter((p) =>
      only === undefined
        ? p !== floor && !p.name.startsWith('base ') && p.name !== 'alg 10 reserve'
        : only.includes(p.name),
    );
    if (!proxies.includes(kamailio) && only?.includes('kamailio') !== false) {
      console.log('kamailio not available: comparison skipped (apt-get install kamailio)\n');
    }
    console.log(
      `## Side by side: sipp → proxy → 2 sipp UASes, record-routed, stateful, dispatcher (round-robin with failover, maintenance check), UDP, each step twice, interleaved\n`,
    );
    console.log('```');
    const results = new Map<string, Map<number, Step[]>>(proxies.map((p) => [p.name, new Map()]));
    let climbing = [...proxies];
    for (const rate of RATES) {
      if (climbing.length === 0) break;
      for (let rep = 0; rep < REPEATS; rep++) {
        for (const proxy of climbing) {
          const result = await run(proxy, rate, dir);
          const mine = results.get(proxy.name);
          mine?.set(rate, [...(mine.get(rate) ?? []), result]);
        }
      }
      climbing = climbing.filter((p) => {
        const runs = results.get(p.name)?.get(rate) ?? [];
        return runs.length === REPEATS && runs.every(held);
      });
    }
    console.log('```\n');

    const highestHeld = (name: string) => {
      const byRate = results.get(name) ?? new Map<number, Step[]>();
      return [...byRate.entries()]
        .filter(([, runs]) => runs.length === REPEATS && runs.every(held))
        .map(([rate]) => rate)
        .at(-1);
    };
    const cpuAt = (name: string, rate: number) => {
      const runs = results.get(name)?.get(rate);
      // the lower of the two runs: the other jobs on the host only ever add CPU time per call
      return runs === undefined ? undefined : Math.min(...runs.map((r) => r.cpuPerCallUs));
    };
    console.log(
      '| proxy | highest zero-failure calls/s (both runs) | CPU per call there, kernel part (runs) | INVITE→200 p50 / p99 | RSS |',
    );
    console.log('| --- | --- | --- | --- | --- |');
    for (const p of proxies) {
      const top = highestHeld(p.name);
      const runs = top === undefined ? [] : (results.get(p.name)?.get(top) ?? []);
      console.log(
        `| ${p.name} | ${top ?? 'none'} | ${runs.map((r) => `${us(r.cpuPerCallUs)} (kernel ${us(r.sysPerCallUs)})`).join(', ') || '-'} | ` +
          `${runs.map((r) => `${percentile(r.stats, 0.5)} / ${percentile(r.stats, 0.99)}`).join(', ') || '-'} | ` +
          `${runs.map((r) => `${r.rssMb.toFixed(0)} MB`).join(', ') || '-'} |`,
      );
    }
    if (proxies.includes(kamailio)) {
      // CPU per call compared at Kamailio's highest zero-failure rate, else at the first rate.
      const kam = highestHeld('kamailio');
      const at = kam ?? RATES[0] ?? 0;
      const where =
        kam !== undefined ? "Kamailio's highest zero-failure rate" : 'Kamailio held none';
      console.log('');
      for (const p of proxies.filter((x) => x !== kamailio)) {
        const mine = highestHeld(p.name);
        const a = cpuAt(p.name, at);
        const b = cpuAt('kamailio', at);
        console.log(
          `${p === floor ? p.name : `sipfleet ${p.name}`} / Kamailio: CPU per call at ${at}/s (${where}) ` +
            `${a !== undefined && b !== undefined ? `${(a / b).toFixed(2)} (${us(a)} / ${us(b)})` : '-'}; ` +
            `highest zero-failure rate ${mine !== undefined && kam !== undefined ? `${(mine / kam).toFixed(2)} (${mine} / ${kam})` : `${mine ?? 'none'} / ${kam ?? 'none'}`}`,
        );
      }
    }
    const one = highestHeld('alg 4');
    const two = highestHeld('alg 4x2');
    if (proxies.some((p) => p.name === 'alg 4x2')) {
      console.log(
        `\nUsing every core: one alg-4 edge held ${one ?? 'none'} calls/s, two (one per core) ` +
          `${two ?? 'none'}; ${one !== undefined && two !== undefined ? `${two - one}` : '-'} calls/s ` +
          `for the added core (${one !== undefined && two !== undefined ? `${(two / one).toFixed(2)}×` : '-'}), ` +
          `sipp's UAC and UASes on the same ${availableParallelism()} cores`,
      );
    }
    await pairs(all, dir);
    // BENCH_PROFILE_RATE profiles at that rate (with BENCH_PROXIES=none: the profile alone).
    // BENCH_PROFILE_ALG picks the dispatcher algorithm profiled (4 unless set, e.g. 10).
    const profileRate = Number(process.env.BENCH_PROFILE_RATE ?? highestHeld('alg 4'));
    const profileAlg = Number(process.env.BENCH_PROFILE_ALG ?? 4);
    if (profileRate > 0) {
      await profiled(profileAlg, profileRate, redis.url, dir);
      await perfProfiled(profileAlg, profileRate, redis.url, dir);
    }
  } finally {
    await owner.close();
  }
}

/**
 * BENCH_PAIRS (default "alg 10/alg 4,alg 10/alg 10 reserve,alg 4/kamailio,floor/kamailio"; "none" for none): each
 * pair measured at the same time, BENCH_PAIR_RATE calls/s each (600), BENCH_PAIR_REPEATS times (3), after a
 * warm-up of BENCH_PAIR_WARMUP_SECONDS (40).
 */
async function pairs(all: Proxy[], dir: string): Promise<void> {
  const spec =
    process.env.BENCH_PAIRS ?? 'alg 10/alg 4,alg 10/alg 10 reserve,alg 4/kamailio,floor/kamailio';
  const rate = Number(process.env.BENCH_PAIR_RATE ?? 600);
  const repeats = Number(process.env.BENCH_PAIR_REPEATS ?? 3);
  const found = spec
    .split(',')
    .map((pair) => pair.split('/').map((name) => all.find((p) => p.name === name)))
    .filter((pair): pair is [Proxy, Proxy] => pair.length === 2 && pair.every(Boolean));
  if (found.length === 0) return;
  console.log(
    `\n## Paired: two proxies at the same time, ${rate} calls/s each with its own sipp (same host load for both), after ${PAIR_WARMUP_SECONDS} s of warm-up; CPU per call of the first over the second\n`,
  );
  console.log('```');
  const lines: string[] = [];
  for (const [a, b] of found) {
    const ratios = await paired(a, b, rate, dir, repeats);
    const median = ratios[Math.floor(ratios.length / 2)];
    lines.push(
      `${a.name} / ${b.name}: ${ratios.map((r) => r.toFixed(2)).join(', ') || '-'}` +
        ` (median ${median === undefined ? '-' : median.toFixed(2)}; ${ratios.length} of ${repeats} runs with no failed call)`,
    );
  }
  console.log('```\n');
  for (const line of lines) console.log(`- ${line}`);
}

/** One more run of an `alg` edge under `node --cpu-prof`, broken down per call. */
async function profiled(alg: number, rate: number, redisUrl: string, dir: string): Promise<void> {
  const profDir = join(dir, 'cpu-prof');
  const result = await run(
    edge(alg, redisUrl, ['--cpu-prof', `--cpu-prof-dir=${profDir}`]),
    rate,
    dir,
    `alg ${alg} prof`,
  );
  const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
  if (file === undefined) {
    console.log('\nprofiled run: no profile written');
    return;
  }
  const b = breakdown(join(profDir, file), result.window, result.stats.successful);
  console.log(
    `\n### CPU profile of the alg-${alg} edge at ${rate} calls/s (node --cpu-prof, main thread), per completed call\n`,
  );
  console.log(
    `${result.stats.successful} calls, ${result.failed} failed; process CPU (all threads, kernel included) ${us(result.cpuPerCallUs)} per call, main thread sampled ${us(b.totalUs)}\n`,
  );
  console.log('| category | µs per call | share |');
  console.log('| --- | --- | --- |');
  for (const [cat, v] of b.perCall) {
    console.log(`| ${cat} | ${v.toFixed(1)} | ${((v / b.totalUs) * 100).toFixed(0)}% |`);
  }
  console.log('\nTop functions by self time (µs per call):\n');
  console.log('```');
  for (const [fn, v] of b.top) console.log(`${v.toFixed(1).padStart(6)}  ${fn}`);
  console.log('```');
}

/**
 * One more run of an `alg` edge under `perf record` (cpu-clock, every thread, kernel included), broken down
 * per call by perf-profile.ts: where the process' CPU time goes, GC threads and syscalls
 * included, which the V8 profile (wall time, main thread) cannot say.
 */
async function perfProfiled(
  alg: number,
  rate: number,
  redisUrl: string,
  dir: string,
): Promise<void> {
  if (!available('perf', 'linux-perf', 'the on-CPU profile')) {
    console.log('\nperf not available: on-CPU profile skipped (apt-get install linux-perf)');
    return;
  }
  const data = join(dir, 'perf.data');
  const owner = new Owner();
  try {
    const result = await run(
      edge(alg, redisUrl, ['--perf-basic-prof']),
      rate,
      dir,
      `alg ${alg} perf`,
      (pids, o) => {
        const pid = pids[0] ?? 0;
        // node writes the names of its JIT code there; perf script reads them after the run
        owner.after(() => rmSync(`/tmp/perf-${pid}.map`, { force: true }));
        const perf = spawnTracked(
          'perf',
          [
            'record',
            '-q',
            '-F',
            '999',
            '-g',
            '-p',
            String(pid),
            '-o',
            data,
            '--',
            'sleep',
            String(STEP_SECONDS),
          ],
          { name: 'perf record' },
        );
        o.after(() => perf.stop());
        return () => perf.waitForExit(STEP_SECONDS * 1000 + 20_000);
      },
    );
    const { shares, samples } = perfShares(data);
    console.log(
      `\n### On-CPU profile of the alg-${alg} edge at ${rate} calls/s (perf record -F 999 -g, every thread, kernel included), per completed call\n`,
    );
    console.log(
      `${result.stats.successful} calls, ${result.failed} failed, ${samples} samples; process CPU ${us(result.cpuPerCallUs)} per call (kernel ${us(result.sysPerCallUs)}), perf's own cost included\n`,
    );
    console.log('| category | µs per call | share |');
    console.log('| --- | --- | --- |');
    for (const [cat, share] of shares) {
      console.log(
        `| ${cat} | ${(share * result.cpuPerCallUs).toFixed(0)} | ${(share * 100).toFixed(1)}% |`,
      );
    }
  } finally {
    await owner.close();
  }
}

await main();
