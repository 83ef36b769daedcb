// Real redis-server processes for tests (never a mock): standalone, Sentinel (1 master, 1 replica,
// 3 sentinels) and a 3-master Cluster. Every child is killed and every temp dir removed by stop(),
// and again at process exit in case a test forgot (or crashed before its `after`).
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './ports.js';

const HOST = '127.0.0.1';
const live = new Set<ChildProcess>();
const dirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of live) child.kill('SIGKILL');
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
}

function tempDir(tag: string): string {
  installExitHook();
  const dir = mkdtempSync(join(tmpdir(), `sipfleet-${tag}-`));
  dirs.add(dir);
  return dir;
}

function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  dirs.delete(dir);
}

/** A unique key prefix per test, so tests sharing one server never see each other's keys. */
export function uniquePrefix(): string {
  return `t-${randomBytes(4).toString('hex')}`;
}

/** Runs one command with the real `redis-cli` (the operator's tool) and returns its raw output. */
export function redisCli(port: number, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'redis-cli',
      ['-h', HOST, '-p', String(port), ...args],
      { timeout: 10_000 },
      (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message} ${stderr}`)) : resolve(stdout),
    );
  });
}

/**
 * Polls `check` every 50 ms until it holds (a condition, never a fixed wait); a check that throws
 * counts as not yet. Throws after `deadlineMs`, with the last error.
 */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  deadlineMs = 20_000,
): Promise<void> {
  const until = Date.now() + deadlineMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what} ${String(last ?? '')}`);
}

/** One redis-server child; start() may be called again after kill() (same port, same dir). */
class ServerProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    readonly port: number,
    private readonly args: string[],
  ) {}

  async start(): Promise<void> {
    const child = spawn('redis-server', this.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
    child.stderr?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
    live.add(child);
    this.child = child;
    this.exited = new Promise((resolve) =>
      child.once('exit', () => {
        live.delete(child);
        resolve();
      }),
    );
    let failed = false;
    void this.exited.then(() => (failed = true));
    await waitFor(`redis-server on port ${this.port}`, async () => {
      if (failed) throw new Error(`redis-server exited: ${output}`);
      return (await redisCli(this.port, 'PING')).trim() === 'PONG';
    });
  }

  /** True while the process runs. */
  get running(): boolean {
    return this.child !== undefined;
  }

  /** SIGKILL, like a crash; resolves when the process is gone. */
  async kill(): Promise<void> {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
    }
    this.child = undefined;
    await this.exited;
  }
}

export interface RedisServer {
  url: string;
  host: string;
  port: number;
  /** Crash the server (SIGKILL); data is lost unless `appendonly` was asked for. */
  kill(): Promise<void>;
  /** Start it again on the same port and dir, after kill(). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface StartRedisOptions {
  /** Keep an AOF in the temp dir (survives kill/restart). @default false */
  appendonly?: boolean;
  /** Extra redis-server arguments, e.g. ['--notify-keyspace-events', 'Kh']. */
  args?: string[];
}

/** A standalone redis-server on a free port with its own temp dir. */
export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisServer> {
  const port = await freePort();
  const dir = tempDir('redis');
  const server = new ServerProcess(port, [
    '--port', String(port), '--bind', HOST, '--dir', dir, '--save', '',
    '--appendonly', opts.appendonly ? 'yes' : 'no', ...(opts.args ?? []),
  ]); // prettier-ignore
  try {
    await server.start();
  } catch (err) {
    removeDir(dir);
    throw err;
  }
  return {
    url: `redis://${HOST}:${port}`,
    host: HOST,
    port,
    kill: () => server.kill(),
    restart: () => server.start(),
    stop: async () => {
      await server.kill();
      removeDir(dir);
    },
  };
}

export interface SentinelSetup {
  /** `redis-sentinel://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3/<masterName>` */
  url: string;
  masterName: string;
  masterPort: number;
  replicaPort: number;
  sentinelPorts: number[];
  stop(): Promise<void>;
}

