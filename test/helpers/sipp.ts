// Real sipp (3.6, Debian package sip-tester) for end-to-end tests: a UAC run to completion
// (runSipp) or a UAS in the background (startSipp + stop). Each run gets a temp dir for sipp's
// statistics CSV (-trace_stat), error log (-trace_err) and optional message trace; the result is
// parsed from the final CSV row, so a test asserts on counters, not on screen text. Every sipp is
// a tracked child (processes.ts): it never outlives its test or this process.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './ports.js';
import { type CleanupOwner, type TrackedProcess, spawnTracked } from './processes.js';

/** The project's own scenario files. */
export const SCENARIOS_DIR = fileURLToPath(new URL('../scenarios/', import.meta.url));

/** Path of one of our scenarios: `scenarioPath('uac-call')` -> `test/scenarios/uac-call.xml`. */
export function scenarioPath(name: string): string {
  return join(SCENARIOS_DIR, name.endsWith('.xml') ? name : `${name}.xml`);
}

export type SippTransport = 'udp' | 'tcp';

export interface SippOptions {
  /**
   * A scenario file path, the name of one of ours in test/scenarios (`'uac-call'`), or a sipp
   * built-in (`{ builtin: 'uac' }`; note the built-ins ignore Record-Route, see the e2e notes).
   */
  scenario: string | { builtin: string };
  /** Where a UAC sends everything (sipp's remote host, the proxy in e2e tests). */
  remote?: string | { host: string; port: number };
  /** -i: local address for sockets and for Via/Contact. @default '127.0.0.1' */
  localIp?: string;
  /** -p: local port. @default a free port from freePort() */
  localPort?: number;
  /** UDP (-t u1, one socket) or TCP (see `tcpMode`). @default 'udp' */
  transport?: SippTransport;
  /**
   * TCP mode: t1 = one connection (a UAC), tn = a connection per peer, as a UAS must accept (a proxy
   * opens several, and with t1 sipp quits when its one connection closes).
   * @default 't1' when `remote` is set, else 'tn'
   */
  tcpMode?: 't1' | 'tn';
  /** -s: the R-URI user, [service] in scenarios. */
  service?: string;
  /** -r: calls per rate period (per second by default). */
  rate?: number;
  /** -rp: rate period in ms. @default 1000 (sipp's) */
  ratePeriodMs?: number;
  /** -m: stop after this many calls. */
  maxCalls?: number;
  /** -l: at most this many simultaneous calls. */
  limit?: number;
  /** -d: length of a `<pause/>` without duration (the call length in uac-call.xml), ms. */
  callLengthMs?: number;
  /** -aa: answer INFO, NOTIFY, OPTIONS and UPDATE 200 outside the scenario (keepalive probing). */
  autoAnswer?: boolean;
  /** -inf: CSV injection file ([field0] ... in the scenario). */
  injectionFile?: string;
  /** -key name value: [name] in the scenario. */
  keys?: Record<string, string>;
  /** -set name value: scenario variables. */
  set?: Record<string, string | number>;
  /** -recv_timeout: a call aborts (fails) when an expected message does not come within this, ms. */
  recvTimeoutMs?: number;
  /** -max_retrans and -max_invite_retrans: UDP retransmissions before a call fails. */
  maxRetrans?: number;
  /** -trace_msg: keep every message sent and received (result.messages). @default false */
  traceMessages?: boolean;
  /** More sipp arguments, appended as given. */
  extraArgs?: string[];
  /** Stop sipp when this test ends (t or a suite context). */
  owner?: CleanupOwner;
}

