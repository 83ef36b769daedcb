// `sipfleet ctl htable flush TABLE` (htable.flush): remove every key of the table.
import { HtableStore } from '@sipfleet/htable';
import {
  type CtlCommand,
  type CtlSettings,
  EXIT,
  ctlAction,
  output,
  withRedis,
} from '../common.js';
import { plural, usage } from './items.js';

async function flush(settings: CtlSettings, args: string[]): Promise<number> {
  const [table = ''] = args;
  return withRedis(settings, async (conn) => {
    const removed = await usage(() => new HtableStore(conn).flush(table));
    output(settings, { table, removed }, () => [
      `flushed ${table}: ${plural(removed, 'key')} removed`,
    ]);
    return EXIT.ok;
  });
}

export function addFlush(htable: CtlCommand): void {
  htable
    .command('flush')
    .description('remove every item of a table  [htable.flush]')
    .argument('TABLE')
    .action(ctlAction(flush));
}
