// Every process's /metrics passes `promtool check metrics` (Prometheus's own linter: names, types,
// suffixes, help text), scraped from the real processes: an edge (with the rtjson module, whose
// metrics join the edge's registry), a prober and the route API, on a real redis-server. promtool
// comes from the Debian package prometheus (scripts/bootstrap.mjs installs it for `npm test`).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { SIPFLEET_BIN, startEdge } from '@sipfleet/test-helpers/edge';
import { freePort } from '@sipfleet/test-helpers/ports';
import { type CleanupOwner, spawnTracked } from '@sipfleet/test-helpers/processes';
import { type RedisServer, startRedis, uniquePrefix } from '@sipfleet/test-helpers/redis-server';

const EDGE_MODULE = fileURLToPath(
  new URL('../../packages/rtjson/dist/edge-module.js', import.meta.url),
);

/** Runs `promtool check metrics` on `text` (its stdin); resolves with its exit code and output. */
function promtoolCheck(text: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.once('error', (err) =>
      reject(new Error(`cannot run promtool (Debian package prometheus): ${err.message}`)),
    );
    child.once('close', (code) => resolve({ code, output }));
    child.stdin.end(text);
  });
}

/** GET `url` until it answers 200 (the process listens once it has started), then the body. */
async function scrape(url: string, alive: () => void): Promise<string> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    alive();
    try {
      const res = await fetch(url);
      if (res.ok) return await res.text();
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer 200 within 20 s`);
    await sleep(50);
  }
}

async function assertPromtoolAccepts(what: string, text: string): Promise<void> {
  // Guard against scraping something else: both kinds of metric must be in the text.
  assert.match(text, /^# TYPE sipfleet_redis_up gauge$/m, `${what}: not our /metrics`);
  assert.match(text, /^# TYPE process_cpu_seconds_total counter$/m, `${what}: no process metrics`);
  const { code, output } = await promtoolCheck(text);
  assert.equal(code, 0, `promtool check metrics on ${what}'s /metrics:\n${output}`);
}

function tempConfig(owner: CleanupOwner, name: string, config: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), `sipfleet-${name}-`));
  owner.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(config));
  return file;
}

describe('promtool check metrics', () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis.stop());

  test('edge with the rtjson routing module', async (t) => {
    const edge = await startEdge(
      t,
      { routing: { module: EDGE_MODULE }, redis: { url: redis.url, prefix: uniquePrefix() } },
      { SIPFLEET_ROUTING_URL: 'http://127.0.0.1:9/route' }, // never asked: no call is placed
    );
    const text = (await edge.admin('/metrics')).body;
    assert.match(text, /^# TYPE sipfleet_http_routing_queries_total counter$/m);
    await assertPromtoolAccepts('the edge', text);
  });

  test('prober', async (t) => {
    const adminPort = await freePort();
    const file = tempConfig(t, 'prober', {
      nodeId: `prober-${adminPort}`,
      redis: { url: redis.url, prefix: uniquePrefix() },
      sip: { address: '127.0.0.1', tcp: false },
      admin: { address: '127.0.0.1', port: adminPort },
      log: { level: 'warn' },
    });
    const proc = spawnTracked(process.execPath, [SIPFLEET_BIN, 'prober', '--config', file], {
      owner: t,
      name: 'prober',
    });
    const text = await scrape(`http://127.0.0.1:${adminPort}/metrics`, () => {
      if (proc.exitStatus) throw new Error(`prober exited at start-up:\n${proc.output()}`);
    });
    await assertPromtoolAccepts('the prober', text);
  });

  test('route API', async (t) => {
    const port = await freePort();
    const proc = spawnTracked(
      process.execPath,
      [SIPFLEET_BIN, 'route-api', '--listen', `127.0.0.1:${port}`, '--redis-url', redis.url],
      { owner: t, name: 'route-api', env: { ...process.env, SIPFLEET_PREFIX: uniquePrefix() } },
    );
    const text = await scrape(`http://127.0.0.1:${port}/metrics`, () => {
      if (proc.exitStatus) throw new Error(`route-api exited at start-up:\n${proc.output()}`);
    });
    await assertPromtoolAccepts('the route API', text);
  });
});
