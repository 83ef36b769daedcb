// deploy/prometheus and deploy/grafana against a real fleet: a real Prometheus (Debian package
// prometheus) runs the shipped configuration and rules, its targets rewritten to this test's ports
// through generated file_sd files, and scrapes real processes on loopback: a redis-server, two
// dispatcher edges (algorithm 10, failover), an edge routing over HTTP through the route API, the
// route API and a prober. sipp calls give the counters data. Then, through Prometheus's HTTP API:
// every target is up, every rule evaluates without error, and every query of the Grafana dashboard
// (read from its JSON, so the test follows the dashboard) evaluates and returns data.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { SIPFLEET_BIN, startEdge } from '@sipfleet/test-helpers/edge';
import type { EdgeHandle } from '@sipfleet/test-helpers/edge';
import { freePort } from '@sipfleet/test-helpers/ports';
import { startProber } from '@sipfleet/test-helpers/prober';
import { type CleanupOwner, spawnTracked } from '@sipfleet/test-helpers/processes';
import { startRedis, uniquePrefix } from '@sipfleet/test-helpers/redis-server';
import { runSipp, startSipp } from '@sipfleet/test-helpers/sipp';

const DEPLOY = fileURLToPath(new URL('../../deploy/', import.meta.url));
const METRICS_DOC = fileURLToPath(new URL('../../docs/metrics.md', import.meta.url));
const EDGE_MODULE = fileURLToPath(
  new URL('../../packages/rtjson/dist/edge-module.js', import.meta.url),
);

interface RuleFile {
  groups: { rules: { alert?: string; record?: string; expr: string }[] }[];
}
interface Dashboard {
  panels: { title: string; targets?: { expr: string }[] }[];
}

const rules = (name: string): RuleFile['groups'][number]['rules'] =>
  (parse(readFileSync(join(DEPLOY, 'prometheus/rules', name), 'utf8')) as RuleFile).groups.flatMap(
    (g) => g.rules,
  );
const recording = new Map(rules('sipfleet-recording.yml').map((r) => [r.record!, r.expr] as const));
const dashboard = JSON.parse(
  readFileSync(join(DEPLOY, 'grafana/dashboards/sipfleet.json'), 'utf8'),
) as Dashboard;

/** Every panel query, with Grafana's variables as the dashboard's defaults would set them. */
const panelQueries = dashboard.panels.flatMap((p) =>
  (p.targets ?? []).map((t) => ({
    panel: p.title,
    expr: t.expr.replaceAll('$__rate_interval', '1m').replaceAll('$node', '.*'),
  })),
);

/** The expression with recording rule names replaced by their expressions, recursively. */
function expand(expr: string): string {
  return expr.replace(/\b[a-z_]+:[a-z0-9_]+:[a-z0-9_]+\b/g, (name) => {
    const inner = recording.get(name);
    assert.ok(inner !== undefined, `${name} is not a recording rule of sipfleet-recording.yml`);
    return `(${expand(inner)})`;
  });
}

