// `sipfleet ctl htable dump TABLE` (htable.dump): every item, sorted by key, and the keys that
// are not items.
import { HtableStore } from '@sipfleet/htable';
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
import { plural, readTable, showValue } from './items.js';

async function dump(settings: CtlSettings, args: string[]): Promise<number> {
  const [table = ''] = args;
  return withRedis(settings, async (conn) => {
    const read = await readTable(new HtableStore(conn), table);
    output(settings, { table, items: read.items, malformed: read.malformed }, () => {
      const lines =
        read.items.length === 0
          ? []
          : columns([
              ['KEY', 'TYPE', 'VALUE', 'EXPIRES'],
              ...read.items.map((item) => [
                item.key,
                item.type,
                showValue(item),
                item.expiresInMs === null ? '-' : formatDuration(item.expiresInMs),
              ]),
            ]);
      lines.push(`${table}: ${plural(read.items.length, 'item')}`);
      if (read.malformed.length > 0) {
        lines.push(`not items (ignored by edges): ${read.malformed.join(', ')}`);
      }
      return lines;
    });
    return EXIT.ok;
  });
}

export function addDump(htable: CtlCommand): void {
  htable
    .command('dump')
    .description('every item of a table  [htable.dump]')
    .argument('TABLE')
    .action(ctlAction(dump));
}
