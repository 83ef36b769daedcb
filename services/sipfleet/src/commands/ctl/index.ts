// `sipfleet ctl <group> …`: picks the command group and turns every failure into one stderr line
// and an exit code (docs/cli.md). A new group (e.g. `dispatcher`) is one file exporting a CtlGroup
// plus one line in GROUPS.
import { HtableError } from '@sipfleet/htable';
import { SipfleetRedisError } from '@sipfleet/redis';
import {
  COMMON_USAGE,
  COMMON_VALUE_OPTIONS,
  type CtlGroup,
  CtlError,
  EXIT,
  UsageError,
} from './common.js';
import { dispatcherGroup } from './dispatcher.js';
import { fleetGroup } from './fleet.js';
import { htableGroup } from './htable.js';
import { maintenanceGroup } from './maintenance.js';
import { secfilterGroup } from './secfilter.js';

const GROUPS: Readonly<Record<string, CtlGroup>> = {
  dispatcher: dispatcherGroup,
  fleet: fleetGroup,
  htable: htableGroup,
  maintenance: maintenanceGroup,
  secfilter: secfilterGroup,
};

export const CTL_USAGE = `usage: sipfleet ctl <group> <command> [options]

Operator commands, run against Redis (kamctl/kamcmd for the fleet). See docs/cli.md.

groups:
  dispatcher    list, reload, set-state, add, remove, hash, ping-active, probe
  fleet         list (the live edges)
  htable        get, sets, seti, delete, dump, list, flush, reload, stats
  maintenance   on, off, status (fleet-wide or --node ID)
  secfilter     add, remove, list, block, unblock, blocked

'sipfleet ctl <group> --help' lists a group's commands.

${COMMON_USAGE}`;

/** The group name is the first argument that is neither an option nor a common option's value. */
function splitGroup(argv: readonly string[]): { group: string | undefined; rest: string[] } {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (COMMON_VALUE_OPTIONS.has(arg)) {
      i++;
      continue;
    }
    if (arg === '--') break;
    if (arg.startsWith('-')) continue;
    return { group: arg, rest: [...argv.slice(0, i), ...argv.slice(i + 1)] };
  }
  return { group: undefined, rest: [...argv] };
}

function fail(message: string): void {
  process.stderr.write(`sipfleet ctl: ${message}\n`);
}

/** Runs `sipfleet ctl …` and resolves to the exit code; never throws. */
export async function runCtl(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const { group: name, rest } = splitGroup(argv);
  if (name === undefined) {
    const help = rest.includes('--help') || rest.includes('-h');
    (help ? process.stdout : process.stderr).write(CTL_USAGE);
    return help ? EXIT.ok : EXIT.usage;
  }
  const group = GROUPS[name];
  if (!group) {
    fail(`unknown group '${name}'`);
    process.stderr.write(CTL_USAGE);
    return EXIT.usage;
  }
  try {
    return await group.run(rest, env);
  } catch (err) {
    if (err instanceof UsageError) {
      fail(err.message);
      process.stderr.write(group.usage);
      return EXIT.usage;
    }
    if (err instanceof CtlError) {
      fail(err.message);
      return err.exitCode;
    }
    if (err instanceof SipfleetRedisError || err instanceof HtableError) {
      fail(`${err.code}: ${err.message}`);
      return EXIT.failure;
    }
    // Anything else is a bug; still one line and exit 1, never a stack trace for the operator.
    fail(`internal error: ${err instanceof Error ? err.message : String(err)}`);
    return EXIT.failure;
  }
}
