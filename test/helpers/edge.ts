// Real `sipfleet edge` processes for e2e tests: the built CLI, a config file in a temp dir, free
// ports, and a wait for the "edge started" log line. Stopped (and the dir removed) when the owner
// test ends.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';
import { spawnTracked } from './processes.js';
import type { CleanupOwner, TrackedProcess } from './processes.js';

export const SIPFLEET_BIN = fileURLToPath(
  new URL('../../services/sipfleet/bin/sipfleet.js', import.meta.url),
);

export interface EdgeHandle {
  readonly port: number;
  readonly adminPort: number;
  readonly process: TrackedProcess;
  /** `http://127.0.0.1:<admin>` + path, as text. */
  admin(path: string): Promise<{ status: number; body: string }>;
  /** One metric's value (summed over label sets matching `labels`). */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  stop(): Promise<void>;
}

export interface StartEdgeOptions {
  /**
   * Return only once `/readyz` answers 200 (Redis read, every mirror in step): an edge never
   * waits for Redis itself. False: return as soon as the ports answer.
   * @default true
   */
  ready?: boolean;
  /** Node.js options before the CLI (`--cpu-prof` is refused in NODE_OPTIONS). @default [] */
  nodeArgs?: string[];
  /**
   * The `sipfleet.js` to run: another checkout's, built, for a before/after comparison.
   * @default this checkout's services/sipfleet/bin/sipfleet.js
   */
  bin?: string;
  /** Listeners after the UDP and TCP ones (a `tls` listener on a port of its own). @default none */
  extraListen?: Record<string, unknown>[];
}

/** Starts an edge listening on UDP and TCP at 127.0.0.1:<free port>; `config` is merged in. */
export async function startEdge(
  owner: CleanupOwner,
  config: Record<string, unknown> = {},
  env: NodeJS.ProcessEnv = {},
  options: StartEdgeOptions = {},
): Promise<EdgeHandle> {
  const port = await freePort();
  const adminPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sipfleet-edge-'));
  const file = join(dir, 'edge.json');
  writeFileSync(
    file,
    JSON.stringify({
      nodeId: `edge-${port}`,
      listen: [
        { protocol: 'udp', address: '127.0.0.1', port },
        { protocol: 'tcp', address: '127.0.0.1', port },
        ...(options.extraListen ?? []),
      ],
      admin: { address: '127.0.0.1', port: adminPort },
      log: { level: 'warn' },
      ...config,
    }),
  );
  const proc = spawnTracked(
    process.execPath,
    [...(options.nodeArgs ?? []), options.bin ?? SIPFLEET_BIN, 'edge', '--config', file],
    {
      env: { ...process.env, ...env },
      name: `edge:${port}`,
    },
  );
  const stop = async (): Promise<void> => {
    await proc.stop({ signal: 'SIGKILL' });
    rmSync(dir, { recursive: true, force: true });
  };
  owner.after(stop);
  // The edge logs at warn, so wait for the admin port instead of a log line.
  const deadline = Date.now() + 15_000;
  const path = options.ready === false ? '/healthz' : '/readyz';
  for (;;) {
    if (proc.exitStatus) throw new Error(`edge exited at start-up:\n${proc.output()}`);
    try {
      const res = await fetch(`http://127.0.0.1:${adminPort}${path}`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`edge did not start:\n${proc.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const admin = async (path: string) => {
    const res = await fetch(`http://127.0.0.1:${adminPort}${path}`);
    return { status: res.status, body: await res.text() };
  };
  return {
    port,
    adminPort,
    process: proc,
    admin,
    async metric(name, labels = {}) {
      const { body } = await admin('/metrics');
      let sum = 0;
      for (const line of body.split('\n')) {
        if (!line.startsWith(name)) continue;
        const m = /^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
        if (!m || m[1] !== name) continue;
        const set = m[2] ?? '';
        if (Object.entries(labels).every(([k, v]) => set.includes(`${k}="${v}"`))) {
          sum += Number(m[3]);
        }
      }
      return sum;
    },
    stop,
  };
}
