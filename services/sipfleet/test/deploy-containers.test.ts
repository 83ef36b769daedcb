// deploy/containers and deploy/kubernetes, checked as far as this machine can without an image
// registry (no image is built or run here): every file parses, every config they mount is a valid
// edge or prober config, every port they publish, probe or scrape is the port the config or the
// command line opens, every path they mount or probe exists, and every SIPFLEET_* variable they set
// is one the code reads and docs/configuration.md or docs/cli.md describes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { parseList } from '@sipfleet/dispatcher';
import { parse, parseAllDocuments } from 'yaml';
import { loadEdgeConfig } from '../src/config.js';
import { loadProberConfig } from '../src/prober/config.js';

const root = new URL('../../../', import.meta.url).pathname;
const deploy = (path: string) => join(root, 'deploy', path);
const text = (path: string) => readFileSync(join(root, path), 'utf8');

/** Source files that read environment variables, and the docs that must describe them. */
const envReaders = [
  'services/sipfleet/src/config.ts',
  'services/sipfleet/src/commands/route-api.ts',
].map(text);
const envDocs = ['docs/configuration.md', 'docs/cli.md'].map(text);

function assertKnownEnv(names: Iterable<string>, where: string): void {
  for (const name of names) {
    if (name.startsWith('GF_')) continue; // Grafana's own settings
    assert.match(name, /^SIPFLEET_[A-Z_]+$/, `${where}: ${name} is not a sipfleet variable`);
    assert.ok(
      envReaders.some((src) => src.includes(`env.${name}`)),
      `${where}: ${name} is read nowhere`,
    );
    assert.ok(
      envDocs.some((doc) => doc.includes(name)),
      `${where}: ${name} is not in the docs`,
    );
  }
}

/** The port of `--listen HOST:PORT` in a route-api command line. */
function listenPort(args: readonly string[]): number {
  const value = args[args.indexOf('--listen') + 1] ?? '';
  const m = /:(\d+)$/.exec(value);
  assert.ok(m, `--listen ${value}`);
  return Number(m[1]);
}

