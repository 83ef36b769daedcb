// The README's first command on a fresh clone: `npm start` must build what a clone lacks (dist/),
// start the demo fleet, and the fleet must carry a real call; Ctrl-C (SIGINT to the process group,
// as a terminal sends it) must leave nothing running.
//
// The clone is of this repository's HEAD commit (what CI clones; uncommitted changes are not in
// it), in a temp dir, with HOME in the temp dir too: `up` keeps its embedded Redis's AOF in
// ~/.local/state/sipfleet/redis, which must not be the user's. node_modules is reused from this
// checkout instead of `npm install` (CI's own fresh clone runs the install; this test is about the
// build step and the start-up): every package is a symlink to ours, except the workspace links,
// recreated so they point into the clone, or the clone would run our packages' dist/.
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freeRange } from '@sipfleet/test-helpers/ports';
import { runSipp } from '@sipfleet/test-helpers/sipp';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Recreates `from` (a node_modules dir) at `to`: links (the workspace packages, `.bin` entries) as
 * the same relative link, so they resolve inside the clone; packages as links to ours; files copied.
 */
function mirrorNodeModules(from: string, to: string): void {
  mkdirSync(to);
  for (const name of readdirSync(from)) {
    const source = join(from, name);
    const target = join(to, name);
    const stat = lstatSync(source);
    if (stat.isSymbolicLink()) symlinkSync(readlinkSync(source), target);
    else if (stat.isDirectory() && (name.startsWith('@') || name === '.bin'))
      mirrorNodeModules(source, target);
    else if (stat.isDirectory()) symlinkSync(source, target);
    else copyFileSync(source, target);
  }
}

/** Running: the pid exists and is not a zombie waiting to be reaped. */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/**
 * Pids of live processes whose command line or environment mentions `text` (the temp dir: every
 * process `npm start` starts has HOME in it, even redis-server, which rewrites its command line).
 */
function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      const environ = readFileSync(`/proc/${entry}/environ`, 'utf8');
      if ((cmdline + environ).includes(text) && running(Number(entry))) pids.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return pids;
}

/** Output of a child, and a wait for a pattern in it or for its exit. */
class Watched {
  output = '';
  status: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly wake = new Set<() => void>();

  constructor(readonly child: ChildProcess) {
    const collect = (d: Buffer): void => {
      this.output += d.toString();
      for (const w of this.wake) w();
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    child.once('close', (code, signal) => {
      this.status = { code, signal };
      for (const w of this.wake) w();
    });
  }

  until<T>(what: string, check: () => T | undefined, timeoutMs: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.wake.delete(look);
        reject(new Error(`no ${what} within ${timeoutMs} ms:\n${this.output}`));
      }, timeoutMs);
      const look = (): void => {
        const value = check();
        if (value === undefined && this.status === undefined) return;
        clearTimeout(timer);
        this.wake.delete(look);
        if (value === undefined) {
          reject(
            new Error(`exited (${JSON.stringify(this.status)}) before ${what}:\n${this.output}`),
          );
        } else resolve(value);
      };
      this.wake.add(look);
      look();
    });
  }
}

