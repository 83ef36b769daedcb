// The README's first command: `npm start` = `sipfleet up --demo`. The real CLI starts an embedded
// redis-server, the demo media servers, edges routing through dispatcher set 1, a prober and a
// route-api; the sipp command it prints must place calls that all succeed, and SIGTERM must leave
// nothing running. Ports come from the kernel so the test never clashes with a developer's fleet.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { SIPFLEET_BIN } from '@sipfleet/test-helpers/edge';
import { freeRange } from '@sipfleet/test-helpers/ports';
import {
  type CleanupOwner,
  type TrackedProcess,
  spawnTracked,
} from '@sipfleet/test-helpers/processes';
import { type SippStats, runSipp } from '@sipfleet/test-helpers/sipp';

const EDGES = 2;

interface Fleet {
  up: TrackedProcess;
  /** Every process `up` reported (redis-server, media servers, edges, prober, route-api). */
  pids: Map<string, number>;
  /** The printed sipp command. */
  sipp: { scenario: string; host: string; port: number; service: string };
  dataDir: string;
  /** The generated configs' temp dir, removed by `up` when it stops. */
  configDir: string;
}

async function startUp(owner: CleanupOwner): Promise<Fleet> {
  const sipPort = await freeRange(EDGES);
  const adminPort = await freeRange(EDGES + 2);
  const demoPort = await freeRange(2);
  const dataDir = mkdtempSync(join(tmpdir(), 'sipfleet-up-test-'));
  const env = { ...process.env };
  delete env.SIPFLEET_REDIS_URL; // the embedded redis-server is part of what is tested
  const up = spawnTracked(
    process.execPath,
    [
      SIPFLEET_BIN,
      'up',
      '--demo',
      '--edges',
      String(EDGES),
      '--sip-port',
      String(sipPort),
      '--admin-port',
      String(adminPort),
      '--demo-port',
      String(demoPort),
      '--data-dir',
      dataDir,
    ],
    { name: 'sipfleet up', env },
  );
  owner.after(async () => {
    await up.stop({ graceMs: 30_000 });
    rmSync(dataDir, { recursive: true, force: true });
  });
  await up.waitForOutput(/sipfleet up: ready/, 90_000);
  const pids = new Map<string, number>();
  for (const m of up.stdout.matchAll(/^sipfleet up: (\S+) .*pid (\d+)/gm)) {
    pids.set(m[1] ?? '', Number(m[2]));
  }
  const command = /^ {2}(sipp .*)$/m.exec(up.stdout)?.[1];
  assert.ok(command, `no sipp command printed:\n${up.output()}`);
  const scenario = /-sf (\S+)/.exec(command)?.[1];
  const target = /\s(\d+\.\d+\.\d+\.\d+):(\d+)\s/.exec(command);
  const service = /-s (\S+)/.exec(command)?.[1];
  assert.ok(scenario && target && service, `cannot parse the sipp command: ${command}`);
  const configDir = /^sipfleet up: configs +(\S+)/m.exec(up.stdout)?.[1];
  assert.ok(configDir && existsSync(configDir), `no configs dir printed:\n${up.stdout}`);
  return {
    up,
    pids,
    configDir,
    sipp: { scenario, host: target[1] ?? '', port: Number(target[2]), service },
    dataDir,
  };
}

/** Running: kill(pid, 0) succeeds and the process is not a zombie waiting to be reaped. */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false; // gone between the two checks
  }
}

function explain(stats: SippStats, up: TrackedProcess): string {
  return `${stats.errors.slice(0, 5).join('\n')}\n${stats.output.slice(-2000)}\n--- up ---\n${up
    .output()
    .slice(-4000)}`;
}

describe('sipfleet up', () => {
  test('--demo: the printed sipp command places calls that all succeed; SIGTERM stops everything', async (t) => {
    const fleet = await startUp(t);
    const { up, pids } = fleet;
    const names = [...pids.keys()].sort();
    assert.deepEqual(
      names,
      ['edge-1', 'edge-2', 'media-1', 'media-2', 'prober', 'redis', 'route-api'],
      up.stdout,
    );
    assert.ok(existsSync(fleet.sipp.scenario), `${fleet.sipp.scenario} does not exist`);

    // The printed command with -m/-r turned down to 20 calls at 10 cps.
    const stats = await runSipp({
      scenario: fleet.sipp.scenario,
      remote: { host: fleet.sipp.host, port: fleet.sipp.port },
      service: fleet.sipp.service,
      rate: 10,
      maxCalls: 20,
      callLengthMs: 100,
      owner: t,
    });
    assert.equal(stats.callsCreated, 20, explain(stats, up));
    assert.equal(stats.successful, 20, explain(stats, up));
    assert.equal(stats.failed, 0, explain(stats, up));

    up.signal('SIGTERM');
    const status = await up.waitForExit(60_000);
    assert.deepEqual(status, { code: 0, signal: null }, up.output());
    assert.match(up.stdout, /sipfleet up: stopped/);
    // Round-robin over set 1: both media servers answered (each prints its counts when it stops).
    const invites = [
      ...up.stdout.matchAll(/demo-uas: \S+ stopped \(SIGTERM\): (\d+) INVITEs/g),
    ].map((m) => Number(m[1]));
    assert.equal(invites.length, 2, up.stdout);
    assert.equal(
      invites.reduce((a, b) => a + b, 0),
      20,
    );
    assert.ok(
      invites.every((n) => n > 0),
      `one media server got every call: ${invites.join(', ')}`,
    );
    for (const [name, pid] of pids)
      assert.equal(running(pid), false, `${name} (pid ${pid}) still runs`);
    assert.equal(existsSync(fleet.configDir), false, `${fleet.configDir} was not removed`);
  });

  test('a child that dies stops the fleet with exit 1 and names it', async (t) => {
    const { up, pids } = await startUp(t);
    const media = pids.get('media-1');
    assert.ok(media !== undefined, up.stdout);
    process.kill(media, 'SIGKILL');
    const status = await up.waitForExit(60_000);
    assert.deepEqual(status, { code: 1, signal: null }, up.output());
    assert.match(
      up.stderr,
      new RegExp(`media-1 \\(pid ${media}\\) exited unexpectedly \\(signal SIGKILL\\)`),
    );
    for (const [name, pid] of pids)
      assert.equal(running(pid), false, `${name} (pid ${pid}) still runs`);
  });

  test('a bad --edges exits 2 with a clear message and starts nothing', async (t) => {
    for (const edges of ['0', 'two', '-1', '33']) {
      const up = spawnTracked(process.execPath, [SIPFLEET_BIN, 'up', `--edges=${edges}`], {
        owner: t,
        name: `sipfleet up --edges ${edges}`,
      });
      const status = await up.waitForExit(30_000);
      assert.deepEqual(status, { code: 2, signal: null }, up.output());
      assert.match(
        up.stderr,
        new RegExp(`--edges must be 1-32 or auto \\(got '${edges.replace('.', '\\.')}'\\)`),
      );
      assert.doesNotMatch(up.stdout, /redis/);
    }
  });
});
