// `sipfleet ctl dispatcher set-duid-state STATE SET DUID [--reason TEXT]` (dispatcher.set_duid_state).
import { DispatcherFleet } from '@sipfleet/dispatcher';
import { type CtlCommand, type CtlSettings, EXIT, output, withRedis } from '../common.js';
import { type StateChange, stateChange, stateLine } from './set-state.js';
import { dispatcherAction, parseSetId } from './shared.js';

/**
 * dispatcher.set_duid_state STATE GROUP DUID: set-state on the destination whose `duid`
 * attribute is DUID (exit 3 when the set has none), published to every edge.
 */
async function setDuidState(
  settings: CtlSettings,
  args: string[],
  { reason }: { reason?: string },
) {
  const [state = '', setText, duid = ''] = args;
  const setid = parseSetId('SET', setText);
  return withRedis(settings, async (conn) => {
    const done = await new DispatcherFleet(conn).setDuidState(setid, duid, state, {
      reason: reason ?? 'ctl',
    });
    const changes: StateChange[] = done.map((d) => stateChange(setid, d.uri, d.transition));
    output(settings, { duid, changes }, () => changes.map(stateLine));
    return EXIT.ok;
  });
}

export function addSetDuidState(ds: CtlCommand): void {
  ds.command('set-duid-state')
    .description('set the state of the destination with that duid  [dispatcher.set_duid_state]')
    .argument('STATE', 'a, i, d, t (or 1, 0, 2, 3), optionally followed by p')
    .argument('SET')
    .argument('DUID')
    .option('--reason <TEXT>', 'carried by the dst-down/dst-up event (default ctl)')
    .action(dispatcherAction(setDuidState));
}
