import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DispatcherFleet } from '@sipfleet/dispatcher';
import { createRedisConnection } from '@sipfleet/redis';
import { ConfigError, parseEdgeConfig } from '../config.js';
import { type FleetPlan, type PlannedProcess, lastPorts, planFleet } from '../demo/fleet-plan.js';
import { startEmbeddedRedis } from '../embedded-redis.js';
import type { EmbeddedRedis } from '../embedded-redis.js';
import { parseProberConfig } from '../prober/config.js';
import { EXIT, ListenError, startupFailure } from '../startup-error.js';
import { intOption } from './demo-uas.js';

export const UP_USAGE = `usage: sipfleet up [options]

Runs a whole fleet on this machine: Redis (embedded unless a URL is given), edges, one prober and
one route-api; with --demo also two demo media servers, a dispatcher list routing to them
(set 1, round-robin with failover) and a ready-to-paste sipp command. Ctrl-C stops everything.

  --edges N|auto     number of edges, 1-32, or auto: one per core (default 2)
  --sip-port P       first edge's SIP port, UDP and TCP; edge i uses P+i (default 5060)
  --admin-port P     first edge's admin port; edge i uses P+i, then the prober P+N and the
                     route-api P+N+1 for N edges (default 9060)
  --demo-port P      demo media servers on P and P+1 (default 5080)
  --redis-url URL    use this Redis instead of starting one (env SIPFLEET_REDIS_URL)
  --prefix P         key prefix (env SIPFLEET_PREFIX, default sipfleet)
  --data-dir DIR     embedded Redis data dir, AOF on (default ~/.local/state/sipfleet/redis)
  --log-level L      the children's log level (default warn)
  --demo             also start the demo media servers; replaces the dispatcher list in Redis
`;

/**
 * `--edges`: a count 1-32, or `auto` for one edge per core. An edge is one Node.js process, so it
 * uses one core; a host's cores are used by running one edge per core, each on its own port
 * (docs/architecture.md, "Using every core"). Transactions stay on the edge that holds them
 * because every message of one carries that edge's own port in its Via or Route.
 */
export function edgeCount(text: string, cores = availableParallelism()): number | undefined {
  if (text === 'auto') return Math.min(Math.max(cores, 1), 32);
  return intOption(text, 1, 32);
}

const bin = fileURLToPath(new URL('../../bin/sipfleet.js', import.meta.url));

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
/** How long each child may take to become ready. */
const READY_TIMEOUT_MS = 30_000;
/** After SIGTERM: edges drain up to 5 s (their config), everyone else closes at once. */
const STOP_GRACE_MS = 10_000;

type ExitStatus = { code: number | null; signal: NodeJS.Signals | null };

interface Child {
  plan: PlannedProcess;
  process: ChildProcess;
  exited: Promise<ExitStatus>;
}

/** Why the fleet stops: a signal, or a process that died on its own. */
type StopReason =
  { kind: 'signal'; signal: string } | { kind: 'died'; what: string; status: ExitStatus };

/** One port the fleet listens on, and the option it comes from. */
interface PlannedPort {
  option: '--sip-port' | '--admin-port' | '--demo-port';
  protocol: 'udp' | 'tcp';
  port: number;
}

const HOST = '127.0.0.1';

/**
 * Binds and releases each port, so a port in use stops the fleet before anything starts, with a
 * line naming the option (a child finding it taken would print its own setting, not ours).
 */
async function checkPortsFree(ports: readonly PlannedPort[]): Promise<void> {
  for (const { option, protocol, port } of ports) {
    await new Promise<void>((resolve, reject) => {
      const fail = (err: Error): void => reject(new ListenError(option, protocol, HOST, port, err));
      if (protocol === 'udp') {
        const socket = createSocket('udp4');
        socket.once('error', fail);
        socket.bind(port, HOST, () => socket.close(() => resolve()));
      } else {
        const server = createServer();
        server.once('error', fail);
        server.listen(port, HOST, () => server.close(() => resolve()));
      }
    });
  }
}