export interface SippStats {
  /** sipp's exit code: 0 all calls succeeded, 1 some failed, 97/99 other normal ends, 255 fatal. */
  exitCode: number | null;
  /** True when sipp died of a fatal error (bind failure, TCP connect refused, bad scenario). */
  fatal: boolean;
  callsCreated: number;
  successful: number;
  failed: number;
  /** Calls still in progress when sipp stopped. */
  currentCalls: number;
  retransmissions: number;
  /** Calls failed on a message the scenario did not expect. */
  unexpectedMessages: number;
  outOfCallMessages: number;
  deadCallMessages: number;
  autoAnswered: number;
  warnings: number;
  fatalErrors: number;
  /** Every Failed*(C) counter by its name without the prefix: `MaxUDPRetrans`, `TcpConnect`, ... */
  failures: Record<string, number>;
  /** Mean of each response time (rtd) counter, ms: `responseTimesMs[0]` is ResponseTime1. */
  responseTimesMs: number[];
  /** Standard deviation of each response time counter, ms. */
  responseTimeStDevMs: number[];
  callLengthMs: number;
  /** The final statistics row as sipp wrote it (cumulative `(C)` and periodic `(P)` columns). */
  raw: Record<string, string>;
  /** Events from sipp's error log (-trace_err), oldest first. */
  errors: string[];
  /** Per scenario line counters from sipp's final scenario screen, in scenario order. */
  scenario: ScenarioLine[];
  /** sipp's stdout and stderr (final screens). */
  output: string;
  /** The message trace when `traceMessages` was set. */
  messages?: string;
}

/** One line of sipp's scenario screen: a message sent or received and how often. */
export interface ScenarioLine {
  /** A method (`INVITE`) or a status (`180`). */
  message: string;
  direction: 'sent' | 'received';
  count: number;
  retransmissions: number;
  timeouts: number;
  unexpected: number;
}

const DEFAULT_IP = '127.0.0.1';

/** Builds the argument list; exported for the harness test and for debugging a failed run. */
export function sippArgs(
  opts: SippOptions,
  localPort: number,
  files: { stats: string; errors: string; messages: string },
): string[] {
  const args: string[] = [];
  if (typeof opts.scenario === 'string') {
    const path = opts.scenario.includes('/') ? opts.scenario : scenarioPath(opts.scenario);
    args.push('-sf', path);
  } else {
    args.push('-sn', opts.scenario.builtin);
  }
  if (opts.remote !== undefined) {
    args.push(
      typeof opts.remote === 'string' ? opts.remote : `${opts.remote.host}:${opts.remote.port}`,
    );
  }
  args.push('-i', opts.localIp ?? DEFAULT_IP, '-p', String(localPort));
  if ((opts.transport ?? 'udp') === 'udp') {
    args.push('-t', 'u1');
  } else {
    const mode = opts.tcpMode ?? (opts.remote === undefined ? 'tn' : 't1');
    args.push('-t', mode);
    // tn refuses to start when its default socket limit (50000) exceeds the open-files limit.
    if (mode === 'tn') args.push('-max_socket', '1024');
  }
  const numeric: [string, number | undefined][] = [
    ['-r', opts.rate],
    ['-rp', opts.ratePeriodMs],
    ['-m', opts.maxCalls],
    ['-l', opts.limit],
    ['-d', opts.callLengthMs],
    ['-recv_timeout', opts.recvTimeoutMs],
    ['-max_retrans', opts.maxRetrans],
    ['-max_invite_retrans', opts.maxRetrans],
  ];
  for (const [flag, value] of numeric) if (value !== undefined) args.push(flag, String(value));
  if (opts.service !== undefined) args.push('-s', opts.service);
  if (opts.autoAnswer) args.push('-aa');
  if (opts.injectionFile !== undefined) args.push('-inf', opts.injectionFile);
  for (const [name, value] of Object.entries(opts.keys ?? {})) args.push('-key', name, value);
  for (const [name, value] of Object.entries(opts.set ?? {}))
    args.push('-set', name, String(value));
  // -nostdin: no keyboard (we run without a terminal); stats every second plus a final row at exit.
  args.push('-nostdin', '-trace_stat', '-stf', files.stats, '-fd', '1');
  args.push('-trace_err', '-error_file', files.errors);
  if (opts.traceMessages) args.push('-trace_msg', '-message_file', files.messages);
  args.push(...(opts.extraArgs ?? []));
  return args;
}

