// `sipfleet ctl maintenance on|off|status`: Kamailio's "server maintenance mode" recipe, where an
// operator flips an htable item and the config refuses new calls while it is set.
//
// The flags are ordinary items of the htable `config`:
//   maint           the whole fleet   redis-cli HSET 'sipfleet:{ht:config}:maint' i 1
//   maint:<nodeId>  one edge          redis-cli HSET 'sipfleet:{ht:config}:maint:edge-1' i 1
// An edge refuses initial requests while either is on (1, or a hand-written string "1"). What it
// answers (code, reason, Retry-After, methods) is the edge's `maintenance` config, not ctl's.
import { parseArgs } from 'node:util';
// The names and the "is on" rule the edge's check uses, so the two cannot drift apart.
import {
  FLEET_MAINTENANCE_KEY,
  MAINTENANCE_TABLE,
  isMaintenanceOn,
  nodeMaintenanceKey,
} from '@sipfleet/htable';
import type { RedisConnection } from '@sipfleet/redis';
import {
  COMMON_OPTIONS,
  COMMON_USAGE,
  type CtlGroup,
  type CtlSettings,
  EXIT,
  UsageError,
  columns,
  formatDuration,
  output,
  parseCommandLine,
  parseSeconds,
  resolveSettings,
  withRedis,
} from './common.js';
import { type ItemView, itemLine, readItemsStartingWith, writeItem } from './htable.js';

export const MAINTENANCE_USAGE = `usage: sipfleet ctl maintenance on|off|status [options]

  on [--node ID] [--expire S]   refuse new calls fleet-wide, or on one edge (nodeId ID);
                                --expire S turns the flag off by itself after S seconds
  off [--node ID]               accept calls again (writes 0)
  status                        the fleet flag and every per-node flag found in Redis

The reply (code, reason, Retry-After) is the edge's config: maintenance.code, .reason, .retryAfter.

${COMMON_USAGE}`;

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

async function flip(
  settings: CtlSettings,
  on: boolean,
  node: string | undefined,
  expire: number,
): Promise<number> {
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

export const maintenanceGroup: CtlGroup = {
  usage: MAINTENANCE_USAGE,
  async run(argv, env) {
    const { values, positionals } = parseCommandLine(argv, (args) =>
      parseArgs({
        args,
        options: {
          ...COMMON_OPTIONS,
          node: { type: 'string' },
          expire: { type: 'string' },
          code: { type: 'string' },
          reason: { type: 'string' },
          'retry-after': { type: 'string' },
        },
        allowPositionals: true,
        strict: true,
      }),
    );
    if (values.help) {
      process.stdout.write(MAINTENANCE_USAGE);
      return EXIT.ok;
    }
    for (const [option, setting] of Object.entries(EDGE_SETTINGS)) {
      if (values[option as keyof typeof EDGE_SETTINGS] !== undefined) {
        throw new UsageError(
          `--${option} is not a ctl option: the reply is edge config (${setting}, see docs/configuration.md); ctl only flips the flags`,
        );
      }
    }
    const [command, ...rest] = positionals;
    if (rest.length > 0) throw new UsageError(`unexpected argument '${rest[0] ?? ''}'`);
    if (values.node === '') throw new UsageError('--node needs a node id');
    if (values.expire !== undefined && command !== 'on') {
      throw new UsageError('--expire goes with on only');
    }
    if (values.node !== undefined && command === 'status') {
      throw new UsageError('status shows every node; --node goes with on and off');
    }
    const settings = resolveSettings(values, env);
    switch (command) {
      case 'on':
      case 'off':
        return flip(
          settings,
          command === 'on',
          values.node,
          parseSeconds('--expire', values.expire),
        );
      case 'status':
        return status(settings);
      case undefined:
        throw new UsageError('missing maintenance command (on, off or status)');
      default:
        throw new UsageError(`unknown maintenance command '${command}'`);
    }
  },
};