/** Loads a config text as `sipfleet edge|prober --config` would, from a temp file. */
function loadConfig<T>(
  load: (file: string, env: NodeJS.ProcessEnv) => T,
  body: string,
  env: NodeJS.ProcessEnv = {},
): T {
  const dir = mkdtempSync(join(tmpdir(), 'sipfleet-deploy-'));
  try {
    const file = join(dir, 'config.yaml');
    writeFileSync(file, body);
    return load(file, env);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// Each served path appears in the source of the server that answers it.
const adminServer = text('services/sipfleet/src/admin-server.ts');
const routeApiServer = text('services/sipfleet/src/route-api/server.ts');

describe('deploy/containers', () => {
  const dir = deploy('containers');
  interface Service {
    image?: string;
    hostname?: string;
    command?: string[];
    environment?: Record<string, string>;
    volumes?: string[];
    ports?: string[];
  }
  // Compose files share settings through YAML merge keys (<<: *sipfleet).
  const compose = parse(readFileSync(join(dir, 'compose.yaml'), 'utf8'), { merge: true }) as {
    services: Record<string, Service>;
  };
  const services = compose.services;
  const sipfleet = Object.entries(services).filter(([, s]) => s.image?.includes('sipfleet'));
  /** The host file mounted at `target` in a service. */
  const mounted = (service: Service, target: string): string => {
    const volume = (service.volumes ?? []).find((v) => v.split(':')[1] === target);
    assert.ok(volume, `${target} is not mounted`);
    const source = resolve(dir, volume.split(':')[0]!);
    assert.ok(existsSync(source), `${source} (mounted at ${target}) does not exist`);
    return source;
  };
  const configOf = (service: Service) => {
    const args = service.command ?? [];
    return mounted(service, args[args.indexOf('--config') + 1]!);
  };
  const promTargets = (
    parse(readFileSync(join(dir, 'prometheus/prometheus.yml'), 'utf8')) as {
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
    }
  ).scrape_configs;
  const targetsOf = (job: string) =>
    promTargets.find((s) => s.job_name === job)!.static_configs.flatMap((c) => c.targets);

  test('every YAML file parses; the Containerfile builds the tree the commands run', () => {
    for (const file of [
      'compose.yaml',
      'config/edge.yaml',
      'config/prober.yaml',
      'prometheus/prometheus.yml',
      'grafana/datasource.yml',
    ]) {
      assert.doesNotThrow(() => parse(readFileSync(join(dir, file), 'utf8')), file);
    }
    const containerfile = readFileSync(join(dir, 'Containerfile'), 'utf8');
    assert.match(containerfile, /^USER node$/m, 'runs as the unprivileged user');
    assert.equal((containerfile.match(/^FROM /gm) ?? []).length, 2, 'multi-stage');
    for (const [, source] of containerfile.matchAll(/^COPY (?!--from)(\S+)/gm)) {
      assert.ok(existsSync(join(root, source!)), `COPY ${source}: no such file in the repository`);
    }
    const entry = /ENTRYPOINT \["node", "\/opt\/sipfleet\/([^"]+)"\]/.exec(containerfile);
    assert.ok(entry && existsSync(join(root, entry[1]!)), 'the entry point is the sipfleet CLI');
    const exposed = new Set([...containerfile.matchAll(/(\d+)\/(udp|tcp)/g)].map((m) => m[0]));
    const edge = loadEdgeConfig(join(dir, 'config/edge.yaml'), {});
    const prober = loadProberConfig(join(dir, 'config/prober.yaml'), {});
    for (const p of [
      ...edge.listen.map((l) => `${l.port}/${l.protocol}`),
      `${edge.admin.port}/tcp`,
      `${prober.sip.port}/udp`,
      `${prober.admin.port}/tcp`,
      `${listenPort(services['route-api']!.command!)}/tcp`,
    ]) {
      assert.ok(exposed.has(p), `the Containerfile does not EXPOSE ${p}`);
    }
  });

  test('compose: the mounted configs are valid, ports and scrape targets are theirs', () => {
    assert.deepEqual(Object.keys(services).sort(), [
      'edge-1',
      'edge-2',
      'grafana',
      'prober',
      'prometheus',
      'redis',
      'route-api',
      'uas-1',
      'uas-2',
    ]);
    assert.ok(
      readFileSync(
        mounted(services.redis!, '/usr/local/etc/redis/sipfleet-redis.conf'),
        'utf8',
      ).includes('appendonly yes'),
    );
    assert.equal(sipfleet.length, 6, 'edges, prober, route API and UASes run the sipfleet image');
    for (const [name, service] of sipfleet) {
      assertKnownEnv(Object.keys(service.environment ?? {}), `compose ${name}`);
    }
    const uasPorts = ['uas-1', 'uas-2'].map((n) => {
      const args = services[n]!.command!;
      assert.equal(args[0], 'demo-uas');
      return `sip:${n}:${args[args.indexOf('--port') + 1]}`;
    });
    for (const name of ['edge-1', 'edge-2']) {
      const service = services[name]!;
      const edge = loadEdgeConfig(configOf(service), service.environment ?? {});
      assert.equal(edge.routing.dispatcher?.algorithm, 10);
      const list = parseList(readFileSync(mounted(service, edge.dispatcher.listFile!), 'utf8'));
      assert.deepEqual(list[0]!.destinations.map((d) => d.uri).sort(), uasPorts.sort());
      const published = (service.ports ?? []).map((p) => p.split(':')[1]);
      for (const l of edge.listen) assert.ok(published.includes(`${l.port}/${l.protocol}`), name);
      assert.ok(targetsOf('sipfleet-edge').includes(`${service.hostname}:${edge.admin.port}`));
      assert.equal(edge.redis.url, 'redis://redis:6379');
    }
    const prober = loadProberConfig(configOf(services.prober!), {});
    assert.deepEqual(targetsOf('sipfleet-prober'), [`prober:${prober.admin.port}`]);
    assert.equal(prober.redis.url, 'redis://redis:6379');
    const routeApi = services['route-api']!;
    assert.equal(routeApi.command![0], 'route-api');
    assert.deepEqual(targetsOf('sipfleet-route-api'), [
      `route-api:${listenPort(routeApi.command!)}`,
    ]);
  });

  test('compose: Prometheus runs deploy/prometheus rules and jobs (promtool), Grafana the dashboard', () => {
    const prometheus = services.prometheus!;
    assert.equal(mounted(prometheus, '/etc/prometheus/sipfleet'), deploy('prometheus'));
    const shipped = parse(readFileSync(deploy('prometheus/prometheus.yml'), 'utf8')) as {
      scrape_configs: { job_name: string }[];
    };
    assert.deepEqual(
      promTargets.map((s) => s.job_name),
      shipped.scrape_configs.map((s) => s.job_name),
    );
    // promtool sees the layout the container sees: the config with deploy/prometheus next to it.
    const tmp = mkdtempSync(join(tmpdir(), 'sipfleet-compose-prom-'));
    try {
      writeFileSync(
        join(tmp, 'prometheus.yml'),
        readFileSync(join(dir, 'prometheus/prometheus.yml')),
      );
      symlinkSync(deploy('prometheus'), join(tmp, 'sipfleet'));
      const r = spawnSync('promtool', ['check', 'config', 'prometheus.yml'], {
        cwd: tmp,
        encoding: 'utf8',
      });
      assert.equal(r.error, undefined, 'promtool (Debian package prometheus) runs');
      assert.equal(r.status, 0, r.stdout + r.stderr);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
    const grafana = services.grafana!;
    const uid = (file: string) =>
      (parse(readFileSync(file, 'utf8')) as { datasources: { uid: string }[] }).datasources[0]!.uid;
    assert.equal(
      uid(mounted(grafana, '/etc/grafana/provisioning/datasources/sipfleet.yml')),
      uid(deploy('grafana/provisioning/datasources/sipfleet.yml')),
    );
    const provider = parse(
      readFileSync(mounted(grafana, '/etc/grafana/provisioning/dashboards/sipfleet.yml'), 'utf8'),
    ) as { providers: { options: { path: string } }[] };
    const dashboards = mounted(grafana, provider.providers[0]!.options.path);
    assert.ok(existsSync(join(dashboards, 'sipfleet.json')));
  });
});

describe('deploy/kubernetes', () => {
  const dir = deploy('kubernetes');
  interface Container {
    name: string;
    image: string;
    args: string[];
    env?: { name: string; value: string }[];
    ports: { name: string; containerPort: number; protocol?: string }[];
    readinessProbe?: { httpGet?: { path: string; port: string } };
    livenessProbe?: { httpGet?: { path: string; port: string } };
    volumeMounts?: { name: string; mountPath: string }[];
  }
  interface Resource {
    kind: string;
    metadata: { name: string };
    data?: Record<string, string>;
    spec?: {
      selector?: Record<string, unknown>;
      ports?: { port: number; targetPort: string; protocol?: string }[];
      template?: {
        metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
        spec: {
          terminationGracePeriodSeconds?: number;
          containers: Container[];
          volumes?: { name: string; configMap?: { name: string } }[];
        };
      };
    };
  }
  const kustomization = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as {
    resources: string[];
    images: { name: string }[];
  };
  const resources: Resource[] = kustomization.resources.flatMap((file) => {
    const docs = parseAllDocuments(readFileSync(join(dir, file), 'utf8'));
    return docs.map((d) => {
      assert.deepEqual(d.errors, [], file);
      return d.toJS() as Resource;
    });
  });
  const find = (kind: string, name: string) => {
    const r = resources.find((x) => x.kind === kind && x.metadata.name === name);
    assert.ok(r, `${kind} ${name}`);
    return r;
  };
  const configMap = find('ConfigMap', 'sipfleet-config').data!;
  const edge = loadConfig(loadEdgeConfig, configMap['edge.yaml']!);
  const prober = loadConfig(loadProberConfig, configMap['prober.yaml']!);

  /** The deployment's one container, its config file mounted from the ConfigMap and loaded. */
  function container(name: string): { c: Container; annotations: Record<string, string> } {
    const template = find('Deployment', name).spec!.template!;
    const [c] = template.spec.containers;
    assert.ok(c);
    assert.ok(
      kustomization.images.some((i) => i.name === c.image),
      `${name}: image ${c.image}`,
    );
    assertKnownEnv(
      (c.env ?? []).map((e) => e.name),
      name,
    );
    const config = c.args[c.args.indexOf('--config') + 1];
    if (c.args.includes('--config')) {
      const mount = c.volumeMounts!.find((m) => config!.startsWith(`${m.mountPath}/`));
      const volume = template.spec.volumes!.find((v) => v.name === mount?.name);
      assert.equal(volume?.configMap?.name, 'sipfleet-config', `${name}: ${config} not mounted`);
      assert.ok(configMap[config!.slice(mount!.mountPath.length + 1)], `${name}: no ${config}`);
    }
    return { c, annotations: template.metadata.annotations ?? {} };
  }
  const port = (c: Container, name: string) => c.ports.find((p) => p.name === name);
  function assertProbesAndScrape(
    c: Container,
    annotations: Record<string, string>,
    portName: string,
    served: string,
    at: number,
  ) {
    assert.equal(port(c, portName)?.containerPort, at);
    assert.deepEqual(c.readinessProbe?.httpGet, { path: '/readyz', port: portName });
    assert.deepEqual(c.livenessProbe?.httpGet, { path: '/healthz', port: portName });
    for (const path of ['/readyz', '/healthz', '/metrics'])
      assert.ok(served.includes(`'${path}'`), path);
    assert.equal(annotations['prometheus.io/scrape'], 'true');
    assert.equal(annotations['prometheus.io/port'], String(at));
    assert.equal(annotations['prometheus.io/path'], '/metrics');
  }

  test('every file parses; the ConfigMap holds valid edge and prober configs and a dispatcher list', () => {
    assert.ok(resources.length >= 9, `${resources.length} resources`);
    assert.equal(edge.redis.url, `redis://${find('Service', 'redis').metadata.name}:6379`);
    assert.equal(prober.redis.url, edge.redis.url);
    assert.equal(parseList(configMap['dispatcher.list']!).length, 1);
    assert.equal(edge.dispatcher.listFile, '/etc/sipfleet/dispatcher.list');
  });

  test('edges: SIP ports are the listen ports, probes and scrape on the admin port, drain fits the grace period', () => {
    const { c, annotations } = container('sipfleet-edge');
    assert.equal(c.args[0], 'edge');
    for (const l of edge.listen) {
      const p = port(c, `sip-${l.protocol}`);
      assert.equal(p?.containerPort, l.port);
      assert.equal(p?.protocol, l.protocol.toUpperCase());
    }
    assertProbesAndScrape(c, annotations, 'admin', adminServer, edge.admin.port);
    const grace = find('Deployment', 'sipfleet-edge').spec!.template!.spec
      .terminationGracePeriodSeconds!;
    assert.ok(grace * 1000 > edge.shutdown.drainTimeoutMs, 'SIGKILL comes after the drain');
    const sip = find('Service', 'sipfleet-sip').spec!;
    assert.deepEqual(
      sip.selector,
      find('Deployment', 'sipfleet-edge').spec!.selector!['matchLabels'],
    );
    for (const p of sip.ports!) assert.ok(port(c, p.targetPort), p.targetPort);
  });

  test('prober and route API: ports, probes and scrape annotations are what they open', () => {
    const p = container('sipfleet-prober');
    assert.equal(p.c.args[0], 'prober');
    assert.equal(port(p.c, 'sip-udp')?.containerPort, prober.sip.port);
    assertProbesAndScrape(p.c, p.annotations, 'admin', adminServer, prober.admin.port);
    const r = container('sipfleet-route-api');
    assert.equal(r.c.args[0], 'route-api');
    assertProbesAndScrape(r.c, r.annotations, 'http', routeApiServer, listenPort(r.c.args));
    assert.equal(find('Service', 'sipfleet-route-api').spec!.ports![0]!.targetPort, 'http');
  });

  test('prometheus.yml keeps the annotated pods under the job names the alert rules use', () => {
    const config = parse(readFileSync(join(dir, 'prometheus.yml'), 'utf8')) as {
      rule_files: string[];
      scrape_configs: {
        relabel_configs: { regex?: string; action?: string; source_labels?: string[] }[];
      }[];
    };
    for (const file of config.rule_files) assert.ok(existsSync(resolve(dir, file)), file);
    const keep = config.scrape_configs[0]!.relabel_configs.find(
      (r) => r.action === 'keep' && r.source_labels?.[0]?.endsWith('app_kubernetes_io_name'),
    );
    const scraped = resources
      .filter((r) => r.kind === 'Deployment')
      .map((d) => d.spec!.template!.metadata.labels['app.kubernetes.io/name']!);
    const rules = readFileSync(deploy('prometheus/rules/sipfleet-alerts.yml'), 'utf8');
    for (const app of scraped) {
      assert.match(app, new RegExp(`^(?:${keep!.regex!})$`), `${app} is scraped`);
      assert.ok(rules.includes(app), `the alert rules name job ${app}`);
    }
  });
});
