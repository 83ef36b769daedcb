// What every `sipfleet ctl` command shares: the commander Command they are (ctl's usage errors,
// generated help), the common options, where Redis is, one short-lived connection and the two
// output modes (human text, --json). Each command is one file under its group's folder.
//
// ctl is Kamailio's kamctl/kamcmd for the fleet, but it talks to Redis directly: there is no
// process to send an RPC to, since Redis holds every piece of shared state and every edge picks a
// change up through client-side tracking.
import { Command, type Help, Option } from 'commander';
import {
  DEFAULT_KEY_PREFIX,
  type RedisConnection,
  SipfleetRedisError,
  createRedisConnection,
  redactRedisUrl,
} from '@sipfleet/redis';
import type { EdgeConfig } from '../../config.js';

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

/** Bad usage: runCtl prints the message and the help of `command` (else of `sipfleet ctl`), exit 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(
    message: string,
    public command?: Command,
  ) {
    super(message);
  }
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

/** "a", "a and b", "a, b and c". */
function inWords(names: readonly string[]): string {
  return names.length < 2
    ? names.join('')
    : `${names.slice(0, -1).join(', ')} and ${names.at(-1) ?? ''}`;
}

/** A command's arguments as docs/cli.md writes them: `TABLE KEY [VALUE]`. */
export function argumentShape(cmd: Command): string {
  return cmd.registeredArguments
    .map((arg) => (arg.required ? arg.name() : `[${arg.name()}]`))
    .join(' ');
}

function argumentCount(n: number): string {
  return `${n} argument${n === 1 ? '' : 's'}`;
}

/**
 * The commander Command every ctl group and command is. Its parse errors become UsageError in
 * ctl's words (exit 2, the message, then this command's help), and an option given to the wrong
 * command names the commands it belongs to.
 */
export class CtlCommand extends Command {
  override createCommand(name?: string): CtlCommand {
    return new CtlCommand(name);
  }

  /** Every commander usage error comes through here (with exitOverride, nothing else exits). */
  override error(message: string, options?: { code?: string }): never {
    throw new UsageError(this.usageMessage(message, options?.code), this);
  }

  private usageMessage(message: string, code: string | undefined): string {
    const args = this.args;
    const shape = argumentShape(this);
    switch (code) {
      case 'commander.unknownOption': {
        const flag = /'([^']*)'/.exec(message)?.[1] ?? '';
        const name = flag.split('=')[0] ?? flag;
        const declares = (cmd: Command) =>
          cmd.options.some((o) => o.long === name || o.short === name);
        const children = this.commands.filter(declares).map((c) => c.name());
        if (children.length > 0) return `${name} goes after the command (${inWords(children)})`;
        const siblings = (this.parent?.commands ?? []).filter(declares).map((c) => c.name());
        if (siblings.length > 0) return `${name} goes with ${inWords(siblings)} only`;
        return `Unknown option '${flag}'`;
      }
      case 'commander.missingArgument':
        return `${this.name()} needs ${shape} (expected ${shape}, got ${argumentCount(args.length)})`;
      case 'commander.excessArguments':
        if (this.commands.length > 0) {
          return this.parent
            ? `unknown ${this.name()} command '${args[0] ?? ''}'`
            : `unknown group '${args[0] ?? ''}'`;
        }
        return (
          `unexpected argument '${args[this.registeredArguments.length] ?? ''}' ` +
          `(expected ${shape || 'no arguments'}, got ${argumentCount(args.length)})`
        );
      default:
        return message.replace(/^error: /, '');
    }
  }

  /**
   * A group of commands: `sipfleet ctl <name> <command>`; `summary` is its line in the list of
   * groups, `description` heads its own help. Run without a command (or with one it
   * does not have), it is a usage error listing its commands.
   */
  group(name: string, summary: string, description: string): CtlCommand {
    return this.command(name)
      .summary(summary)
      .description(description)
      .action(function (this: Command) {
        const names = inWords(this.commands.map((c) => c.name())).replace(/ and (\S+)$/, ' or $1');
        throw new UsageError(`missing ${this.name()} command (${names})`, this);
      });
  }
}

/** `sipfleet ctl` itself: the common options, the environment and the exit code of the run. */
export class CtlProgram extends CtlCommand {
  exitCode: number = EXIT.ok;

  constructor(readonly env: NodeJS.ProcessEnv) {
    super('sipfleet ctl');
    this.usage('<group> <command> [arguments] [options]')
      .addOption(
        new Option(
          '--redis-url <URL>',
          'redis://, rediss://, redis-sentinel://h1:p1,h2:p2/master, redis-cluster://h1:p1,...' +
            ` (env SIPFLEET_REDIS_URL, else redis.url of --config, default ${DEFAULT_REDIS_URL})`,
        ),
      )
      .addOption(
        new Option(
          '--prefix <P>',
          `key prefix (env SIPFLEET_PREFIX, else redis.prefix of --config, default ${DEFAULT_KEY_PREFIX})`,
        ),
      )
      .addOption(
        new Option(
          '-c, --config <FILE>',
          "the edge's YAML/JSON config: Redis location and htable declarations",
        ),
      )
      .option('--json', 'machine-readable output (one JSON document on stdout)')
      .exitOverride()
      .configureHelp({
        showGlobalOptions: true,
        // Lower-case headings, as the rest of sipfleet's help; the arguments as docs/cli.md shows them.
        styleTitle: (title) => title.toLowerCase(),
        subcommandTerm: (cmd) => [cmd.name(), argumentShape(cmd)].filter(Boolean).join(' '),
      } satisfies Partial<Help>);
    this.action(function (this: Command) {
      const groups = this.commands.map((c) => c.name()).join(', ');
      throw new UsageError(`missing group (${groups})`, this);
    });
  }
}

function rootOf(cmd: Command): Command {
  return cmd.parent ? rootOf(cmd.parent) : cmd;
}

/**
 * The action of one ctl command: resolves the settings from the common options and the
 * environment, runs `handler` with the command's arguments and all its options, and keeps the
 * exit code it resolves to. A UsageError it throws prints this command's help.
 */
export function ctlAction<O extends object = object>(
  handler: (settings: CtlSettings, args: string[], options: O) => Promise<number>,
) {
  return async function (this: Command): Promise<void> {
    const root = rootOf(this);
    if (!(root instanceof CtlProgram)) throw new Error('a ctl command outside CtlProgram');
    const options = this.optsWithGlobals<CommonValues & O>();
    try {
      root.exitCode = await handler(await resolveSettings(options, root.env), this.args, options);
    } catch (err) {
      if (err instanceof UsageError) err.command ??= this;
      throw err;
    }
  };
}

export interface CommonValues {
  redisUrl?: string | undefined;
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
 * already lets the environment override the file, exactly as `sipfleet edge` does. The config
 * module (its schema library is a few hundred files) is loaded only when --config is given.
 */
export async function resolveSettings(
  values: CommonValues,
  env: NodeJS.ProcessEnv,
): Promise<CtlSettings> {
  let edgeConfig: EdgeConfig | undefined;
  if (values.config !== undefined) {
    const { loadEdgeConfig } = await import('../../config.js');
    try {
      edgeConfig = loadEdgeConfig(values.config, env);
    } catch (err) {
      throw new CtlError(err instanceof Error ? err.message : String(err), EXIT.config);
    }
  }
  return {
    redisUrl:
      values.redisUrl ??
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
