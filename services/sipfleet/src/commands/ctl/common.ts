// What every `sipfleet ctl` command group shares: the common options, where Redis is, one
// short-lived connection, typed usage errors and the two output modes (human text, --json).
//
// ctl is Kamailio's kamctl/kamcmd for the fleet, but it talks to Redis directly: there is no
// process to send an RPC to, since Redis holds every piece of shared state and every edge picks a
// change up through client-side tracking.
import type { ParseArgsConfig } from 'node:util';
import {
  DEFAULT_KEY_PREFIX,
  type RedisConnection,
  SipfleetRedisError,
  createRedisConnection,
  redactRedisUrl,
} from '@sipfleet/redis';
import { type EdgeConfig, loadEdgeConfig } from '../../config.js';

/** Where Redis is when neither --redis-url, SIPFLEET_REDIS_URL nor --config says. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/**
 * How long ctl waits for Redis before giving up with exit 1: as long as one connect attempt may
 * take (RedisConnection's connect timeout). The process ends about 2 s later still, since
 * ioredis keeps a disconnect timer for a socket that never opened (its `disconnectTimeout`).
 */
export const CONNECT_WAIT_MS = 2000;

/** Exit codes of every ctl command (docs/cli.md lists them). */
export const EXIT = {
  ok: 0,
  /** Redis unreachable, a Redis error reply, a key that is not an htable item. */
  failure: 1,
  /** Bad usage: unknown command or option, missing or malformed argument. */
  usage: 2,
  /** What was asked for does not exist (htable get of a missing item, reload of an undeclared table). */
  notFound: 3,
  /** The --config file is unreadable or invalid (same code as `sipfleet edge`). */
  config: 78,
} as const;

