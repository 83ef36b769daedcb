// `sipfleet ctl htable sets|seti TABLE KEY VALUE [--expire S]` (htable.sets, htable.seti): one
// command with two names, for a string or an integer item.
import {
  type CtlCommand,
  type CtlSettings,
  EXIT,
  UsageError,
  ctlAction,
  output,
  parseSeconds,
  withRedis,
} from '../common.js';
import { itemLine, writeItem } from './items.js';

function parseInteger(text: string): number {
  const n = Number(text);
  if (!/^-?\d+$/.test(text) || !Number.isSafeInteger(n)) {
    throw new UsageError(`seti takes an integer (got '${text}')`);
  }
  return n;
}

interface ExpireOption {
  expire?: string;
}

async function set(
  type: 'sets' | 'seti',
  settings: CtlSettings,
  args: string[],
  { expire: expireText }: ExpireOption,
): Promise<number> {
  const [table = '', key = '', text = ''] = args;
  const value = type === 'seti' ? parseInteger(text) : text;
  const expire = parseSeconds('--expire', expireText);
  return withRedis(settings, async (conn) => {
    const item = await writeItem(conn, settings, table, key, value, expire);
    output(settings, { table, ...item }, () => [itemLine(table, item)]);
    return EXIT.ok;
  });
}

const EXPIRE_HELP =
  "seconds the item lives; without it the table's autoexpire applies (from --config; an undeclared table has none)";

export function addSet(htable: CtlCommand): void {
  htable
    .command('sets')
    .description('set a string item  [htable.sets]')
    .argument('TABLE')
    .argument('KEY')
    .argument('VALUE')
    .option('--expire <S>', EXPIRE_HELP)
    .action(ctlAction<ExpireOption>((...a) => set('sets', ...a)));
  htable
    .command('seti')
    .description('set an integer item  [htable.seti]')
    .argument('TABLE')
    .argument('KEY')
    .argument('INT')
    .option('--expire <S>', EXPIRE_HELP)
    .action(ctlAction<ExpireOption>((...a) => set('seti', ...a)));
}
