// Calls per second through HTTP routing: sipp UAC -> edge (rtjson edge module) -> sipp UAS, every
// INVITE routed by a query to the reference routing API (`sipfleet route-api` on a real
// redis-server). The same load through an edge with a static route is printed for comparison.
// Not a test: nothing is asserted. Needs `npm run build` first (edge, route-api, this package).
// Run: node --import tsx packages/rtjson/bench/http-routing.bench.ts [calls] [rate]
import { fileURLToPath } from 'node:url';
import { SIPFLEET_BIN, startEdge } from '@sipfleet/test-helpers/edge';
import type { EdgeHandle } from '@sipfleet/test-helpers/edge';
import { freePort } from '@sipfleet/test-helpers/ports';
import { spawnTracked } from '@sipfleet/test-helpers/processes';
import type { CleanupOwner } from '@sipfleet/test-helpers/processes';
import { startRedis } from '@sipfleet/test-helpers/redis-server';
import { runSipp, startSipp } from '@sipfleet/test-helpers/sipp';

const calls = Number(process.argv[2] ?? 3000);
const rate = Number(process.argv[3] ?? 600);
const EDGE_MODULE = fileURLToPath(new URL('../dist/edge-module.js', import.meta.url));

/** Collects cleanups like a test context does; run at the end whatever happens. */
const cleanups: (() => unknown)[] = [];
const owner: CleanupOwner = { after: (fn) => cleanups.push(fn) };

async function measure(edge: EdgeHandle, label: string): Promise<void> {
  const edgePort = edge.port;
  const started = performance.now();
  const stats = await runSipp({
    scenario: 'uac-call',
    remote: { host: '127.0.0.1', port: edgePort },
    service: 'bench',
    rate,
    maxCalls: calls,
    limit: 400,
    callLengthMs: 1,
    recvTimeoutMs: 10_000,
    timeoutMs: 25_000,
    owner,
  });
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(
    `${label.padEnd(24)} ${(stats.successful / seconds).toFixed(0).padStart(5)} calls/s ` +
      `(${stats.successful} ok, ${stats.failed} failed, offered ${rate}/s), ` +
      `INVITE->200 mean ${stats.responseTimesMs[0]?.toFixed(1)} ms sd ${stats.responseTimeStDevMs[0]?.toFixed(1)} ms\n`,
  );
  if (stats.failed > 0) {
    const refused = await edge.metric('sipfleet_sip_responses_total', { class: '5xx' });
    const reasons = Object.entries(stats.failures).filter(([, n]) => n > 0);
    process.stdout.write(
      `  failures: ${JSON.stringify(Object.fromEntries(reasons))}, edge 5xx: ${refused}\n`,
    );
    process.stdout.write(`  first: ${stats.errors.slice(0, 2).join(' / ')}\n`);
  }
}

try {
  const redis = await startRedis();
  cleanups.push(() => redis.stop());
  const apiPort = await freePort();
  const api = spawnTracked(
    process.execPath,
    [
      SIPFLEET_BIN,
      'route-api',
      '--listen',
      `127.0.0.1:${apiPort}`,
      '--redis-url',
      redis.url,
      '--log-level',
      'warn',
    ],
    { owner, name: 'route-api' },
  );
  const base = `http://127.0.0.1:${apiPort}`;
  const deadline = Date.now() + 15_000;
  while (
    (await fetch(`${base}/readyz`).then(
      (r) => r.status,
      () => 0,
    )) !== 200
  ) {
    if (Date.now() > deadline) throw new Error(`route-api did not start:\n${api.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const uasPort = await freePort();
  await startSipp({ scenario: 'uas-call', localPort: uasPort, autoAnswer: true, owner });
  const target = `sip:bench@127.0.0.1:${uasPort}`;
  const put = await fetch(`${base}/rules`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ rules: [{ id: 'bench', routes: [{ uri: target }] }] }),
  });
  if (put.status !== 200) throw new Error(`PUT /rules: ${put.status} ${await put.text()}`);

  const routed = await startEdge(
    owner,
    { routing: { module: EDGE_MODULE } },
    { SIPFLEET_ROUTING_URL: `${base}/route` },
  );
  const plain = await startEdge(owner, { routing: { destination: target } });
  process.stdout.write(
    `http-routing bench: ${calls} calls at ${rate}/s offered, uac-call (INVITE/200/ACK/BYE)\n`,
  );
  await measure(plain, 'static route');
  await measure(routed, 'rtjson via route-api');
} finally {
  for (const fn of cleanups.reverse()) await fn();
}
