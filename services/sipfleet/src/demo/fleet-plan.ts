// What `sipfleet up` runs, as data: every process with its ports and generated config, the demo
// dispatcher list and the sipp command. Pure (no I/O) so the layout is decided, validated and
// printed before anything starts; commands/up.ts owns the processes.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Kamailio's round-robin (`ds_select_dst(1, 4)`), the demo's default route. */
export const DEMO_ALGORITHM = 4;
export const DEMO_SET = 1;

export interface FleetPlanOptions {
  edges: number;
  /** Edge i listens on UDP and TCP at sipPort + i. */
  sipPort: number;
  /** Edge i serves admin on adminPort + i; then the prober, then the route-api. */
  adminPort: number;
  /** Demo media server j listens on demoPort + j (only with `demo`). */
  demoPort: number;
  demo: boolean;
  redisUrl: string;
  prefix: string;
  logLevel: string;
  /** Where the generated config files go. */
  configDir: string;
}

export type Readiness =
  | { kind: 'http'; url: string }
  /** The child prints this on stdout when it is ready. */
  | { kind: 'output'; pattern: RegExp };

/** One child process of the fleet: `sipfleet <args>`. */
export interface PlannedProcess {
  name: string;
  role: 'media' | 'edge' | 'prober' | 'route-api';
  args: string[];
  /** JSON written to `configFile` before start (edges and prober). */
  config?: Record<string, unknown>;
  configFile?: string;
  ready: Readiness;
  /** What the summary prints for it. */
  describe: string;
}

export interface FleetPlan {
  processes: PlannedProcess[];
  /** dispatcher.list text loaded into Redis with --demo. */
  dispatcherList?: string;
  /** Ready-to-paste sipp command placing calls through edge 1 (with --demo). */
  sippCommand?: string;
}

/** The project's own UAC scenario (absolute: the command is pasted from anywhere). */
export const UAC_SCENARIO = fileURLToPath(
  new URL('../../../../test/scenarios/uac-call.xml', import.meta.url),
);

const HOST = '127.0.0.1';

/** The highest port the plan uses; the caller checks it is at most 65535. */
export function lastPorts(
  o: Pick<FleetPlanOptions, 'edges' | 'sipPort' | 'adminPort' | 'demoPort'>,
): {
  sip: number;
  admin: number;
  demo: number;
} {
  return { sip: o.sipPort + o.edges - 1, admin: o.adminPort + o.edges + 1, demo: o.demoPort + 1 };
}

export function planFleet(o: FleetPlanOptions): FleetPlan {
  const processes: PlannedProcess[] = [];
  const mediaPorts = o.demo ? [o.demoPort, o.demoPort + 1] : [];
  mediaPorts.forEach((port, j) => {
    processes.push({
      name: `media-${j + 1}`,
      role: 'media',
      args: ['demo-uas', '--port', String(port), '--address', HOST],
      ready: { kind: 'output', pattern: /sipfleet demo-uas: listening on/ },
      describe: `demo media server sip:${HOST}:${port} (UDP+TCP)`,
    });
  });
  const redis = { url: o.redisUrl, prefix: o.prefix };
  for (let i = 0; i < o.edges; i++) {
    const port = o.sipPort + i;
    const admin = o.adminPort + i;
    const configFile = join(o.configDir, `edge-${i + 1}.json`);
    processes.push({
      name: `edge-${i + 1}`,
      role: 'edge',
      args: ['edge', '--config', configFile],
      configFile,
      config: {
        nodeId: `edge-${i + 1}`,
        listen: [
          { protocol: 'udp', address: HOST, port },
          { protocol: 'tcp', address: HOST, port },
        ],
        admin: { address: HOST, port: admin },
        redis,
        // Default route = Kamailio's LOADBALANCE + MANAGE_FAILURE over the demo set.
        routing: o.demo
          ? {
              dispatcher: {
                set: DEMO_SET,
                algorithm: DEMO_ALGORITHM,
                failover: true,
                frTimerMs: 2000,
              },
            }
          : {},
        log: { level: o.logLevel },
        // A first-run fleet should stop within seconds of Ctrl-C, not the 32 s default.
        shutdown: { drainTimeoutMs: 5000 },
      },
      ready: { kind: 'http', url: `http://${HOST}:${admin}/readyz` },
      describe:
        `edge sip:${HOST}:${port} (UDP+TCP), admin http://${HOST}:${admin}` +
        ' (/metrics /healthz /readyz)',
    });
  }
  const proberAdmin = o.adminPort + o.edges;
  const proberFile = join(o.configDir, 'prober.json');
  processes.push({
    name: 'prober',
    role: 'prober',
    args: ['prober', '--config', proberFile],
    configFile: proberFile,
    config: {
      nodeId: 'prober-1',
      redis,
      sip: { address: HOST, port: 0, tcp: true },
      admin: { address: HOST, port: proberAdmin },
      // ds_probing_mode 1: every destination is pinged all the time, so a media server that
      // dies is taken out of rotation before a call finds it (mode 0 pings only those flagged P,
      // and a good reply clears the flag).
      dispatcher: { pingIntervalMs: 2000, timeoutMs: 1000, probingMode: 1 },
      log: { level: o.logLevel },
    },
    ready: { kind: 'http', url: `http://${HOST}:${proberAdmin}/readyz` },
    describe: `prober (OPTIONS keepalives), admin http://${HOST}:${proberAdmin} (/metrics /readyz)`,
  });
  const apiPort = o.adminPort + o.edges + 1;
  processes.push({
    name: 'route-api',
    role: 'route-api',
    args: [
      'route-api',
      '--listen',
      `${HOST}:${apiPort}`,
      '--redis-url',
      o.redisUrl,
      '--prefix',
      o.prefix,
      '--log-level',
      o.logLevel,
    ],
    ready: { kind: 'http', url: `http://${HOST}:${apiPort}/readyz` },
    describe: `route-api http://${HOST}:${apiPort} (POST /route, /rules, /metrics /readyz)`,
  });
  if (!o.demo) return { processes };
  return {
    processes,
    dispatcherList: [
      '# sipfleet up --demo: the demo media servers (setid uri flags priority attrs description)',
      ...mediaPorts.map(
        (port, j) => `${DEMO_SET} sip:${HOST}:${port} 0 0 duid=media-${j + 1} demo media server`,
      ),
      '',
    ].join('\n'),
    sippCommand:
      `sipp -sf ${UAC_SCENARIO} ${HOST}:${o.sipPort} -s demo -i ${HOST}` + ' -r 10 -m 100 -d 1000',
  };
}