/** Options every ctl command takes, wherever they appear on the line. */
export const COMMON_OPTIONS = {
  'redis-url': { type: 'string' },
  prefix: { type: 'string' },
  config: { type: 'string', short: 'c' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies NonNullable<ParseArgsConfig['options']>;

/** The common options that take a value (the dispatcher in index.ts must skip their values). */
export const COMMON_VALUE_OPTIONS = new Set(['--redis-url', '--prefix', '--config', '-c']);

export const COMMON_USAGE = `common options:
  --redis-url URL   redis://, rediss://, redis-sentinel://h1:p1,h2:p2/master, redis-cluster://h1:p1,...
                    (env SIPFLEET_REDIS_URL, else redis.url of --config, default ${DEFAULT_REDIS_URL})
  --prefix P        key prefix (env SIPFLEET_PREFIX, else redis.prefix of --config, default ${DEFAULT_KEY_PREFIX})
  --config FILE     the edge's YAML/JSON config: Redis location and htable declarations
  --json            machine-readable output (one JSON document on stdout)
  -h, --help        this text
`;

/** One command group (`htable`, `maintenance`, ...): one file, one entry in index.ts GROUPS. */
export interface CtlGroup {
  /** Printed for --help and, on stderr, after a usage error. */
  usage: string;
  /**
   * Runs one command of the group. `argv` is the command line after `ctl` without the group
   * name (common options may sit anywhere in it). Resolves to the exit code; throws UsageError,
   * CtlError or a typed Redis error, which runCtl reports.
   */
  run(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number>;
}

/** Bad usage: index.ts prints the message and the group's usage text, exit 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A ctl failure with its own exit code and a one-line message (no usage text). */
export class CtlError extends Error {
  override readonly name = 'CtlError';
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/** parseArgs would read `-42` as short options; ctl has none made of digits, so it is a value. */
const NEGATIVE_NUMBER = /^-\d+$/;
const SHIELD = '\u0000';

/**
 * Runs one group's node:util parseArgs call (common options plus the group's own, strictly,
 * positionals allowed; the group makes the call so TypeScript infers its option values). Negative
 * numbers reach the group as values (`seti t k -1`, `--expire -1` then fails validation), and
 * parseArgs errors (unknown option, missing value) become UsageError.
 */
export function parseCommandLine<
  T extends { values: Record<string, unknown>; positionals: string[] },
>(argv: readonly string[], parse: (args: string[]) => T): T {
  let result: T;
  try {
    result = parse(argv.map((arg) => (NEGATIVE_NUMBER.test(arg) ? SHIELD + arg : arg)));
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const unshield = (text: string) => (text.startsWith(SHIELD) ? text.slice(1) : text);
  result.positionals = result.positionals.map(unshield);
  for (const [name, value] of Object.entries(result.values)) {
    if (typeof value === 'string') result.values[name] = unshield(value);
  }
  return result;
}

export interface CommonValues {
  'redis-url'?: string | undefined;
  prefix?: string | undefined;
  config?: string | undefined;
  json?: boolean | undefined;
}

/** Where to connect and what is declared, resolved once from options, environment and --config. */
export interface CtlSettings {
  redisUrl: string;
  prefix: string;
  json: boolean;
  /** The edge config when --config was given (htable declarations for reload and expiry rules). */
  edgeConfig: EdgeConfig | undefined;
}

/**
 * Precedence: option, then environment, then the --config file, then the default. loadEdgeConfig
 * already lets the environment override the file, exactly as `sipfleet edge` does.
 */
export function resolveSettings(values: CommonValues, env: NodeJS.ProcessEnv): CtlSettings {
  let edgeConfig: EdgeConfig | undefined;
  if (values.config !== undefined) {
    try {
      edgeConfig = loadEdgeConfig(values.config, env);
    } catch (err) {
      throw new CtlError(err instanceof Error ? err.message : String(err), EXIT.config);
    }
  }
  return {
    redisUrl:
      values['redis-url'] ??
      edgeConfig?.redis.url ??
      nonEmpty(env.SIPFLEET_REDIS_URL) ??
      DEFAULT_REDIS_URL,
    prefix:
      values.prefix ??
      edgeConfig?.redis.prefix ??
      nonEmpty(env.SIPFLEET_PREFIX) ??
      DEFAULT_KEY_PREFIX,
    json: values.json ?? false,
    edgeConfig,
  };
}

function nonEmpty(text: string | undefined): string | undefined {
  return text === undefined || text === '' ? undefined : text;
}

/**
 * Opens one connection, waits at most CONNECT_WAIT_MS for it, runs `work` and always closes it.
 * Unreachable Redis becomes one CtlError line naming the URL (exit 1), never a hang.
 */
export async function withRedis<T>(
  settings: CtlSettings,
  work: (conn: RedisConnection) => Promise<T>,
): Promise<T> {
  let conn: RedisConnection;
  try {
    conn = createRedisConnection({
      redis: settings.redisUrl,
      keyPrefix: settings.prefix,
      connectionName: 'sipfleet-ctl',
      commandTimeoutMs: 5000,
      maxRetryDelayMs: 500,
    });
  } catch (err) {
    // A malformed URL or prefix is the operator's typo: usage, not a Redis failure.
    if (err instanceof SipfleetRedisError) throw new UsageError(err.message);
    throw err;
  }
  try {
    try {
      await conn.waitUntilReady(CONNECT_WAIT_MS);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new CtlError(
        `cannot reach Redis at ${redactRedisUrl(settings.redisUrl)} (${why})`,
        EXIT.failure,
      );
    }
    return await work(conn);
  } finally {
    await conn.close();
  }
}

/** Writes the result: `json` as one JSON document, or the human lines. */
export function output(settings: CtlSettings, json: unknown, human: () => string[]): void {
  const text = settings.json ? JSON.stringify(json, null, 2) : human().join('\n');
  process.stdout.write(`${text}\n`);
}

/** Left-aligned columns, kamctl-style; the header row first. */
export function columns(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  }
  return rows.map((row) =>
    row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  '),
  );
}

/** "59 s", "2 min 5 s" (rounded up: an item with 0.4 s left still shows 1 s). */
export function formatDuration(ms: number): string {
  const seconds = Math.ceil(ms / 1000);
  return seconds < 120 ? `${seconds} s` : `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}

/** "expires in 59 s" or "no expiry". */
export function formatExpiry(expiresInMs: number | null): string {
  return expiresInMs === null ? 'no expiry' : `expires in ${formatDuration(expiresInMs)}`;
}

/** A whole number of seconds >= 0 from an option value; UsageError naming the option otherwise. */
export function parseSeconds(option: string, text: string | undefined): number {
  if (text === undefined) return 0;
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n)) {
    throw new UsageError(`${option} takes whole seconds >= 0 (got '${text}')`);
  }
  return n;
}
