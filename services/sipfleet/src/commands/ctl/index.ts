// `sipfleet ctl <group> …`: the commander tree of every group and command, and the one place that
// turns every failure into one stderr line and an exit code (docs/cli.md). A new group is one
// file exporting a function that adds it to the program, plus one line in ctlProgram.
import { CommanderError } from 'commander';
import { HtableError } from '@sipfleet/htable';
import { SipfleetRedisError } from '@sipfleet/redis';
import { CtlError, CtlProgram, EXIT, UsageError } from './common.js';
import { addDispatcher } from './dispatcher/index.js';
import { addFleet } from './fleet/index.js';
import { addHtable } from './htable/index.js';
import { addKeepalive } from './keepalive/index.js';
import { addMaintenance } from './maintenance/index.js';
import { addSecfilter } from './secfilter/index.js';

/** The whole `sipfleet ctl` tree (also what `sipfleet completion` reads). */
export function ctlProgram(env: NodeJS.ProcessEnv = process.env): CtlProgram {
  const program = new CtlProgram(env);
  program
    .description(
      'Operator commands, run against Redis (kamctl/kamcmd for the fleet). See docs/cli.md.',
    )
    .addHelpText('after', "\n'sipfleet ctl <group> --help' lists a group's commands.");
  addDispatcher(program);
  addFleet(program);
  addHtable(program);
  addKeepalive(program);
  addMaintenance(program);
  addSecfilter(program);
  return program;
}

function fail(message: string): void {
  process.stderr.write(`sipfleet ctl: ${message}\n`);
}

/** Runs `sipfleet ctl …` and resolves to the exit code; never throws. */
export async function runCtl(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const program = ctlProgram(env);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return program.exitCode;
  } catch (err) {
    if (err instanceof UsageError) {
      fail(err.message);
      process.stderr.write((err.command ?? program).helpInformation());
      return EXIT.usage;
    }
    // --help: commander printed it and "exits" 0.
    if (err instanceof CommanderError) return err.exitCode;
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
