// Scale check: one prober, 2,000 destinations, 5 s interval, ~30 s. The responders run in a
// child process so this process' CPU is the prober's. Prints schedule lag percentiles, the
// prober's CPU share, pings per interval and Redis commands per ping (INFO commandstats delta;
// BENCH_COMMANDS=1 prints the per-command breakdown).
//   node --import tsx packages/keepalive/bench/prober-scale.bench.ts [destinations] [seconds]
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DispatcherFleet } from '@sipfleet/dispatcher';
import { RedisConnection } from '@sipfleet/redis';
import { redisCli, startRedis } from '@sipfleet/test-helpers/redis-server';
import { UdpResponders } from '@sipfleet/test-helpers/udp-responders';
import { Pinger, Prober } from '../src/index.js';

const INTERVAL = 5000;

if (process.argv[2] === '--responders') {
  // Child: the responders, reporting their ports and, on request, their ping count.
  const responders = await UdpResponders.start(Number(process.argv[3]));
  process.send?.({ ports: responders.responders.map((r) => r.port) });
  process.on('message', (m) => {
    if (m === 'count') process.send?.({ pings: responders.totalPings });
    if (m === 'stop') void responders.close().then(() => process.exit(0));
  });
} else {
  const count = Number(process.argv[2] ?? 2000);
  const seconds = Number(process.argv[3] ?? 30);
  const redis = await startRedis();
  const child = fork(fileURLToPath(import.meta.url), ['--responders', String(count)], {
    execArgv: ['--import', 'tsx'],
  });
  const ask = <T>(msg?: string) =>
    new Promise<T>((resolve) => {
      child.once('message', (m) => resolve(m as T));
      if (msg) child.send(msg);
    });
  let conn: RedisConnection | undefined;
  let pinger: Pinger | undefined;
  let prober: Prober | undefined;
  try {
    const { ports } = await ask<{ ports: number[] }>();
    conn = new RedisConnection({ redis: redis.url, keyPrefix: 'bench' });
    await conn.waitUntilReady();
    const fleet = new DispatcherFleet(conn);
    await fleet.load(ports.map((p) => `1 sip:127.0.0.1:${p} 0 0`).join('\n'));
    pinger = await Pinger.start({ address: '127.0.0.1', tcp: false, timeoutMs: 2000 });
    let pings = 0;
    let failures = 0;
    pinger.observer = {
      onSent: () => pings++,
      onResult: (r) => {
        if (r.outcome !== 'reply') failures++;
      },
    };
    const lags: number[] = [];
    prober = await Prober.start({
      conn,
      fleet,
      pinger,
      settings: { pingIntervalMs: INTERVAL, timeoutMs: 2000, probingMode: 1 },
      observer: { onScheduleLag: (ms) => lags.push(ms) },
    });
    // Let the first (aligned) iteration pass, then measure whole intervals.
    await new Promise((r) => setTimeout(r, INTERVAL));
    const stats = async () => {
      const text = await redisCli(redis.port, 'INFO', 'commandstats');
      let calls = 0;
      for (const m of text.matchAll(/calls=(\d+)/g)) calls += Number(m[1]);
      return calls;
    };
    lags.length = 0;
    const calls0 = await stats();
    const pings0 = pings;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const responder0 = (await ask<{ pings: number }>('count')).pings;
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const elapsed = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const calls = (await stats()) - calls0 - 2; // the two INFO calls
    if (process.env.BENCH_COMMANDS) console.log(await redisCli(redis.port, 'INFO', 'commandstats'));
    const sent = pings - pings0;
    const received = (await ask<{ pings: number }>('count')).pings - responder0;
    lags.sort((a, b) => a - b);
    const q = (p: number) => lags[Math.min(lags.length - 1, Math.floor(p * lags.length))] ?? NaN;
    const intervals = elapsed / INTERVAL;
    console.log(
      `prober scale: ${count} destinations, interval ${INTERVAL} ms, ${(elapsed / 1000).toFixed(1)} s measured`,
    );
    console.log(
      `  pings sent ${sent} (${(sent / intervals).toFixed(0)} per interval, expected ${count}); received by responders ${received}; failures ${failures}`,
    );
    console.log(
      `  jobs ${lags.length}; schedule lag ms p50 ${q(0.5).toFixed(1)} p99 ${q(0.99).toFixed(1)} max ${(lags[lags.length - 1] ?? NaN).toFixed(1)}`,
    );
    console.log(
      `  prober CPU ${(((cpu.user + cpu.system) / 1000 / elapsed) * 100).toFixed(1)}% of one core`,
    );
    console.log(
      `  Redis commands ${calls}, per ping ${(calls / Math.max(1, sent)).toFixed(3)} ` +
        '(INFO commandstats: counts the HGET/HGET/HSET each ping costs inside probe-record-2.lua)',
    );
  } finally {
    await prober?.close();
    await pinger?.close();
    await conn?.close();
    child.send('stop');
    await new Promise((r) => child.once('exit', r));
    await redis.stop();
  }
}
