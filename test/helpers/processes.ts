// Child processes for tests (sipp, edges, probers): every child is tracked and killed when its test
// ends, and again when this process exits or is interrupted, so a failed or crashed test never leaves
// one running. Output is kept (the tail) so a failure message can show what the child said.
import { type ChildProcess, spawn } from 'node:child_process';

/** How a child ended: exit code, or the signal that killed it. */
export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Anything with node:test's `after` (a TestContext `t`, or a suite context). */
export interface CleanupOwner {
  after(fn: () => unknown): void;
}

export interface SpawnTrackedOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Stop the child when this test (or suite) ends. Without it the caller stops it; exit hooks still apply. */
  owner?: CleanupOwner;
  /** How much of stdout and of stderr to keep, each (the tail). @default 262144 */
  maxOutputBytes?: number;
  /** Label used in error messages. @default the command name */
  name?: string;
}

export interface StopOptions {
  /** First signal. @default 'SIGTERM' */
  signal?: NodeJS.Signals;
  /** How long to wait after `signal` before SIGKILL. @default 5000 */
  graceMs?: number;
}

const live = new Set<ChildProcess>();
let hooksInstalled = false;

function killAllNow(): void {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}

/** Kills children at exit, SIGINT and SIGTERM; the signal then keeps its usual effect (we exit). */
function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.once('exit', killAllNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      killAllNow();
      process.removeListener(signal, onSignal);
      // Re-raise only if nobody else handles it: a listener we add must not swallow the interrupt.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

/** Keeps the last `max` bytes of a stream. */
class Tail {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly max: number) {}
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > this.max && this.chunks.length > 1) {
      this.size -= this.chunks.shift()?.length ?? 0;
    }
  }
  toString(): string {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - this.max)).toString('latin1');
  }
}

export class TrackedProcess {
  readonly child: ChildProcess;
  readonly name: string;
  private readonly out: Tail;
  private readonly err: Tail;
  private readonly exitPromise: Promise<ExitStatus>;
  private status: ExitStatus | undefined;
  private readonly outputWaiters = new Set<() => void>();

  constructor(command: string, args: readonly string[], opts: SpawnTrackedOptions = {}) {
    installHooks();
    this.name = opts.name ?? command;
    const max = opts.maxOutputBytes ?? 256 * 1024;
    this.out = new Tail(max);
    this.err = new Tail(max);
    this.child = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(this.child);
    this.child.stdout?.on('data', (d: Buffer) => this.onData(this.out, d));
    this.child.stderr?.on('data', (d: Buffer) => this.onData(this.err, d));
    this.exitPromise = new Promise((resolve) => {
      const done = (status: ExitStatus): void => {
        if (this.status) return;
        this.status = status;
        live.delete(this.child);
        for (const wake of this.outputWaiters) wake();
        resolve(status);
      };
      // 'close' comes after the stdio streams ended, so the output is complete by then.
      this.child.once('close', (code, signal) => done({ code, signal }));
      // spawn failure (ENOENT): no 'close' with a status follows on every Node version.
      this.child.once('error', (e) => {
        this.err.push(Buffer.from(`spawn error: ${e.message}\n`));
        done({ code: null, signal: null });
      });
    });
    opts.owner?.after(() => this.stop());
  }

  private onData(tail: Tail, chunk: Buffer): void {
    tail.push(chunk);
    for (const wake of this.outputWaiters) wake();
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Set once the child has exited (and its output streams closed). */
  get exitStatus(): ExitStatus | undefined {
    return this.status;
  }

  get stdout(): string {
    return this.out.toString();
  }

  get stderr(): string {
    return this.err.toString();
  }

  /** stdout then stderr, for failure messages. */
  output(): string {
    const err = this.stderr;
    return err ? `${this.stdout}\n--- stderr ---\n${err}` : this.stdout;
  }

  /** Sends a signal if the child still runs (e.g. SIGUSR1 to make sipp quit gracefully). */
  signal(signal: NodeJS.Signals): void {
    if (!this.status && this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill(signal);
    }
  }

  /** Resolves with the exit status; rejects after `timeoutMs` (the child keeps running). */
  async waitForExit(timeoutMs = 30_000): Promise<ExitStatus> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(new Error(`${this.name} did not exit within ${timeoutMs} ms\n${this.output()}`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([this.exitPromise, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Resolves with the first match of `pattern` in stdout or stderr (output so far included). */
  waitForOutput(pattern: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined = undefined;
      const check = (): void => {
        const match = this.stdout.match(pattern) ?? this.stderr.match(pattern);
        if (match) {
          finish();
          resolve(match);
        } else if (this.status) {
          finish();
          const how = describe(this.status);
          reject(
            new Error(`${this.name} exited (${how}) before printing ${pattern}\n${this.output()}`),
          );
        }
      };
      const finish = (): void => {
        clearTimeout(timer);
        this.outputWaiters.delete(check);
      };
      timer = setTimeout(() => {
        finish();
        reject(new Error(`${this.name}: no ${pattern} within ${timeoutMs} ms\n${this.output()}`));
      }, timeoutMs);
      this.outputWaiters.add(check);
      check();
    });
  }

  /** Signal, wait up to `graceMs`, then SIGKILL. Resolves when the child is gone. Idempotent. */
  async stop(opts: StopOptions = {}): Promise<ExitStatus> {
    if (this.status) return this.status;
    this.signal(opts.signal ?? 'SIGTERM');
    try {
      return await this.waitForExit(opts.graceMs ?? 5000);
    } catch {
      this.signal('SIGKILL');
      return this.exitPromise;
    }
  }
}

function describe(status: ExitStatus): string {
  return status.signal ? `signal ${status.signal}` : `code ${String(status.code)}`;
}

/** Starts a tracked child: see {@link TrackedProcess}. */
export function spawnTracked(
  command: string,
  args: readonly string[],
  opts: SpawnTrackedOptions = {},
): TrackedProcess {
  return new TrackedProcess(command, args, opts);
}

/** How many tracked children are still running (a test can assert it drops to 0). */
export function liveProcessCount(): number {
  return live.size;
}

/**
 * Collects the unhandled promise rejections that happen until `owner` ends: a test that expects
 * none asserts the returned array is empty.
 */
export function collectUnhandledRejections(owner: CleanupOwner): unknown[] {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  owner.after(() => process.off('unhandledRejection', onUnhandled));
  return unhandled;
}