async function waitFor<T>(what: string, check: () => Promise<T | undefined>, ms = 30_000) {
  const until = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** A real `prometheus` on a free port with the shipped deploy/prometheus, targets rewritten. */
async function startPrometheus(
  owner: CleanupOwner,
  targets: { edges: string[]; prober: string[]; routeApi: string[] },
) {
  const dir = mkdtempSync(join(tmpdir(), 'sipfleet-prometheus-'));
  owner.after(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(join(DEPLOY, 'prometheus'), dir, { recursive: true });
  rmSync(join(dir, 'targets/edges-example.json'));
  const config = parse(readFileSync(join(dir, 'prometheus.yml'), 'utf8')) as {
    global: Record<string, string>;
    scrape_configs: {
      job_name: string;
      static_configs?: unknown;
      file_sd_configs?: { files: string[] }[];
    }[];
  };
  // One-second scrapes and rule evaluations so rates have samples within seconds.
  config.global.scrape_interval = '1s';
  config.global.evaluation_interval = '1s';
  const byJob: Record<string, string[]> = {
    'sipfleet-edge': targets.edges,
    'sipfleet-prober': targets.prober,
    'sipfleet-route-api': targets.routeApi,
  };
  assert.deepEqual(config.scrape_configs.map((s) => s.job_name).sort(), Object.keys(byJob).sort());
  for (const job of config.scrape_configs) {
    // Edges keep the shipped file_sd glob (targets/edges-*.json); static jobs get a file of their own.
    if (job.static_configs !== undefined) {
      delete job.static_configs;
      job.file_sd_configs = [{ files: [`targets/${job.job_name}-test.json`] }];
    }
    assert.equal(job.file_sd_configs?.length, 1, job.job_name);
    const file = job.file_sd_configs[0]!.files[0]!.replace('*', `${job.job_name}-test`);
    writeFileSync(join(dir, file), JSON.stringify([{ targets: byJob[job.job_name] }]));
  }
  writeFileSync(join(dir, 'prometheus.yml'), stringify(config));
  const port = await freePort();
  const proc = spawnTracked(
    'prometheus',
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { owner, name: 'prometheus' },
  );
  const base = `http://127.0.0.1:${port}`;
  await waitFor('prometheus /-/ready', async () => {
    if (proc.exitStatus) throw new Error(`prometheus exited:\n${proc.output()}`);
    try {
      return (await fetch(`${base}/-/ready`)).ok ? true : undefined;
    } catch {
      return undefined;
    }
  });
  return {
    /** GET /api/v1/<path>: the `data` of a success answer; throws with Prometheus's error. */
    async api<T>(path: string): Promise<T> {
      const res = await fetch(`${base}/api/v1/${path}`);
      const body = (await res.json()) as { status: string; data: T; error?: string };
      assert.equal(body.status, 'success', `${decodeURIComponent(path)}: ${body.error}`);
      return body.data;
    },
  };
}

async function startRouteApi(owner: CleanupOwner, redisUrl: string, prefix: string) {
  const port = await freePort();
  spawnTracked(
    process.execPath,
    [SIPFLEET_BIN, 'route-api', '--listen', `127.0.0.1:${port}`, '--redis-url', redisUrl],
    { owner, name: 'route-api', env: { ...process.env, SIPFLEET_PREFIX: prefix } },
  );
  const base = `http://127.0.0.1:${port}`;
  await waitFor('route-api /readyz', async () => {
    try {
      return (await fetch(`${base}/readyz`)).ok ? true : undefined;
    } catch {
      return undefined;
    }
  });
  return { target: `127.0.0.1:${port}`, url: `${base}/route`, base };
}

describe('Prometheus with deploy/prometheus and the Grafana dashboard on a real fleet', () => {
  test('every metric the rules and the dashboard read is documented or listed as not exported yet', () => {
    const doc = readFileSync(METRICS_DOC, 'utf8');
    const exprs = [
      ...rules('sipfleet-recording.yml').map((r) => r.expr),
      ...rules('sipfleet-alerts.yml').map((r) => r.expr),
      ...panelQueries.map((q) => q.expr),
    ];
    const names = new Set(
      exprs.flatMap((e) => [
        // Recording rule names (level:metric:operations) are checked by expand().
        ...e
          .replace(/\b[a-z_]+:[a-z0-9_]+:[a-z0-9_]+\b/g, (r) => (expand(r), ''))
          .matchAll(/\b(?:sipfleet|process|nodejs)_[a-z0-9_]+\b/g),
      ]),
    );
    assert.ok(names.size > 20, `${names.size} metric names`);
    for (const [name] of names) {
      const base = name.replace(/_(bucket|count|sum)$/, '');
      assert.ok(
        doc.includes(`\`${name}\``) || doc.includes(`\`${base}\``),
        `${name} is not in docs/metrics.md`,
      );
    }
  });

  test('targets up, rules evaluate, every dashboard query evaluates and returns data', async (t) => {
    const redis = await startRedis();
    t.after(() => redis.stop());
    const prefix = uniquePrefix();

    // Destinations of set 1, in list order: one answering every INVITE 503 (failover moves the
    // call on), one answering calls, one where nothing listens (the prober marks it down).
    const flakyPort = await freePort();
    const goodPort = await freePort();
    const deadPort = await freePort();
    await startSipp({ scenario: 'uas-503', localPort: flakyPort, autoAnswer: true, owner: t });
    await startSipp({ scenario: 'uas-call', localPort: goodPort, autoAnswer: true, owner: t });
    const dead = `sip:127.0.0.1:${deadPort}`;
    const dir = mkdtempSync(join(tmpdir(), 'sipfleet-ds-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(
      join(dir, 'dispatcher.list'),
      [
        `1 sip:127.0.0.1:${flakyPort} 0 0 duid=flaky;maxload=50`,
        `1 sip:127.0.0.1:${goodPort} 0 0 duid=good;maxload=50`,
        `1 ${dead} 0 0 duid=dead;maxload=50`,
      ].join('\n') + '\n',
    );
    const redisConfig = { url: redis.url, prefix };
    const dispatcherEdge = () =>
      startEdge(t, {
        redis: redisConfig,
        dispatcher: { listFile: join(dir, 'dispatcher.list') },
        routing: { dispatcher: { set: 1, algorithm: 10, failover: true, frTimerMs: 1000 } },
      });
    const edges: EdgeHandle[] = [await dispatcherEdge(), await dispatcherEdge()];
    const routeApi = await startRouteApi(t, redis.url, prefix);
    const put = await fetch(`${routeApi.base}/rules`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        rules: [
          {
            id: 'bob',
            match: { calleePrefix: 'bob' },
            routing: 'serial',
            routes: [{ uri: `sip:bob@127.0.0.1:${goodPort}` }],
          },
        ],
      }),
    });
    assert.equal(put.status, 200, await put.text());
    const httpEdge = await startEdge(
      t,
      { redis: redisConfig, routing: { module: EDGE_MODULE } },
      { SIPFLEET_ROUTING_URL: routeApi.url },
    );
    const prober = `127.0.0.1:${(await startProber(t, redis.url, prefix, { probingThreshold: 1 })).adminPort}`;
    const allEdges = [...edges, httpEdge];

    const prometheus = await startPrometheus(t, {
      edges: allEdges.map((e) => `127.0.0.1:${e.adminPort}`),
      prober: [prober],
      routeApi: [routeApi.target],
    });
    interface Target {
      labels: { job: string; instance: string };
      health: string;
      lastError: string;
    }
    await waitFor('every target up', async () => {
      const { activeTargets } = await prometheus.api<{ activeTargets: Target[] }>('targets');
      return activeTargets.length === allEdges.length + 2 &&
        activeTargets.every((a) => a.health === 'up')
        ? true
        : undefined;
    });

    // Calls once the prober has taken the dead destination out on both dispatcher edges.
    await waitFor('dead destination inactive on the edges', async () => {
      const active = await Promise.all(
        edges.map((e) => e.metric('sipfleet_dispatcher_destination_active', { uri: dead })),
      );
      return active.every((v) => v === 0) ? true : undefined;
    });
    // One call per edge first: a labelled series appears at its first increment, and a rate needs
    // a scrape from before the rest of the calls.
    const callers = [
      [edges[0]!, 'alice'],
      [edges[1]!, 'alice'],
      [httpEdge, 'bob'],
    ] as const;
    const place = async (calls: number) => {
      for (const [edge, service] of callers) {
        const stats = await runSipp({
          scenario: 'uac-call',
          remote: { host: '127.0.0.1', port: edge.port },
          service,
          rate: 10,
          maxCalls: calls,
          callLengthMs: 300,
          recvTimeoutMs: 10_000,
          owner: t,
        });
        assert.equal(stats.failed, 0, stats.errors.slice(0, 3).join('\n'));
        assert.equal(stats.successful, calls);
      }
    };
    await place(1);
    interface Sample {
      metric: Record<string, string>;
      value: [number, string];
    }
    type Vector = { resultType: string; result: Sample[] };
    const query = (expr: string) =>
      prometheus.api<Vector>(`query?query=${encodeURIComponent(expr)}`);
    await waitFor('the first calls in Prometheus', async () => {
      const { result } = await query('sipfleet_sip_requests_total{method="INVITE"}');
      return result.length === callers.length ? true : undefined;
    });
    const callsPer = 6;
    await place(callsPer - 1);
    // Prometheus saw every call: the INVITE counters it scraped add up to the calls placed.
    await waitFor('every call in Prometheus', async () => {
      const { result } = await query('sum(sipfleet_sip_requests_total{method="INVITE"})');
      return Number(result[0]?.value[1]) === 3 * callsPer ? true : undefined;
    });

    // Rules: every one evaluated (health ok) and none with an error.
    interface RuleState {
      name: string;
      health: string;
      lastError?: string;
    }
    const states = await waitFor('every rule evaluated', async () => {
      const { groups } = await prometheus.api<{ groups: { rules: RuleState[] }[] }>('rules');
      const all = groups.flatMap((g) => g.rules);
      return all.length > 0 && all.every((r) => r.health !== 'unknown') ? all : undefined;
    });
    assert.equal(states.length, recording.size + rules('sipfleet-alerts.yml').length);
    for (const r of states) assert.equal(r.health, 'ok', `${r.name}: ${r.lastError}`);

    // Every dashboard query: no error, and data.
    assert.ok(panelQueries.length >= 20, `${panelQueries.length} dashboard queries`);
    for (const { panel, expr } of panelQueries) {
      await waitFor(`data for "${panel}": ${expr}`, async () => {
        const { result } = await query(expr);
        return result.length > 0 ? true : undefined;
      });
    }

    // The data is the fleet's: calls per second, failovers from the 503 destination, the dead
    // destination's state, HTTP routing through the route API.
    const value = async (expr: string) => {
      const { result } = await query(expr);
      return result.map((s) => ({ labels: s.metric, value: Number(s.value[1]) }));
    };
    assert.ok((await value('fleet:sipfleet_sip_invites:rate1m'))[0]!.value > 0);
    assert.ok((await value('sum(sipfleet_dispatcher_failovers_total)'))[0]!.value > 0);
    const state = await value('set_uri:sipfleet_dispatcher_destination_active:max');
    assert.deepEqual(
      state.map((s) => [s.labels.uri, s.value]).sort(),
      [
        [dead, 0],
        [`sip:127.0.0.1:${flakyPort}`, 1],
        [`sip:127.0.0.1:${goodPort}`, 1],
      ].sort(),
    );
    // Prometheus may not have scraped the route API since its last query: wait for the count.
    await waitFor('every routed call counted by the route API', async () => {
      const routed = await value('sum(sipfleet_route_api_queries_total{result="routed"})');
      return routed[0]?.value === callsPer ? true : undefined;
    });
  });
});
