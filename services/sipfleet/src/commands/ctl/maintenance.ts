// `sipfleet ctl maintenance on|off|status`: Kamailio's "server maintenance mode" recipe, where an
// operator flips an htable item and the config refuses new calls while it is set.
//
// The flags are ordinary items of the htable `config`:
//   maint           the whole fleet   redis-cli HSET 'sipfleet:{ht:config}:maint' i 1
//   maint:<nodeId>  one edge          redis-cli HSET 'sipfleet:{ht:config}:maint:edge-1' i 1
// An edge refuses initial requests while either is on (1, or a hand-written string "1"). What it
// answers (code, reason, Retry-After, methods) is the edge's `maintenance` config, not ctl's.
// The names and the "is on" rule the edge's check uses, so the two cannot drift apart.
import {
  FLEET_MAINTENANCE_KEY,
  MAINTENANCE_TABLE,
  isMaintenanceOn,
  nodeMaintenanceKey,
} from '@sipfleet/htable';
import type { RedisConnection } from '@sipfleet/redis';
import { Option } from 'commander';
import {
  type CtlCommand,
  type CtlSettings,
  EXIT,
  UsageError,
  columns,
  ctlAction,
  formatDuration,
  output,
  parseSeconds,
  withRedis,
} from './common.js';
import { type ItemView, itemLine, readItemsStartingWith, writeItem } from './htable.js';

interface FlagView {
  /** The htable key: `maint` or `maint:<nodeId>`. */
  key: string;
  on: boolean;
  /** Null when the item does not exist (off). */
  value: string | number | null;
  expiresInMs: number | null;
}

interface Status {
  fleet: FlagView;
  nodes: (FlagView & { node: string })[];
  /** Keys under `maint` that are not items: edges ignore them, so they count as off. */
  malformed: string[];
}

function flag(key: string, item: ItemView | undefined): FlagView {
  return {
    key,
    on: isMaintenanceOn(item?.value),
    value: item?.value ?? null,
    expiresInMs: item?.expiresInMs ?? null,
  };
}

async function readStatus(conn: RedisConnection): Promise<Status> {
  const read = await readItemsStartingWith(conn, MAINTENANCE_TABLE, FLEET_MAINTENANCE_KEY);
  const fleet = read.items.find((item) => item.key === FLEET_MAINTENANCE_KEY);
  const nodePrefix = nodeMaintenanceKey('');
  return {
    fleet: flag(FLEET_MAINTENANCE_KEY, fleet),
    nodes: read.items
      .filter((item) => item.key.startsWith(nodePrefix) && item.key.length > nodePrefix.length)
      .map((item) => ({ node: item.key.slice(nodePrefix.length), ...flag(item.key, item) })),
    malformed: read.malformed.filter(
      (k) => k === FLEET_MAINTENANCE_KEY || k.startsWith(nodePrefix),
    ),
  };
}

function summary(status: Status): string {
  if (status.fleet.on) return 'maintenance: ON fleet-wide';
  const on = status.nodes.filter((n) => n.on).map((n) => n.node);
  return on.length > 0 ? `maintenance: ON for node(s) ${on.join(', ')}` : 'maintenance: off';
}

function statusLines(status: Status): string[] {
  const row = (scope: string, f: FlagView) => [
    scope,
    f.on ? 'on' : 'off',
    f.value === null
      ? '(unset)'
      : typeof f.value === 'number'
        ? String(f.value)
        : JSON.stringify(f.value),
    f.expiresInMs === null ? '-' : formatDuration(f.expiresInMs),
  ];
  const lines = columns([
    ['SCOPE', 'STATE', 'VALUE', 'EXPIRES'],
    row('fleet', status.fleet),
    ...status.nodes.map((n) => row(`node ${n.node}`, n)),
  ]);
  for (const key of status.malformed) {
    lines.push(`${MAINTENANCE_TABLE}=>${key} is not an htable item: edges ignore it (off)`);
  }
  lines.push(summary(status));
  return lines;
}

interface FlipOptions {
  node?: string;
  expire?: string;
}

async function flip(on: boolean, settings: CtlSettings, options: FlipOptions): Promise<number> {
  const { node } = options;
  if (node === '') throw new UsageError('--node needs a node id');
  const expire = parseSeconds('--expire', options.expire);
  const key = node === undefined ? FLEET_MAINTENANCE_KEY : nodeMaintenanceKey(node);
  return withRedis(settings, async (conn) => {
    const item = await writeItem(conn, settings, MAINTENANCE_TABLE, key, on ? 1 : 0, expire);
    const status = await readStatus(conn);
    output(settings, { written: { table: MAINTENANCE_TABLE, ...item }, ...status }, () => {
      const lines = [itemLine(MAINTENANCE_TABLE, item)];
      // Say so when the other flag still keeps calls out: "off" alone could mislead.
      if (!on && node === undefined && status.nodes.some((n) => n.on)) {
        lines.push('note: per-node flags are still on (see status)');
      }
      if (!on && node !== undefined && status.fleet.on) {
        lines.push(`note: the fleet flag is on, so node ${node} still refuses new calls`);
      }
      lines.push(summary(status));
      return lines;
    });
    return EXIT.ok;
  });
}

async function status(settings: CtlSettings): Promise<number> {
  return withRedis(settings, async (conn) => {
    const s = await readStatus(conn);
    output(settings, s, () => statusLines(s));
    return EXIT.ok;
  });
}

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
  const node = (cmd: CtlCommand, what: string) =>
    cmd.option('--node <ID>', `${what} on one edge (its nodeId) instead of fleet-wide`);
  node(maintenance.command('on'), 'refuse new calls')
    .description('refuse new calls fleet-wide, or on one edge')
    .option('--expire <S>', 'turn the flag off by itself after S seconds')
    .action(ctlAction<FlipOptions>((settings, _, options) => flip(true, settings, options)));
  node(maintenance.command('off'), 'accept calls')
    .description('accept calls again (writes 0)')
    .action(ctlAction<FlipOptions>((settings, _, options) => flip(false, settings, options)));
  maintenance
    .command('status')
    .description('the fleet flag and every per-node flag found in Redis')
    .action(ctlAction(status));
}
