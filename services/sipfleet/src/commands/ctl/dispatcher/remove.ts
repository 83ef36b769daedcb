// `sipfleet ctl dispatcher remove SET URI` (dispatcher.remove).
import { DispatcherFleet } from '@sipfleet/dispatcher';
import { type CtlCommand, type CtlSettings, EXIT, output, withRedis } from '../common.js';
import { dispatcherAction, parseSetId } from './shared.js';

/** dispatcher.remove: exit 3 when the set does not hold that URI. */
async function remove(settings: CtlSettings, args: string[]) {
  const [setText, uri = ''] = args;
  const setid = parseSetId('SET', setText);
  return withRedis(settings, async (conn) => {
    const removed = await new DispatcherFleet(conn).remove(setid, uri);
    output(settings, { setid, uri, removed }, () => [
      removed
        ? `removed ${uri} from set ${setid}`
        : `no destination ${uri} in dispatcher set ${setid} (nothing removed)`,
    ]);
    return removed ? EXIT.ok : EXIT.notFound;
  });
}

export function addRemove(ds: CtlCommand): void {
  ds.command('remove')
    .description('remove a destination  [dispatcher.remove]')
    .argument('SET')
    .argument('URI')
    .action(dispatcherAction(remove));
}
