// `sipfleet ctl secfilter add LIST ENTRY` (secfilter.add_blacklist/add_whitelist): SADD.
import { SecfilterStore, checkList, normalizeListEntry } from '@sipfleet/secfilter';
import {
  type CtlCommand,
  type CtlSettings,
  EXIT,
  ctlAction,
  output,
  withRedis,
} from '../common.js';
import { typed } from './typed.js';

async function add(settings: CtlSettings, [name = '', raw = '']: string[]): Promise<number> {
  const list = typed(() => checkList(name));
  const entry = typed(() => normalizeListEntry(list, raw));
  return withRedis(settings, async (conn) => {
    const added = await new SecfilterStore(conn).add(list, entry);
    output(settings, { list, entry, added }, () => [
      added ? `${list}: added ${entry}` : `${list}: ${entry} was there already`,
    ]);
    return EXIT.ok;
  });
}

export function addAdd(secfilter: CtlCommand): void {
  secfilter
    .command('add')
    .description('put an entry on a list (SADD)')
    .argument('LIST')
    .argument('ENTRY')
    .action(ctlAction(add));
}
