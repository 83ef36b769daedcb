// The maintenance flags, read and written: the fleet flag `config=>maint` and one flag per edge,
// `config=>maint:<nodeId>` (items of the htable `config`, docs/cli.md). An edge refuses initial
// requests while either is on (1, or a hand-written string "1"); the names and the "is on" rule
// are the ones the edge's check uses, so the two cannot drift apart.
import {
  FLEET_MAINTENANCE_KEY,
  MAINTENANCE_TABLE,
  isMaintenanceOn,
  nodeMaintenanceKey,
} from '@sipfleet/htable';
import type { RedisConnection } from '@sipfleet/redis';
import { type CtlSettings, EXIT, UsageError, output, parseSeconds, withRedis } from '../common.js';
import { type ItemView, itemLine, readItemsStartingWith, writeItem } from '../htable/items.js';

export interface FlagView {
  /** The htable key: `maint` or `maint:<nodeId>`. */
  key: string;
  on: boolean;
  /** Null when the item does not exist (off). */
  value: string | number | null;
  expiresInMs: number | null;
}

export interface Status {
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

export async function readStatus(conn: RedisConnection): Promise<Status> {
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

export function summary(status: Status): string {
  if (status.fleet.on) return 'maintenance: ON fleet-wide';
  const on = status.nodes.filter((n) => n.on).map((n) => n.node);
  return on.length > 0 ? `maintenance: ON for node(s) ${on.join(', ')}` : 'maintenance: off';
}

export interface FlipOptions {
  node?: string;
  expire?: string;
}

export async function flip(
  on: boolean,
  settings: CtlSettings,
  options: FlipOptions,
): Promise<number> {
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
