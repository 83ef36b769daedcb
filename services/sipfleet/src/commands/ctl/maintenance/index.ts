// `sipfleet ctl maintenance on|off|status`: Kamailio's "server maintenance mode" recipe, where an
// operator flips an htable item and the config refuses new calls while it is set.
//
// The flags are ordinary items of the htable `config`:
//   maint           the whole fleet   redis-cli HSET 'sipfleet:{ht:config}:maint' i 1
//   maint:<nodeId>  one edge          redis-cli HSET 'sipfleet:{ht:config}:maint:edge-1' i 1
// An edge refuses initial requests while either is on (1, or a hand-written string "1"). What it
// answers (code, reason, Retry-After, methods) is the edge's `maintenance` config, not ctl's.
import { Option } from 'commander';
import { type CtlCommand, UsageError } from '../common.js';
import { addOff } from './off.js';
import { addOn } from './on.js';
import { addStatus } from './status.js';

/** Options that belong to the edge's config; named here only to explain where they go. */
const EDGE_SETTINGS = {
  code: 'maintenance.code',
  reason: 'maintenance.reason',
  'retry-after': 'maintenance.retryAfter',
} as const;

export function addMaintenance(program: CtlCommand): void {
  const maintenance = program
    .group(
      'maintenance',
      'on, off, status (fleet-wide or --node ID)',
      'Refuse new calls fleet-wide or on one edge (the htable config items maint, maint:<nodeId>).',
    )
    .addHelpText(
      'after',
      "\nThe reply (code, reason, Retry-After) is the edge's config: maintenance.code, .reason, .retryAfter.",
    );
  // Refused anywhere in the group with a pointer to the setting, rather than "unknown option".
  for (const [option, setting] of Object.entries(EDGE_SETTINGS)) {
    maintenance.addOption(
      new Option(`--${option} <value>`).hideHelp().argParser(() => {
        throw new UsageError(
          `--${option} is not a ctl option: the reply is edge config (${setting}, see docs/configuration.md); ctl only flips the flags`,
          maintenance,
        );
      }),
    );
  }
  addOn(maintenance);
  addOff(maintenance);
  addStatus(maintenance);
}
