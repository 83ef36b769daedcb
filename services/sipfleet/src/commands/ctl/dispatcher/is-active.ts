// `sipfleet ctl dispatcher is-active SET [URI]` (ds_is_active).
import { DispatcherFleet, setIsActive } from '@sipfleet/dispatcher';
import { type CtlCommand, type CtlSettings, EXIT, output, withRedis } from '../common.js';
import { dispatcherAction, parseSetId } from './shared.js';

/** ds_is_active(SET[, URI]) over the fleet's current states; exit 3 when the set does not exist. */
async function isActive(settings: CtlSettings, args: string[]) {
  const [setText, uri] = args;
  const setid = parseSetId('SET', setText);
  return withRedis(settings, async (conn) => {
    const set = (await new DispatcherFleet(conn).read()).sets.find((s) => s.id === setid);
    const active = setIsActive(set, uri);
    const what = uri === undefined ? `set ${setid}` : `${uri} in set ${setid}`;
    output(settings, { setid, uri: uri ?? null, active }, () => [
      set === undefined
        ? `dispatcher set ${setid} does not exist`
        : `${what}: ${active ? 'active' : 'not active'}`,
    ]);
    return set === undefined ? EXIT.notFound : EXIT.ok;
  });
}

export function addIsActive(ds: CtlCommand): void {
  ds.command('is-active')
    .description('does the set have an active destination (or is URI in it active)  [ds_is_active]')
    .argument('SET')
    .argument('[URI]')
    .action(dispatcherAction(isActive));
}
