// The `sipfleet` entry point. Each command module is imported inside its own case: `sipfleet ctl …`
// or `sipfleet version` must not pay for loading the edge, fastify and BullMQ (about a second of
// start-up) when it only talks to Redis or prints a line.
import { version } from './version.js';

/** One line per command; `sipfleet help` prints them all (a test holds it to the switch below). */
export const COMMANDS: Readonly<Record<string, string>> = {
  edge: 'run one edge (SIP proxy)',
  up: 'run a whole fleet on this machine (embedded redis-server, edges; --demo)',
  ctl: 'operator commands on Redis: dispatcher, fleet, htable, maintenance (kamctl/kamcmd)',
  prober: 'run one prober (OPTIONS keepalives, shared with other probers over BullMQ)',
  'route-api': 'reference HTTP routing API answering rtjson (rules in Redis)',
  'demo-uas': 'run a demo media server (answers INVITE, BYE, OPTIONS; no media)',
  completion: 'print a shell completion script: source <(sipfleet completion bash) (or zsh)',
  version: 'print the version and exit',
  help: 'print this help and exit',
};

/**
 * Exit codes of edge, prober, route-api, demo-uas and up (sysexits(3); docs/errors.md explains
 * each, and a test holds both to the codes the commands use).
 */
export const EXIT_CODES: Readonly<Record<number, string>> = {
  0: 'stopped cleanly (SIGTERM, SIGINT)',
  1: 'up: a process of the running fleet died',
  2: 'bad usage',
  66: 'a file a setting names does not exist',
  69: 'Redis or redis-server unavailable at start-up',
  70: 'internal error (a bug)',
  71: 'cannot bind a socket: address in use or not on this host',
  73: 'cannot create a directory',
  77: 'permission denied (port below 1024, file or directory)',
  78: 'invalid configuration',
};

const USAGE = `usage: sipfleet <command> [options]

commands:
${Object.entries(COMMANDS)
  .map(([name, what]) => `  ${name.padEnd(16)} ${what}`)
  .join('\n')}

exit codes of edge, prober, route-api, demo-uas and up (one line on stderr says why):
${Object.entries(EXIT_CODES)
  .map(([code, what]) => `  ${code.padStart(2)}  ${what}`)
  .join('\n')}
`;

/** Runs one sipfleet subcommand and resolves to the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const [command] = argv;
  const rest = argv.slice(1);
  switch (command) {
    case 'version':
    case '--version':
      process.stdout.write(`sipfleet ${version()}\n`);
      return 0;
    case 'edge':
      return (await import('./commands/edge.js')).runEdge(rest);
    case 'up':
      return (await import('./commands/up.js')).runUp(rest);
    case 'ctl':
      return (await import('./commands/ctl/index.js')).runCtl(rest);
    case 'prober':
      return (await import('./commands/prober.js')).runProber(rest);
    case 'route-api':
      return (await import('./commands/route-api.js')).runRouteApi(rest);
    case 'demo-uas':
      return (await import('./commands/demo-uas.js')).runDemoUas(rest);
    case 'completion':
      return (await import('./commands/ctl/completion.js')).runCompletion(
        rest,
        Object.keys(COMMANDS),
      );
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`sipfleet: unknown command '${command}'\n${USAGE}`);
      return 2;
  }
}
