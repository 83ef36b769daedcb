// The fleet's shared state on the call path, measured: one edge with Redis, the maintenance
// check on, routing by (a) a static destination, (b) dispatcher algorithm 0 (Call-ID hash),
// (c) algorithm 4 (fleet-wide round-robin), (d) algorithm 10 (call load). For each: the highest
// call rate with zero failures over a short ramp, and Redis commands per call from INFO
// commandstats around the run (commands run inside Lua scripts are counted by Redis too, listed
// separately). Run: `node --import tsx test/bench/fleet.bench.ts` (or `npm run bench`).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEdge } from '@sipfleet/test-helpers/edge';
import { freePort } from '@sipfleet/test-helpers/ports';
import { startRedis, uniquePrefix } from '@sipfleet/test-helpers/redis-server';
import { startSipp } from '@sipfleet/test-helpers/sipp';
import {
  best,
  commandsPerCall,
  commandstats,
  formatPerCall,
  Owner,
  percentile,
  ramp,
} from './ramp.js';

const RATES = (process.env.BENCH_FLEET_RATES ?? '1000,1500,2000,2500').split(',').map(Number);
/** The rate of the step whose Redis commands are counted. */
const MEASURE_RATE = Number(process.env.BENCH_FLEET_MEASURE_RATE ?? 500);

/**
 * What the edge sends on the call path: scripts (call load) and INCR (round-robin). The rest in
 * commandstats is either run inside those scripts (hget, hset, zadd, ...) or background work
 * (snapshot re-reads, reconcile, tracking), listed but not counted as round trips.
 */
const TOP_LEVEL = new Set(['evalsha', 'eval', 'incr']);

async function main(): Promise<void> {
  const owner = new Owner();
  try {
    const redis = await startRedis();
    owner.after(() => redis.stop());
    const dir = mkdtempSync(join(tmpdir(), 'sipfleet-fleet-bench-'));
    owner.after(() => rmSync(dir, { recursive: true, force: true }));
    const cases: [string, (uris: string[]) => Record<string, unknown>][] = [
      ['static', (uris) => ({ routing: { destination: uris[0] } })],
      ['alg 0', () => ({ routing: { dispatcher: { set: 1, algorithm: 0 } } })],
      ['alg 4', () => ({ routing: { dispatcher: { set: 1, algorithm: 4 } } })],
      ['alg 10', () => ({ routing: { dispatcher: { set: 1, algorithm: 10 } } })],
    ];
    console.log('## Fleet state on the call path: one edge, Redis, maintenance check on\n');
    console.log('```');
    const summary: string[] = [];
    for (const [name, routing] of cases) {
      // Fresh UASes and edge per case: a UAS that lived through an overload step still holds
      // stuck calls and would fail the next case for reasons of its own.
      const caseOwner = new Owner();
      const uris: string[] = [];
      for (let i = 0; i < 3; i++) {
        const port = await freePort();
        await startSipp({
          scenario: 'uas-call',
          localPort: port,
          autoAnswer: true,
          owner: caseOwner,
        });
        uris.push(`sip:127.0.0.1:${port}`);
      }
      const listFile = join(dir, `dispatcher-${name.replace(/ /g, '')}.list`);
      writeFileSync(listFile, uris.map((u) => `1 ${u} 0 0`).join('\n') + '\n');
      const edge = await startEdge(caseOwner, {
        redis: { url: redis.url, prefix: uniquePrefix() },
        dispatcher: { listFile },
        log: { level: 'error' },
        ...routing(uris),
      });
      const pid = edge.process.pid ?? 0;
      // Round trips on a clean step at a rate every case holds; then the ramp for the limit.
      const before = await commandstats(redis.port);
      const [measured] = await ramp(name, edge.port, () => [pid], [MEASURE_RATE]);
      const after = await commandstats(redis.port);
      const calls = measured === undefined ? 0 : measured.stats.successful + measured.failed;
      const perCall = commandsPerCall(before, after, calls);
      const own = perCall.filter(([cmd]) => TOP_LEVEL.has(cmd)).reduce((n, [, v]) => n + v, 0);
      const fmt = formatPerCall(perCall);
      console.log(
        `${name}: Redis round trips per call ${own.toFixed(3)}; all commands per call: ${fmt}`,
      );
      const steps = await ramp(name, edge.port, () => [pid], RATES);
      const top = best(steps);
      summary.push(
        `| ${name} | ${top ? `${top.rate}` : 'none'} | ${top ? `${top.achieved.toFixed(0)}` : '-'} | ${top ? percentile(top.stats, 0.99) : '-'} | ${own.toFixed(3)} |`,
      );
      await caseOwner.close();
    }
    console.log('```\n');
    console.log(
      '| routing | highest offered calls/s, 0 failed | achieved | INVITE→200 p99 | Redis round trips per call |',
    );
    console.log('| --- | --- | --- | --- | --- |');
    for (const row of summary) console.log(row);
  } finally {
    await owner.close();
  }
}

await main();
