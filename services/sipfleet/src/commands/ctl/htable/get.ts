// `sipfleet ctl htable get TABLE KEY` (htable.get): one item; exit 3 when it is missing.
import {
  type CtlCommand,
  type CtlSettings,
  EXIT,
  ctlAction,
  output,
  withRedis,
} from '../common.js';
import { itemLine, readItem } from './items.js';

async function get(settings: CtlSettings, args: string[]): Promise<number> {
  const [table = '', key = ''] = args;
  return withRedis(settings, async (conn) => {
    const item = await readItem(conn, table, key);
    if (!item) {
      output(settings, { table, key, found: false }, () => [`${table}=>${key}: no such item`]);
      return EXIT.notFound;
    }
    output(settings, { table, found: true, ...item }, () => [itemLine(table, item)]);
    return EXIT.ok;
  });
}

export function addGet(htable: CtlCommand): void {
  htable
    .command('get')
    .description('one item  [htable.get]')
    .argument('TABLE')
    .argument('KEY')
    .action(ctlAction(get));
}
