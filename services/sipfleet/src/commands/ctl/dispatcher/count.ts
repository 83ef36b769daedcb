// `sipfleet ctl dispatcher count SET [FILTER]` (ds_count).
import { DispatcherFleet, countDestinations } from '@sipfleet/dispatcher';
import { type CtlCommand, type CtlSettings, EXIT, output, withRedis } from '../common.js';
import { dispatcherAction, parseSetId } from './shared.js';

/** ds_count(SET, FILTER) over the fleet's current states; exit 3 when the set does not exist. */
async function count(settings: CtlSettings, args: string[]) {
  const [setText, filter = 'a'] = args;
  const setid = parseSetId('SET', setText);
  return withRedis(settings, async (conn) => {
    const set = (await new DispatcherFleet(conn).read()).sets.find((s) => s.id === setid);
    const n = countDestinations(set, filter);
    output(settings, { setid, filter, count: n, exists: set !== undefined }, () => [
      set === undefined ? `dispatcher set ${setid} does not exist` : String(n),
    ]);
    return set === undefined ? EXIT.notFound : EXIT.ok;
  });
}

export function addCount(ds: CtlCommand): void {
  ds.command('count')
    .description('destinations of a set in the given states  [ds_count]')
    .argument('SET')
    .argument('[FILTER]', 'any of a (active), i, d, t, p; or * for all (default a)')
    .action(dispatcherAction(count));
}
