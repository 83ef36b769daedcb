// What a long-running command (edge, prober, route-api, demo-uas, up) says when it cannot start:
// one line on stderr naming the setting and the address or file, and a sysexits(3) code that tells
// a supervisor (systemd, a container runtime) what kind of failure it was. docs/errors.md lists
// the codes.
import { SipfleetRedisError } from '@sipfleet/redis';
import type { Logger } from 'pino';
import { TransportError, TransportErrorCode } from '@sipfleet/transport';
import { ConfigError } from './config.js';

/** sysexits(3) exit codes of the long-running commands at start-up (2 stays "bad usage"). */
export const EXIT = {
  /** EX_NOINPUT: a file a setting names does not exist. */
  noInput: 66,
  /** EX_UNAVAILABLE: a service (Redis) or a program (redis-server) needed to start is not there. */
  unavailable: 69,
  /** EX_SOFTWARE: anything else: a bug (the log has the stack). */
  software: 70,
  /** EX_OSERR: the system refused a socket: address already in use, or not on this host. */
  osErr: 71,
  /** EX_CANTCREAT: a directory or file could not be created. */
  cantCreate: 73,
  /** EX_NOPERM: permission denied: a port below 1024 without the capability, a file or dir. */
  noPerm: 77,
  /** EX_CONFIG: the configuration is invalid (the message names the setting). */
  config: 78,
} as const;

/** A Node.js system error (`err.code` is an errno name). */
interface SystemError extends Error {
  code: string;
  syscall?: string;
  address?: string;
  port?: number;
  path?: string;
}

/** A socket the process listens on could not be bound; `setting` names where its address comes from. */
export class ListenError extends Error {
  readonly code = 'SIPFLEET_ERR_LISTEN';

  constructor(
    readonly setting: string,
    readonly protocol: 'udp' | 'tcp',
    readonly address: string,
    readonly port: number,
    cause: unknown,
  ) {
    super(`${setting} ${protocol}:${address}:${port}: ${reason(cause)}`, { cause });
  }
}

/** The first error in the cause chain that carries an errno name (`EADDRINUSE`, `ENOENT`, ...). */
function systemError(err: unknown): SystemError | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const code = (e as Partial<SystemError>).code;
    if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) return e as SystemError;
  }
  return undefined;
}

/** A Redis that could not be reached (not connected, or no answer) anywhere in the cause chain. */
function redisUnreachable(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (
      e instanceof SipfleetRedisError &&
      (e.code === 'SIPFLEET_ERR_REDIS_UNAVAILABLE' || e.code === 'SIPFLEET_ERR_REDIS_TIMEOUT')
    ) {
      return true;
    }
  }
  return false;
}

/** The errno's meaning in words, without Node's `listen EADDRINUSE: ... 127.0.0.1:5060` noise. */
const REASONS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'address not available on this host',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOENT: 'no such file or directory',
  ENOTDIR: 'not a directory',
  EISDIR: 'is a directory',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on device',
  EEXIST: 'exists and is not a directory',
};

function reason(err: unknown): string {
  const sys = systemError(err);
  const words = sys === undefined ? undefined : REASONS[sys.code];
  if (words === undefined) return err instanceof Error ? err.message : String(err);
  return sys?.code === 'EACCES' && sys.syscall !== undefined && /bind|listen/.test(sys.syscall)
    ? `${words} (a port below 1024 needs root or CAP_NET_BIND_SERVICE)`
    : words;
}

/** The exit code for a system error; `software` when it is none of the start-up failures we know. */
function exitFor(sys: SystemError | undefined): number {
  if (sys === undefined) return EXIT.software;
  if (sys.code === 'EADDRINUSE' || sys.code === 'EADDRNOTAVAIL') return EXIT.osErr;
  if (sys.code === 'EACCES' || sys.code === 'EPERM') return EXIT.noPerm;
  // A program to run (redis-server) that is not installed: a missing service, not a missing input.
  if (sys.syscall?.startsWith('spawn') === true) return EXIT.unavailable;
  if (sys.syscall === 'mkdir') return EXIT.cantCreate;
  if (sys.code === 'ENOENT' || sys.code === 'ENOTDIR' || sys.code === 'EISDIR') return EXIT.noInput;
  return EXIT.software;
}

export interface StartupFailure {
  exitCode: number;
  /** One line, without the `sipfleet <command>: ` prefix or a newline. */
  message: string;
  /** Not a failure we expect at start-up: log the error with its stack too. */
  unexpected: boolean;
}

/**
 * Classifies what a command's start-up threw. `transportSetting` names the setting behind the SIP
 * sockets (`listen` on the edge, `sip` on the prober) for SIPFLEET_ERR_TRANSPORT_LISTEN.
 */
export function startupFailure(err: unknown, transportSetting = 'listen'): StartupFailure {
  const sys = systemError(err);
  const known = (exitCode: number, message: string): StartupFailure => ({
    exitCode,
    message,
    unexpected: false,
  });
  if (err instanceof ListenError) return known(exitFor(sys), err.message);
  if (err instanceof TransportError && err.code === TransportErrorCode.Listen) {
    if (sys?.address === undefined || sys.port === undefined) {
      return known(EXIT.config, `${transportSetting}: ${err.message}`);
    }
    // dgram reports `bind`, net `listen`: the transport's UDP and TCP listeners.
    const protocol = sys.syscall === 'bind' ? 'udp' : 'tcp';
    return known(
      exitFor(sys),
      `${transportSetting} ${protocol}:${sys.address}:${sys.port}: ${reason(sys)}`,
    );
  }
  // Before ConfigError: whatever wraps it, an unreachable Redis is not a configuration mistake.
  if (redisUnreachable(err))
    return known(EXIT.unavailable, err instanceof Error ? err.message : '');
  if (err instanceof ConfigError) {
    // A setting names a file that cannot be read: that is the file's problem, not the config's.
    const fileProblem =
      sys !== undefined && sys.path !== undefined && exitFor(sys) !== EXIT.software;
    return known(fileProblem ? exitFor(sys) : EXIT.config, err.message);
  }
  if (sys !== undefined && exitFor(sys) !== EXIT.software) {
    if (err !== sys) return known(exitFor(sys), (err as Error).message); // it has the context
    const what = sys.path ?? (sys.address !== undefined ? `${sys.address}:${sys.port}` : '');
    return known(exitFor(sys), what === '' ? reason(sys) : `${what}: ${reason(sys)}`);
  }
  return {
    exitCode: EXIT.software,
    message: err instanceof Error ? err.message : String(err),
    unexpected: true,
  };
}

/**
 * Writes `sipfleet <command>: <line>` to stderr and returns the exit code. An unexpected error is
 * also logged with its stack (a bug report needs it; the operator needs the line).
 */
export function reportStartupFailure(
  command: string,
  err: unknown,
  log?: Logger,
  transportSetting?: string,
): number {
  const failure = startupFailure(err, transportSetting);
  if (failure.unexpected) log?.fatal({ err }, `${command} failed to start`);
  process.stderr.write(`sipfleet ${command}: ${failure.message}\n`);
  return failure.exitCode;
}
