// Real `sipfleet prober` processes for e2e tests: the built CLI, a config file in a temp dir (1 s
// ping interval, 500 ms timeout, probing mode 1, shards of 2 unless overridden), and a wait for
// `/readyz`. Stopped (and the dir removed) when the owner test ends.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SIPFLEET_BIN } from './edge.js';
import { freePort } from './ports.js';
import { type CleanupOwner, type TrackedProcess, spawnTracked } from './processes.js';

/** The ping interval probers started here use unless `dispatcher.pingIntervalMs` says otherwise. */
export const PROBER_INTERVAL_MS = 1000;

export interface ProberHandle {
  readonly process: TrackedProcess;
  readonly adminPort: number;
  /** One metric's value, summed over its label sets. */
  metric(name: string): Promise<number>;
}

/**
 * Starts a prober on `redisUrl`/`prefix`. `dispatcher` is merged into the dispatcher section,
 * `config` into the whole file (e.g. `{ keepalive: { pingIntervalMs: 500 } }`).
 */
export async function startProber(
  owner: CleanupOwner,
  redisUrl: string,
  prefix: string,
  dispatcher: Record<string, unknown> = {},
  config: Record<string, unknown> = {},
): Promise<ProberHandle> {
  const adminPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sipfleet-prober-'));
  const file = join(dir, 'prober.json');
  writeFileSync(
    file,
    JSON.stringify({
      nodeId: `prober-${adminPort}`,
      redis: { url: redisUrl, prefix },
      sip: { address: '127.0.0.1', tcp: false },
      admin: { address: '127.0.0.1', port: adminPort },
      dispatcher: {
        pingIntervalMs: PROBER_INTERVAL_MS,
        timeoutMs: 500,
        probingMode: 1,
        ...dispatcher,
      },
      shardSize: 2,
      log: { level: 'warn' },
      ...config,
    }),
  );
  const proc = spawnTracked(process.execPath, [SIPFLEET_BIN, 'prober', '--config', file], {
    name: `prober:${adminPort}`,
  });
  owner.after(async () => {
    await proc.stop({ signal: 'SIGKILL' });
    rmSync(dir, { recursive: true, force: true });
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitStatus) throw new Error(`prober exited:\n${proc.output()}`);
    try {
      if ((await fetch(`http://127.0.0.1:${adminPort}/readyz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`prober did not start:\n${proc.output()}`);
    await sleep(50);
  }
  return {
    process: proc,
    adminPort,
    async metric(name) {
      const body = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
      let sum = 0;
      for (const line of body.split('\n')) {
        const m = /^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
        if (m && m[1] === name) sum += Number(m[3]);
      }
      return sum;
    },
  };
}