/** "HH:MM:SS:uuuuuu" (sipp's time format in the CSV) -> milliseconds. */
function parseDuration(text: string | undefined): number {
  const m = /^(\d+):(\d+):(\d+):(\d+)$/.exec(text?.trim() ?? '');
  if (!m) return Number.NaN;
  const [, h, min, s, us] = m.map(Number) as [number, number, number, number, number];
  return ((h * 60 + min) * 60 + s) * 1000 + us / 1000;
}

/** The last complete row of sipp's `;`-separated statistics CSV, keyed by the header. */
export function parseStatsCsv(text: string): Record<string, string> | undefined {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const header = lines[0]?.split(';');
  const last = lines.length > 1 ? lines[lines.length - 1]?.split(';') : undefined;
  if (!header || !last) return undefined;
  const row: Record<string, string> = {};
  header.forEach((name, i) => {
    if (name !== '') row[name] = last[i] ?? '';
  });
  return row;
}

/**
 * The last scenario screen in sipp's output. The arrows show the peer on the left for a UAC
 * (`INVITE ---------->` sent, `180 <----------` received) and on the right for a UAS
 * (`----------> INVITE` received, `<---------- 180` sent).
 */
export function parseScenarioScreen(output: string): ScenarioLine[] {
  const start = output.lastIndexOf('Messages  Retrans');
  if (start < 0) return [];
  const lines: ScenarioLine[] = [];
  for (const line of output.slice(start).split('\n').slice(1)) {
    if (line.startsWith('-----')) break;
    const m =
      /^\s*(?:(\S+) (-{5,}>|<-{5,})|(-{5,}>|<-{5,}) ?(\S+))\s+(?:\S*RTD\d+\s+)?(\d+)(?:\s+(\d+))?(?:\s+(\d+))?(?:\s+(\d+))?/.exec(
        line,
      );
    if (!m) continue; // pauses, NOPs, labels
    const nameLeft = m[1] !== undefined;
    const arrow = (nameLeft ? m[2] : m[3]) ?? '';
    const rightward = arrow.endsWith('>');
    lines.push({
      message: (nameLeft ? m[1] : m[4]) ?? '',
      direction: nameLeft === rightward ? 'sent' : 'received',
      count: Number(m[5]),
      retransmissions: Number(m[6] ?? 0),
      timeouts: Number(m[7] ?? 0),
      unexpected: Number(m[8] ?? 0),
    });
  }
  return lines;
}

/** How many times `message` was sent or received, over every scenario line showing it. */
export function messageCount(
  stats: SippStats,
  direction: 'sent' | 'received',
  message: string,
): number {
  return stats.scenario
    .filter((l) => l.direction === direction && l.message === message)
    .reduce((sum, l) => sum + l.count, 0);
}

/** sipp's error log has no separator between events, only the timestamp that starts each. */
function parseErrorLog(text: string): string[] {
  return text
    .replace(/^The following events occurred:\s*/, '')
    .split(/(?=\d{4}-\d\d-\d\d\t\d\d:\d\d:\d\d\.\d+\t\d+\.\d+: )/)
    .map((e) => e.trim())
    .filter((e) => e !== '');
}

