// `sipfleet ctl dispatcher mark-addr STATE SET URI [--reason TEXT]` (ds_mark_addr).
import { DispatcherFleet } from '@sipfleet/dispatcher';
import { type CtlCommand, type CtlSettings, EXIT, output, withRedis } from '../common.js';
import { stateChange, stateLine } from './set-state.js';
import { dispatcherAction, parseSetId } from './shared.js';

/**
 * ds_mark_addr(STATE, GROUP, URI): ds_mark_dst's state string applied to a destination named by
 * address, through the thresholds (a `t` counts a failure, an `a` on an inactive destination a
 * success), unlike set-state which sets the bits as given.
 */
async function markAddr(settings: CtlSettings, args: string[], { reason }: { reason?: string }) {
  const [state = '', setText, uri = ''] = args;
  const setid = parseSetId('SET', setText);
  return withRedis(settings, async (conn) => {
    const t = await new DispatcherFleet(conn).setState(setid, uri, state, {
      mode: 'mark',
      reason: reason ?? 'ctl',
    });
    const change = stateChange(setid, uri, t);
    output(settings, change, () => [stateLine(change)]);
    return EXIT.ok;
  });
}

export function addMarkAddr(ds: CtlCommand): void {
  ds.command('mark-addr')
    .description('mark a destination as ds_mark_dst would (ip, tp, a, ...)  [ds_mark_addr]')
    .argument('STATE', 'ds_mark_dst letters: a clears, i d t p add (e.g. ip, tp, a)')
    .argument('SET')
    .argument('URI')
    .option('--reason <TEXT>', 'carried by the dst-down/dst-up event (default ctl)')
    .action(dispatcherAction(markAddr));
}
