// `sipfleet ctl secfilter list [LIST]` (secfilter.print): the lists, all four or one.
import {
  SECFILTER_LISTS,
  type SecfilterList,
  SecfilterStore,
  checkList,
} from '@sipfleet/secfilter';
import {
  type CtlCommand,
  type CtlSettings,
  EXIT,
  ctlAction,
  output,
  withRedis,
} from '../common.js';
import { typed } from './typed.js';

async function list(settings: CtlSettings, [name]: string[]): Promise<number> {
  const only = name === undefined ? undefined : typed(() => checkList(name));
  return withRedis(settings, async (conn) => {
    const store = new SecfilterStore(conn);
    const lists: Partial<Record<SecfilterList, string[]>> = {};
    for (const name of only === undefined ? SECFILTER_LISTS : [only]) {
      lists[name] = await store.members(name);
    }
    output(settings, lists, () =>
      Object.entries(lists).map(
        ([name, entries]) => `${name}: ${entries.length === 0 ? '(empty)' : entries.join(' ')}`,
      ),
    );
    return EXIT.ok;
  });
}

export function addList(secfilter: CtlCommand): void {
  secfilter
    .command('list')
    .description('the lists (all four, or one)')
    .argument('[LIST]')
    .action(ctlAction(list));
}
