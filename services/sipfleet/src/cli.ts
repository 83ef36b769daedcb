import { readFileSync } from 'node:fs';
import { runCtl } from './commands/ctl/index.js';
import { runEdge } from './commands/edge.js';
import { runProber } from './commands/prober.js';
import { runUp } from './commands/up.js';

const USAGE = `usage: sipfleet <command> [options]

commands:
  edge             run one edge (SIP proxy)
  prober           run one prober (OPTIONS keepalives, shared with other probers over BullMQ)
  up               run a whole fleet on this machine (embedded redis-server, edges; --demo)
  route-api        reference HTTP routing API answering rtjson (rules in Redis)
  ctl              operator commands on Redis: htable, maintenance (kamctl/kamcmd)
  version          print the version and exit
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** Runs one sipfleet subcommand and resolves to the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const [command] = argv;
  switch (command) {
    case 'version':
    case '--version':
      process.stdout.write(`sipfleet ${version()}\n`);
      return 0;
    case 'edge':
      return runEdge(argv.slice(1));
    case 'up':
      return runUp(argv.slice(1));
    case 'prober':
      return runProber(argv.slice(1));
    case 'route-api':
      return (await import('./commands/route-api.js')).runRouteApi(argv.slice(1));
    case 'ctl':
      return runCtl(argv.slice(1));
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
