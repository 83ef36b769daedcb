// Any edge takes any message, measured: two edges behind a relay that spreads every datagram
// round robin (a load balancer without affinity), a demo UAS (it answers per Via, so a BYE relayed
// by the other edge gets its 200), Redis. Hand-off off, then on: the highest call rate with zero
// failures over a short ramp, INVITE->200 p99, and Redis commands per call from INFO commandstats
// around a clean step (background work, the membership heartbeat and the peer list, included).
// Run: `node --import tsx test/bench/handoff.bench.ts` (or `npm run bench handoff`).
import { SIPFLEET_BIN, startEdge } from '@sipfleet/test-helpers/edge';
import { startSpreadingRelay } from '@sipfleet/test-helpers/lossy-relay';
import { freePort } from '@sipfleet/test-helpers/ports';
import { spawnTracked } from '@sipfleet/test-helpers/processes';
import { startRedis, uniquePrefix, waitFor } from '@sipfleet/test-helpers/redis-server';
import {
  best,
  commandsPerCall,
  commandstats,
  formatPerCall,
  Owner,
  percentile,
  ramp,
} from './ramp.js';

const RATES = (process.env.BENCH_HANDOFF_RATES ?? '50,100,200,400').split(',').map(Number);
/** The rate of the step whose Redis commands are counted. */
const MEASURE_RATE = 20;

async function main(): Promise<void> {
  const owner = new Owner();
  try {
    const redis = await startRedis();
    owner.after(() => redis.stop());
    console.log('## Hand-off: two edges behind a per-datagram spreading relay, Redis\n');
    console.log('```');
    const summary: string[] = [];
    for (const enabled of [false, true]) {
      const name = enabled ? 'hand-off on' : 'hand-off off';
      const caseOwner = new Owner();
      const uasPort = await freePort();
      const uas = spawnTracked(
        process.execPath,
        [SIPFLEET_BIN, 'demo-uas', '--port', String(uasPort)],
        { owner: caseOwner, name: `demo-uas:${uasPort}` },
      );
      await uas.waitForOutput(/listening on/);
      const relay = await startSpreadingRelay(caseOwner, {});
      const config = {
        redis: { url: redis.url, prefix: uniquePrefix() },
        aliases: [`127.0.0.1:${relay.port}`],
        advertise: { host: 'fleet.invalid', port: 5060 },
        routing: { destination: `sip:127.0.0.1:${uasPort}` },
        log: { level: 'error' },
        // Measured against each other on a shared host: shedding would end the ramp at the first
        // stall of the machine rather than at what the hand-off costs.
        overload: { enabled: false },
        handoff: { enabled, secret: 'bench-fleet-secret-0123456789' },
      };
      const edges = [await startEdge(caseOwner, config), await startEdge(caseOwner, config)];
      relay.edges = edges.map((e) => e.port);
      if (enabled) {
        await waitFor('each edge knows the other', async () =>
          (await Promise.all(edges.map((e) => e.metric('sipfleet_handoff_peers')))).every(
            (n) => n === 1,
          ),
        );
      }
      const pids = () => edges.map((e) => e.process.pid ?? 0);
      const before = await commandstats(redis.port);
      const [measured] = await ramp(name, relay.port, pids, [MEASURE_RATE]);
      const after = await commandstats(redis.port);
      const calls = measured === undefined ? 0 : measured.stats.successful + measured.stats.failed;
      const perCall = commandsPerCall(before, after, calls);
      const total = perCall.reduce((n, [, v]) => n + v, 0);
      console.log(
        `${name}: Redis commands per call ${total.toFixed(3)}: ${formatPerCall(perCall)}`,
      );
      const steps = await ramp(name, relay.port, pids, RATES);
      const top = best(steps);
      summary.push(
        `| ${name} | ${top ? `${top.rate}` : 'none'} | ${top ? `${top.achieved.toFixed(0)}` : '-'} | ${top ? percentile(top.stats, 0.99) : '-'} | ${total.toFixed(3)} |`,
      );
      await caseOwner.close();
    }
    console.log('```\n');
    console.log(
      '| case | highest offered calls/s, 0 failed | achieved | INVITE→200 p99 | Redis commands per call |',
    );
    console.log('| --- | --- | --- | --- | --- |');
    for (const row of summary) console.log(row);
  } finally {
    await owner.close();
  }
}

await main();