/** 1 master, 1 replica and 3 sentinels (quorum 2), all on free ports, configs in one temp dir. */
export async function startSentinelSetup(masterName = 'sipfleet'): Promise<SentinelSetup> {
  const dir = tempDir('sentinel');
  const servers: ServerProcess[] = [];
  const stop = async () => {
    await Promise.all(servers.map((s) => s.kill()));
    removeDir(dir);
  };
  try {
    const masterPort = await freePort();
    const replicaPort = await freePort();
    const common = (port: number) => ['--port', String(port), '--bind', HOST, '--save', '',
      '--appendonly', 'no', '--dir', dir, '--dbfilename', `dump-${port}.rdb`]; // prettier-ignore
    const master = new ServerProcess(masterPort, common(masterPort));
    servers.push(master);
    await master.start();
    const replica = new ServerProcess(replicaPort, [
      ...common(replicaPort), '--replicaof', HOST, String(masterPort),
    ]); // prettier-ignore
    servers.push(replica);
    await replica.start();
    await waitFor('replica link up', async () =>
      (await redisCli(replicaPort, 'INFO', 'replication')).includes('master_link_status:up'),
    );
    const sentinelPorts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const conf = join(dir, `sentinel-${port}.conf`);
      // Sentinel rewrites its config file at run time, so each gets its own writable file.
      writeFileSync(
        conf,
        [
          `port ${port}`,
          `bind ${HOST}`,
          `dir ${dir}`,
          `sentinel monitor ${masterName} ${HOST} ${masterPort} 2`,
          `sentinel down-after-milliseconds ${masterName} 2000`,
          `sentinel failover-timeout ${masterName} 10000`,
          '',
        ].join('\n'),
      );
      const sentinel = new ServerProcess(port, [conf, '--sentinel']);
      servers.push(sentinel);
      await sentinel.start();
      sentinelPorts.push(port);
    }
    for (const port of sentinelPorts) {
      await waitFor(`sentinel ${port} knows the master`, async () =>
        (await redisCli(port, 'SENTINEL', 'get-master-addr-by-name', masterName)).includes(
          String(masterPort),
        ),
      );
    }
    return {
      url: `redis-sentinel://${sentinelPorts.map((p) => `${HOST}:${p}`).join(',')}/${masterName}`,
      masterName,
      masterPort,
      replicaPort,
      sentinelPorts,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

export interface ClusterSetup {
  /** `redis-cluster://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3` (the masters at start) */
  url: string;
  /** Every node, masters first. */
  ports: number[];
  /** The port of the master serving `key`'s slot, as a live node sees it now. */
  masterOf(key: string): Promise<number>;
  /** Crash one node (SIGKILL), e.g. a master, so its replica takes over. */
  kill(port: number): Promise<void>;
  stop(): Promise<void>;
}

interface ClusterNode {
  port: number;
  master: boolean;
  /** Slot ranges served (masters), inclusive. */
  slots: [number, number][];
}

/** CLUSTER NODES as one node sees it, without the nodes it considers failed. */
async function clusterNodes(port: number): Promise<ClusterNode[]> {
  const text = await redisCli(port, 'CLUSTER', 'NODES');
  return text
    .trim()
    .split('\n')
    .map((line) => line.split(' '))
    .filter((f) => !(f[2] ?? '').includes('fail'))
    .map((f) => ({
      port: Number(/:(\d+)@/.exec(f[1] ?? '')?.[1]),
      master: (f[2] ?? '').includes('master'),
      slots: f.slice(8).flatMap((r): [number, number][] => {
        const m = /^(\d+)(?:-(\d+))?$/.exec(r);
        return m ? [[Number(m[1]), Number(m[2] ?? m[1])]] : [];
      }),
    }));
}

export interface StartClusterOptions {
  /** Replicas per master (`redis-cli --cluster create --cluster-replicas`). @default 0 */
  replicas?: number;
}

/**
 * 3 masters (and `replicas` replicas each), slots spread by `redis-cli --cluster create`; waits
 * for cluster_state:ok (and, with replicas, for every replica's link to its master).
 */
export async function startCluster(opts: StartClusterOptions = {}): Promise<ClusterSetup> {
  const replicas = opts.replicas ?? 0;
  const dir = tempDir('cluster');
  const servers = new Map<number, ServerProcess>();
  const stop = async () => {
    await Promise.all([...servers.values()].map((s) => s.kill()));
    removeDir(dir);
  };
  try {
    const ports: number[] = [];
    for (let i = 0; i < 3 * (1 + replicas); i++) {
      const port = await freePort();
      // The bus port is chosen explicitly: port+10000 may be taken or above 65535.
      const busPort = await freePort();
      const server = new ServerProcess(port, [
        '--port', String(port), '--bind', HOST, '--dir', dir, '--save', '', '--appendonly', 'no',
        '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`,
        '--cluster-port', String(busPort), '--cluster-node-timeout', '3000',
        '--dbfilename', `dump-${port}.rdb`,
      ]); // prettier-ignore
      servers.set(port, server);
      await server.start();
      ports.push(port);
    }
    await new Promise<void>((resolve, reject) => {
      execFile(
        'redis-cli',
        [
          '--cluster', 'create', ...ports.map((p) => `${HOST}:${p}`),
          '--cluster-replicas', String(replicas), '--cluster-yes',
        ], // prettier-ignore
        { timeout: 30_000 },
        (err, _stdout, stderr) => (err ? reject(new Error(`${err.message} ${stderr}`)) : resolve()),
      );
    });
    for (const port of ports) {
      await waitFor(`cluster_state:ok on ${port}`, async () =>
        (await redisCli(port, 'CLUSTER', 'INFO')).includes('cluster_state:ok'),
      );
    }
    // Replicas are attached after the slots are assigned: wait until every node has its role.
    let nodes: ClusterNode[] = [];
    await waitFor('every node in its role', async () => {
      nodes = await clusterNodes(ports[0] ?? 0);
      return (
        nodes.filter((n) => n.master && n.slots.length > 0).length === 3 &&
        nodes.filter((n) => !n.master).length === 3 * replicas
      );
    });
    for (const node of nodes.filter((n) => !n.master)) {
      await waitFor(`replica ${node.port} linked to its master`, async () =>
        (await redisCli(node.port, 'INFO', 'replication')).includes('master_link_status:up'),
      );
    }
    const masters = nodes.filter((n) => n.master).map((n) => n.port);
    return {
      url: `redis-cluster://${masters.map((p) => `${HOST}:${p}`).join(',')}`,
      ports: [...masters, ...ports.filter((p) => !masters.includes(p))],
      async masterOf(key) {
        const live = [...servers.entries()].filter(([, s]) => s.running).map(([p]) => p);
        const asked = live[0] ?? 0;
        const slot = Number((await redisCli(asked, 'CLUSTER', 'KEYSLOT', key)).trim());
        const owner = (await clusterNodes(asked)).find(
          (n) => n.master && n.slots.some(([from, to]) => slot >= from && slot <= to),
        );
        if (!owner) throw new Error(`no master holds slot ${slot}`);
        return owner.port;
      },
      kill: async (port) => {
        await servers.get(port)?.kill();
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * `SENTINEL FAILOVER` (the operator's command): resolves once the Sentinels name the replica as
 * master and it accepts writes. Returns the new master's port.
 */
export async function failoverSentinel(setup: SentinelSetup): Promise<number> {
  const sentinelPort = setup.sentinelPorts[0] ?? 0;
  await redisCli(sentinelPort, 'SENTINEL', 'FAILOVER', setup.masterName);
  await waitFor('the replica is the master', async () =>
    (
      await redisCli(sentinelPort, 'SENTINEL', 'get-master-addr-by-name', setup.masterName)
    ).includes(String(setup.replicaPort)),
  );
  await waitFor('the new master accepts writes', async () =>
    (await redisCli(setup.replicaPort, 'INFO', 'replication')).includes('role:master'),
  );
  return setup.replicaPort;
}

/**
 * Crashes the master serving `key`'s slot; resolves once its replica took the slot over (after the
 * node timeout) and the cluster is ok again. Returns the new master's port.
 */
export async function failoverClusterMaster(cluster: ClusterSetup, key: string): Promise<number> {
  const master = await cluster.masterOf(key);
  await cluster.kill(master);
  let promoted = master;
  await waitFor(
    'a replica took over the slot',
    async () => {
      promoted = await cluster.masterOf(key);
      return (
        promoted !== master &&
        (await redisCli(promoted, 'CLUSTER', 'INFO')).includes('cluster_state:ok')
      );
    },
    60_000,
  );
  return promoted;
}

/** A Redis a test file runs against, whatever its topology. */
export interface RedisBackend {
  url: string;
  close(): Promise<void>;
}

/** The topologies a Redis-backed suite runs on: standalone and a three-master Cluster. */
export const REDIS_BACKENDS: [string, () => Promise<RedisBackend>][] = [
  [
    'standalone',
    async () => {
      const s = await startRedis();
      return { url: s.url, close: () => s.stop() };
    },
  ],
  [
    'cluster',
    async () => {
      const c = await startCluster();
      return { url: c.url, close: () => c.stop() };
    },
  ],
];