/** Every port `up` will use, from its options (edges: UDP and TCP; admin ports: TCP). */
function plannedPorts(o: {
  edges: number;
  sipPort: number;
  adminPort: number;
  demoPort: number;
  demo: boolean;
}): PlannedPort[] {
  const ports: PlannedPort[] = [];
  const both = (option: PlannedPort['option'], port: number): void => {
    ports.push({ option, protocol: 'udp', port }, { option, protocol: 'tcp', port });
  };
  for (let i = 0; i < o.edges; i++) both('--sip-port', o.sipPort + i);
  for (let i = 0; i < o.edges + 2; i++) {
    ports.push({ option: '--admin-port', protocol: 'tcp', port: o.adminPort + i });
  }
  if (o.demo) for (let j = 0; j < 2; j++) both('--demo-port', o.demoPort + j);
  return ports;
}

function describeStatus(status: ExitStatus): string {
  return status.signal !== null ? `signal ${status.signal}` : `code ${String(status.code)}`;
}

function say(line: string): void {
  process.stdout.write(`sipfleet up: ${line}\n`);
}

function usageError(message: string): number {
  process.stderr.write(`sipfleet up: ${message}\n${UP_USAGE}`);
  return 2;
}

class StartAborted extends Error {}

export async function runUp(argv: readonly string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        edges: { type: 'string', default: '2' },
        'sip-port': { type: 'string', default: '5060' },
        'admin-port': { type: 'string', default: '9060' },
        'demo-port': { type: 'string', default: '5080' },
        'redis-url': { type: 'string' },
        prefix: { type: 'string' },
        'data-dir': { type: 'string' },
        'log-level': { type: 'string', default: 'warn' },
        demo: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    return usageError((err as Error).message);
  }
  if (values.help) {
    process.stdout.write(UP_USAGE);
    return 0;
  }
  const edges = edgeCount(values.edges);
  if (edges === undefined)
    return usageError(`--edges must be 1-32 or auto (got '${values.edges}')`);
  const badPort = (name: 'sip-port' | 'admin-port' | 'demo-port'): number =>
    usageError(`--${name} must be a port 1-65535 (got '${values[name]}')`);
  const sipPort = intOption(values['sip-port'], 1, 65535);
  if (sipPort === undefined) return badPort('sip-port');
  const adminPort = intOption(values['admin-port'], 1, 65535);
  if (adminPort === undefined) return badPort('admin-port');
  const demoPort = intOption(values['demo-port'], 1, 65535);
  if (demoPort === undefined) return badPort('demo-port');
  const last = lastPorts({ edges, sipPort, adminPort, demoPort });
  if (last.sip > 65535) return usageError(`--sip-port ${sipPort} + ${edges} edges passes 65535`);
  if (last.admin > 65535) {
    return usageError(
      `--admin-port ${adminPort} + ${edges} edges + prober + route-api passes 65535`,
    );
  }
  if (values.demo && last.demo > 65535)
    return usageError(`--demo-port ${demoPort} + 1 passes 65535`);
  if (!LOG_LEVELS.includes(values['log-level'])) {
    return usageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  }
  const prefix = values.prefix ?? (process.env.SIPFLEET_PREFIX || 'sipfleet');
  const givenRedisUrl = values['redis-url'] ?? (process.env.SIPFLEET_REDIS_URL || undefined);
  // The children get their addresses from the generated configs: the overrides an operator may
  // have exported for a single edge would put every edge on one port.
  const childEnv = { ...process.env };
  for (const name of [
    'SIPFLEET_LISTEN',
    'SIPFLEET_ADMIN',
    'SIPFLEET_REDIS_URL',
    'SIPFLEET_PREFIX',
  ]) {
    delete childEnv[name];
  }

  const children: Child[] = [];
  const workDir = mkdtempSync(join(tmpdir(), 'sipfleet-up-'));
  let redis: EmbeddedRedis | undefined;
  /** Set once, by the first stop reason; from then on nothing starts and exits are expected. */
  let stopping = false;
  let resolveStopped: (reason: StopReason) => void = () => undefined;
  const stopped = new Promise<StopReason>((resolve) => (resolveStopped = resolve));
  const requestStop = (reason: StopReason): void => {
    if (stopping) return;
    stopping = true;
    resolveStopped(reason);
  };

  // Children run in their own process groups (a terminal Ctrl-C reaches only us, and we stop
  // them in order); if this process dies without a shutdown, take them with it.
  let redisGone = false;
  const killAll = (): void => {
    for (const c of children) if (c.process.exitCode === null) c.process.kill('SIGKILL');
    try {
      if (redis?.pid !== undefined && !redisGone) process.kill(redis.pid, 'SIGKILL');
    } catch {
      // it exited a moment ago
    }
  };
  process.once('exit', killAll);
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      say(`${signal} again: killing every process now`);
      killAll();
      return;
    }
    requestStop({ kind: 'signal', signal });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const startChild = (plan: PlannedProcess): Child => {
    if (stopping) throw new StartAborted();
    if (plan.config !== undefined && plan.configFile !== undefined) {
      writeFileSync(plan.configFile, JSON.stringify(plan.config, null, 2));
    }
    const child = spawn(process.execPath, [bin, ...plan.args], {
      stdio: ['ignore', plan.ready.kind === 'output' ? 'pipe' : 'inherit', 'inherit'],
      detached: true,
      env: childEnv,
    });
    child.stdout?.pipe(process.stdout, { end: false });
    const exited = new Promise<ExitStatus>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', (err) => {
        process.stderr.write(`sipfleet up: cannot start ${plan.name}: ${err.message}\n`);
        resolve({ code: null, signal: null });
      });
    });
    const entry = { plan, process: child, exited };
    children.push(entry);
    void exited.then((status) =>
      requestStop({
        kind: 'died',
        what: `${plan.name} (pid ${String(child.pid)}) exited unexpectedly (${describeStatus(status)})`,
        status,
      }),
    );
    return entry;
  };

  const waitReady = async (child: Child): Promise<void> => {
    const { ready, name } = child.plan;
    const deadline = Date.now() + READY_TIMEOUT_MS;
    if (ready.kind === 'output') {
      const stdout = child.process.stdout;
      await new Promise<void>((resolve, reject) => {
        let seen = '';
        const timer = setTimeout(() => {
          reject(new Error(`${name} did not become ready within ${READY_TIMEOUT_MS} ms`));
        }, READY_TIMEOUT_MS);
        const onData = (chunk: Buffer): void => {
          seen += chunk.toString();
          if (ready.pattern.test(seen)) {
            clearTimeout(timer);
            stdout?.off('data', onData);
            resolve();
          }
        };
        stdout?.on('data', onData);
        void stopped.then(() => {
          clearTimeout(timer);
          reject(new StartAborted());
        });
      });
      return;
    }
    while (!stopping) {
      try {
        if ((await fetch(ready.url, { signal: AbortSignal.timeout(2000) })).ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        throw new Error(`${name} is not ready (${ready.url}) after ${READY_TIMEOUT_MS} ms`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new StartAborted();
  };

  const stopGroup = async (roles: readonly PlannedProcess['role'][]): Promise<void> => {
    const group = children.filter((c) => roles.includes(c.plan.role));
    for (const c of group) if (c.process.exitCode === null) c.process.kill('SIGTERM');
    await Promise.all(
      group.map(async (c) => {
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<'late'>((resolve) => {
          timer = setTimeout(() => resolve('late'), STOP_GRACE_MS);
        });
        if ((await Promise.race([c.exited, late])) === 'late') {
          say(`${c.plan.name} did not stop within ${STOP_GRACE_MS} ms: killing it`);
          c.process.kill('SIGKILL');
          await c.exited;
        }
        clearTimeout(timer);
      }),
    );
  };

  const shutdown = async (): Promise<void> => {
    // Edges first (they drain calls that still need the media servers and Redis), then the
    // services around them, the media servers, and Redis last.
    await stopGroup(['edge']);
    await stopGroup(['prober', 'route-api']);
    await stopGroup(['media']);
    await redis?.stop();
    rmSync(workDir, { recursive: true, force: true });
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', killAll);
  };

  const start = async (): Promise<FleetPlan> => {
    await checkPortsFree(plannedPorts({ edges, sipPort, adminPort, demoPort, demo: values.demo }));
    let redisUrl = givenRedisUrl;
    if (redisUrl === undefined) {
      const dataDir = values['data-dir'] ?? join(homedir(), '.local', 'state', 'sipfleet', 'redis');
      redis = await startEmbeddedRedis(dataDir);
      redisUrl = redis.url;
      const pid = redis.pid;
      void redis.exited.then((status) => {
        redisGone = true;
        requestStop({
          kind: 'died',
          what: `redis-server (pid ${String(pid)}) exited unexpectedly (${describeStatus(status)})`,
          status,
        });
      });
      say(`redis      ${redisUrl} (embedded redis-server, pid ${String(pid)}, AOF in ${dataDir})`);
    } else {
      say(`redis      ${redisUrl}`);
    }
    const plan = planFleet({
      edges,
      sipPort,
      adminPort,
      demoPort,
      demo: values.demo,
      redisUrl,
      prefix,
      logLevel: values['log-level'],
      configDir: workDir,
    });
    // Validate every generated config before anything starts: a mistake here is ours, and the
    // message names the setting.
    for (const p of plan.processes) {
      if (p.config === undefined) continue;
      if (p.role === 'edge') parseEdgeConfig(p.config);
      if (p.role === 'prober') parseProberConfig(p.config);
    }
    if (plan.dispatcherList !== undefined) {
      const conn = createRedisConnection({
        redis: redisUrl,
        keyPrefix: prefix,
        connectionName: 'sipfleet-up',
      });
      try {
        await conn.waitUntilReady(10_000);
        const loaded = await new DispatcherFleet(conn).load(plan.dispatcherList);
        say(
          `dispatcher list loaded into Redis (version ${loaded.version}): ` +
            `set 1 = the ${loaded.destinations} demo media servers, round-robin with failover`,
        );
      } finally {
        await conn.close();
      }
    }
    // Media servers before the edges and the prober, so no call or ping finds them missing.
    for (const role of ['media', 'edge', 'prober', 'route-api'] as const) {
      const group = plan.processes.filter((p) => p.role === role).map(startChild);
      await Promise.all(group.map(waitReady));
    }
    return plan;
  };

  const starting = start();
  let first: { plan: FleetPlan } | StopReason | { error: unknown };
  try {
    first = await Promise.race([starting.then((plan) => ({ plan })), stopped]);
  } catch (error) {
    first = { error };
  }
  if ('plan' in first) {
    for (const c of children) {
      say(`${c.plan.name.padEnd(10)} ${c.plan.describe}, pid ${String(c.process.pid)}`);
    }
    if (first.plan.sippCommand !== undefined) {
      say('place calls through the fleet with:');
      process.stdout.write(`  ${first.plan.sippCommand}\n`);
    }
    say(`configs    ${workDir} (removed when the fleet stops)`);
    say('ready (Ctrl-C stops the fleet)');
  }
  let exitCode = 0;
  if ('error' in first) {
    stopping = true;
    const err = first.error;
    if (err instanceof ConfigError) {
      // The configs are generated from checked options: an invalid one is our bug.
      process.stderr.write(`sipfleet up: generated config is invalid: ${err.message}\n`);
      exitCode = EXIT.software;
    } else {
      const failure = startupFailure(err);
      process.stderr.write(`sipfleet up: ${failure.message}\n`);
      exitCode = failure.exitCode;
    }
  } else {
    const reason = 'kind' in first ? first : await stopped;
    if (reason.kind === 'died') {
      process.stderr.write(`sipfleet up: ${reason.what}; stopping the fleet\n`);
      // A child that could not start (its own line above names the setting): pass its sysexits
      // code on; a crash of a running fleet is 1.
      const code = reason.status.code;
      exitCode = !('plan' in first) && code !== null && code >= 64 && code <= 78 ? code : 1;
    } else {
      say(`stopping (${reason.signal})`);
    }
  }
  // Whatever start() was doing has to end before the shutdown, or it could leave something behind.
  await starting.catch(() => undefined);
  await shutdown();
  say('stopped');
  return exitCode;
}
