// `sipfleet ctl htable delete TABLE KEY` (htable.delete): exit 0 also when it was missing.
import { HtableStore } from '@sipfleet/htable';
import {
  type CtlCommand,
  type CtlSettings,
  EXIT,
  ctlAction,
  output,
  withRedis,
} from '../common.js';
import { usage } from './items.js';

async function remove(settings: CtlSettings, args: string[]): Promise<number> {
  const [table = '', key = ''] = args;
  return withRedis(settings, async (conn) => {
    const deleted = await usage(() => new HtableStore(conn).delete(table, key));
    output(settings, { table, key, deleted }, () => [
      deleted ? `deleted ${table}=>${key}` : `${table}=>${key}: no such item (nothing deleted)`,
    ]);
    return EXIT.ok;
  });
}

export function addDelete(htable: CtlCommand): void {
  htable
    .command('delete')
    .description('remove one item  [htable.delete]')
    .argument('TABLE')
    .argument('KEY')
    .action(ctlAction(remove));
}
