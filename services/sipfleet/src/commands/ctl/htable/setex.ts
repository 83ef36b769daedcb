// `sipfleet ctl htable setex TABLE KEY SECONDS` (htable.setex): set the expiry of an existing item,
// 0 = never expire; exit 3 when the item is missing.
import { HtableStore } from '@sipfleet/htable';
import {
  type CtlCommand,
  type CtlSettings,
  EXIT,
  ctlAction,
  output,
  parseSeconds,
  withRedis,
} from '../common.js';
import { itemLine, readItem, usage } from './items.js';

async function setex(settings: CtlSettings, args: string[]): Promise<number> {
  const [table = '', key = '', text = ''] = args;
  const seconds = parseSeconds('SECONDS', text);
  return withRedis(settings, async (conn) => {
    const found = await usage(() => new HtableStore(conn).setex(table, key, seconds));
    const item = found ? await readItem(conn, table, key) : undefined;
    if (!item) {
      output(settings, { table, key, found: false }, () => [`${table}=>${key}: no such item`]);
      return EXIT.notFound;
    }
    output(settings, { table, found: true, ...item }, () => [itemLine(table, item)]);
    return EXIT.ok;
  });
}

export function addSetex(htable: CtlCommand): void {
  htable
    .command('setex')
    .description('set the expiry of an existing item, 0 = never  [htable.setex]')
    .argument('TABLE')
    .argument('KEY')
    .argument('SECONDS')
    .action(ctlAction(setex));
}