function statsFromRow(
  row: Record<string, string>,
  exitCode: number | null,
  errors: string[],
  output: string,
): SippStats {
  const count = (name: string): number => Number(row[`${name}(C)`] ?? 'NaN');
  const failures: Record<string, number> = {};
  const responseTimesMs: number[] = [];
  const responseTimeStDevMs: number[] = [];
  for (const key of Object.keys(row)) {
    const failed = /^Failed(\w+)\(C\)$/.exec(key);
    if (failed?.[1]) failures[failed[1]] = count(`Failed${failed[1]}`);
    const rt = /^ResponseTime(\d+)\(C\)$/.exec(key);
    if (rt?.[1]) responseTimesMs[Number(rt[1]) - 1] = parseDuration(row[key]);
    const sd = /^ResponseTime(\d+)StDev\(C\)$/.exec(key);
    if (sd?.[1]) responseTimeStDevMs[Number(sd[1]) - 1] = parseDuration(row[key]);
  }
  return {
    exitCode,
    fatal: exitCode === 255 || exitCode === 254 || exitCode === -1 || exitCode === -2,
    callsCreated: Number(row['TotalCallCreated'] ?? 'NaN'),
    successful: count('SuccessfulCall'),
    failed: count('FailedCall'),
    currentCalls: Number(row['CurrentCall'] ?? 'NaN'),
    retransmissions: count('Retransmissions'),
    unexpectedMessages: count('FailedUnexpectedMessage'),
    outOfCallMessages: count('OutOfCallMsgs'),
    deadCallMessages: count('DeadCallMsgs'),
    autoAnswered: count('AutoAnswered'),
    warnings: count('Warnings'),
    fatalErrors: count('FatalErrors'),
    failures,
    responseTimesMs,
    responseTimeStDevMs,
    callLengthMs: parseDuration(row['CallLength(C)']),
    raw: row,
    errors,
    scenario: parseScenarioScreen(output),
    output,
  };
}

function readOptional(path: string): string {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return '';
  }
}

/** Which sockets are bound, from /proc/net (Linux): no probe packet that sipp would count. */
async function isBound(transport: SippTransport, ip: string, port: number): Promise<boolean> {
  const portHex = port.toString(16).toUpperCase().padStart(4, '0');
  const octets = ip.split('.').map(Number);
  const ipHex =
    octets.length === 4
      ? octets
          .reverse()
          .map((o) => o.toString(16).toUpperCase().padStart(2, '0'))
          .join('')
      : undefined;
  const files =
    transport === 'udp' ? ['/proc/net/udp', '/proc/net/udp6'] : ['/proc/net/tcp', '/proc/net/tcp6'];
  for (const file of files) {
    const table = await readFile(file, 'latin1').catch(() => '');
    for (const line of table.split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (!local?.endsWith(`:${portHex}`)) continue;
      if (transport === 'tcp' && state !== '0A') continue; // 0A = LISTEN
      const addr = local.slice(0, -5);
      if (ipHex === undefined || addr === ipHex || /^0+$/.test(addr)) return true;
    }
  }
  return false;
}

const tempDirs = new Set<string>();
let exitHookInstalled = false;

function makeTempDir(): string {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
    });
  }
  const dir = mkdtempSync(join(tmpdir(), 'sipfleet-sipp-'));
  tempDirs.add(dir);
  return dir;
}

/** A running sipp. */
export class SippProcess {
  private finished: Promise<SippStats> | undefined;

  constructor(
    readonly process: TrackedProcess,
    readonly localIp: string,
    readonly localPort: number,
    readonly transport: SippTransport,
    readonly args: string[],
    private readonly dir: string,
    private readonly files: { stats: string; errors: string; messages: string },
  ) {}

  /** `ip:port` where this sipp listens (give it to a UAC or a dispatcher list). */
  get address(): string {
    return `${this.localIp}:${this.localPort}`;
  }