test('npm start on a fresh clone builds, runs the demo fleet, carries a call, and Ctrl-C stops it all', async (t) => {
  const temp = mkdtempSync(join(tmpdir(), 'sipfleet-fresh-clone-'));
  /** npm's pid, which is its process group's id. */
  const npmGroup: { id?: number } = {};
  t.after(() => {
    // Whatever is left (a failed assertion): kill it, then remove the clone.
    const left = processesMentioning(temp);
    if (npmGroup.id !== undefined) left.push(-npmGroup.id);
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    rmSync(temp, { recursive: true, force: true });
  });
  const clone = join(temp, 'sipfleet');
  const home = join(temp, 'home');
  mkdirSync(home);
  const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  execFileSync('git', ['clone', '--quiet', '--no-checkout', ROOT, clone]);
  execFileSync('git', ['checkout', '--quiet', '--detach', head], { cwd: clone });
  assert.equal(existsSync(join(clone, 'services/sipfleet/dist')), false, 'the clone has a dist/');
  mirrorNodeModules(join(ROOT, 'node_modules'), join(clone, 'node_modules'));
  // The checkout wrote package-lock.json just now: npm's marker must be newer, as after an install.
  const lockTime = statSync(join(clone, 'package-lock.json')).mtime;
  const later = new Date(lockTime.getTime() + 1000);
  utimesSync(join(clone, 'node_modules', '.package-lock.json'), later, later);

  // Free ranges instead of 5060/9060/5080 (a developer's fleet may hold those): 2 edges' SIP ports,
  // their admin ports plus the prober's and the route API's, 2 demo media servers. Below the
  // ephemeral range: `up` binds them only after the build, half a minute later.
  const sipPort = await freeRange(2);
  const adminPort = await freeRange(4);
  const demoPort = await freeRange(2);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: home,
    npm_config_update_notifier: 'false',
  };
  for (const name of Object.keys(env)) if (name.startsWith('SIPFLEET_')) delete env[name];
  // `npm start -- ARGS` appends ARGS to `sipfleet up --demo`.
  const args = ['start', '--', '--sip-port', String(sipPort), '--admin-port', String(adminPort)];
  args.push('--demo-port', String(demoPort));
  // Its own process group, like a shell job: SIGINT goes to npm and everything in the group.
  const npm = new Watched(
    spawn('npm', args, { cwd: clone, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] }),
  );
  const group = npm.child.pid;
  assert.ok(group !== undefined);
  npmGroup.id = group;

  await npm.until(
    '"sipfleet up: ready"',
    () => (/sipfleet up: ready/.test(npm.output) ? true : undefined),
    180_000,
  );
  assert.ok(existsSync(join(clone, 'services/sipfleet/dist/cli.js')), 'npm start built nothing');
  assert.ok(
    existsSync(join(home, '.local/state/sipfleet/redis')),
    `the embedded Redis's data is not under HOME:\n${npm.output}`,
  );
  const pids = new Map<string, number>();
  for (const m of npm.output.matchAll(/^sipfleet up: (\S+) .*pid (\d+)/gm)) {
    pids.set(m[1] ?? '', Number(m[2]));
  }
  assert.deepEqual(
    [...pids.keys()].sort(),
    ['edge-1', 'edge-2', 'media-1', 'media-2', 'prober', 'redis', 'route-api'],
    npm.output,
  );
  const command = /^ {2}(sipp .*)$/m.exec(npm.output)?.[1];
  assert.ok(command, `no sipp command printed:\n${npm.output}`);
  const scenario = /-sf (\S+)/.exec(command)?.[1];
  const target = /\s(\d+\.\d+\.\d+\.\d+):(\d+)\s/.exec(command);
  const service = /-s (\S+)/.exec(command)?.[1];
  assert.ok(scenario && target && service, `cannot parse the sipp command: ${command}`);
  assert.ok(scenario.startsWith(clone), `the sipp scenario is not the clone's: ${scenario}`);
  assert.equal(Number(target[2]), sipPort);

  // One call, as the printed command places them (its -r/-m turned down to a single call).
  const stats = await runSipp({
    scenario,
    remote: { host: target[1] ?? '', port: Number(target[2]) },
    service,
    maxCalls: 1,
    callLengthMs: 100,
    owner: t,
  });
  const why = `${stats.errors.join('\n')}\n${stats.output.slice(-2000)}\n--- npm start ---\n${npm.output}`;
  assert.equal(stats.successful, 1, why);
  assert.equal(stats.failed, 0, why);

  process.kill(-group, 'SIGINT');
  const status = await npm.until('exit', () => npm.status, 60_000);
  // npm re-raises the SIGINT once its script has ended, as a shell job does.
  assert.deepEqual(status, { code: null, signal: 'SIGINT' }, npm.output);
  assert.match(npm.output, /sipfleet up: stopping \(SIGINT\)/);
  assert.match(npm.output, /sipfleet up: stopped/);
  for (const [name, pid] of pids)
    assert.equal(running(pid), false, `${name} (pid ${pid}) still runs`);
  assert.deepEqual(processesMentioning(temp), [], 'processes of the clone still run');
});
