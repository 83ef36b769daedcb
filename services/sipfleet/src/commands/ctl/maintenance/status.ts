// `sipfleet ctl maintenance status`: the fleet flag and every per-node flag found (SCAN).
import { MAINTENANCE_TABLE } from '@sipfleet/htable';
import {
  type CtlCommand,
  type CtlSettings,
  EXIT,
  columns,
  ctlAction,
  formatDuration,
  output,
  withRedis,
} from '../common.js';
import { type FlagView, readStatus, type Status, summary } from './flags.js';

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

async function status(settings: CtlSettings): Promise<number> {
  return withRedis(settings, async (conn) => {
    const s = await readStatus(conn);
    output(settings, s, () => statusLines(s));
    return EXIT.ok;
  });
}

export function addStatus(maintenance: CtlCommand): void {
  maintenance
    .command('status')
    .description('the fleet flag and every per-node flag found in Redis')
    .action(ctlAction(status));
}