  /** Resolves once sipp's socket is bound (a UAS is ready to take calls). */
  async ready(timeoutMs = 10_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!(await isBound(this.transport, this.localIp, this.localPort))) {
      if (this.process.exitStatus) {
        throw new Error(
          `sipp exited before binding ${this.address}\n${await this.describeFailure()}`,
        );
      }
      if (Date.now() > until) {
        throw new Error(
          `sipp did not bind ${this.address} within ${timeoutMs} ms\n${this.process.output()}`,
        );
      }
      await sleep(20);
    }
  }

  /** Waits for sipp to end by itself (a UAC with maxCalls) and returns its statistics. */
  async waitForExit(timeoutMs = 120_000): Promise<SippStats> {
    try {
      await this.process.waitForExit(timeoutMs);
    } catch (err) {
      await this.process.stop({ signal: 'SIGKILL' });
      this.cleanup();
      throw err;
    }
    return this.collect();
  }

  /**
   * Stops sipp and returns its statistics. SIGUSR1 asks sipp to quit once its calls end (a UAS
   * finishes the calls in progress); a second SIGUSR1 after `graceMs` quits at once, still writing
   * the statistics; SIGKILL last. Idempotent.
   */
  async stop(graceMs = 15_000): Promise<SippStats> {
    if (!this.process.exitStatus) {
      this.process.signal('SIGUSR1');
      try {
        await this.process.waitForExit(graceMs);
      } catch {
        await this.process.stop({ signal: 'SIGUSR1', graceMs: 5000 });
      }
    }
    return this.collect();
  }

  private collect(): Promise<SippStats> {
    this.finished ??= (async () => {
      try {
        const status = this.process.exitStatus;
        const exitCode = status?.code ?? null;
        const row = parseStatsCsv(readOptional(this.files.stats));
        const errors = parseErrorLog(readOptional(this.files.errors));
        if (!row) {
          throw new Error(
            `sipp wrote no statistics (exit ${String(exitCode)}, ${String(status?.signal)})\n` +
              `sipp ${this.args.join(' ')}\n${errors.join('\n')}\n${this.process.output()}`,
          );
        }
        const stats = statsFromRow(row, exitCode, errors, this.process.output());
        const messages = readOptional(this.files.messages);
        if (messages) stats.messages = messages;
        return stats;
      } finally {
        this.cleanup();
      }
    })();
    return this.finished;
  }

  private async describeFailure(): Promise<string> {
    const errors = parseErrorLog(readOptional(this.files.errors));
    return `sipp ${this.args.join(' ')}\n${errors.join('\n')}\n${this.process.output()}`;
  }

  private cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
    tempDirs.delete(this.dir);
  }
}

async function launch(opts: SippOptions): Promise<SippProcess> {
  const localPort = opts.localPort ?? (await freePort());
  const dir = makeTempDir();
  const files = {
    stats: join(dir, 'stats.csv'),
    errors: join(dir, 'errors.log'),
    messages: join(dir, 'messages.log'),
  };
  const args = sippArgs(opts, localPort, files);
  const child = spawnTracked('sipp', args, {
    cwd: dir,
    name: `sipp ${typeof opts.scenario === 'string' ? opts.scenario : opts.scenario.builtin}`,
    // sipp's exit-time screens are long; the counters come from the CSV anyway.
    maxOutputBytes: 64 * 1024,
  });
  const sipp = new SippProcess(
    child,
    opts.localIp ?? DEFAULT_IP,
    localPort,
    opts.transport ?? 'udp',
    args,
    dir,
    files,
  );
  opts.owner?.after(() => sipp.stop(2000).catch(() => undefined));
  return sipp;
}

/** Starts sipp in the background (a UAS, or a UAC to stop later). Resolves once its socket is bound. */
export async function startSipp(opts: SippOptions): Promise<SippProcess> {
  const sipp = await launch(opts);
  try {
    await sipp.ready();
  } catch (err) {
    if (!opts.owner) await sipp.stop(1000).catch(() => undefined);
    throw err;
  }
  return sipp;
}

/** Runs sipp to the end (a UAC with `maxCalls`) and returns its statistics; never leaves it running. */
export async function runSipp(opts: SippOptions & { timeoutMs?: number }): Promise<SippStats> {
  const sipp = await launch(opts);
  return sipp.waitForExit(opts.timeoutMs ?? 120_000);
}
