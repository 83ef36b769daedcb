// `sipfleet ctl secfilter remove LIST ENTRY` (secfilter.del_*): SREM; exit 3 when it is not there.
import { SecfilterStore, checkList } from '@sipfleet/secfilter';
import {
  type CtlCommand,
  CtlError,
  type CtlSettings,
  EXIT,
  ctlAction,
  output,
  withRedis,
} from '../common.js';
import { typed } from './typed.js';

async function remove(settings: CtlSettings, [name = '', raw = '']: string[]): Promise<number> {
  const list = typed(() => checkList(name));
  return withRedis(settings, async (conn) => {
    const removed = await new SecfilterStore(conn).remove(list, raw);
    if (!removed) throw new CtlError(`${raw} is not on ${list}`, EXIT.notFound);
    output(settings, { list, entry: raw, removed }, () => [`${list}: removed ${raw}`]);
    return EXIT.ok;
  });
}

export function addRemove(secfilter: CtlCommand): void {
  secfilter
    .command('remove')
    .description('take it off (SREM)')
    .argument('LIST')
    .argument('ENTRY')
    .action(ctlAction(remove));
}
