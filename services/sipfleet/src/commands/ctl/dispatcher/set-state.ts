// `sipfleet ctl dispatcher set-state STATE SET URI|all [--reason TEXT]` (dispatcher.set_state).
import {
  DispatcherFleet,
  type Transition,
  formatFlags,
  transitionEventType,
} from '@sipfleet/dispatcher';
import { type CtlCommand, CtlError, type CtlSettings, EXIT, output, withRedis } from '../common.js';
import { dispatcherAction, parseSetId } from './shared.js';

export interface StateChange {
  setid: number;
  uri: string;
  old: { flags: number; flagsText: string };
  new: { flags: number; flagsText: string };
  changed: boolean;
  /** The event published to every edge, null when nothing changed. */
  event: 'dst-down' | 'dst-up' | 'dst-state' | null;
}

export function stateChange(setid: number, uri: string, t: Transition): StateChange {
  return {
    setid,
    uri,
    old: { flags: t.oldFlags, flagsText: formatFlags(t.oldFlags) },
    new: { flags: t.newFlags, flagsText: formatFlags(t.newFlags) },
    changed: t.changed,
    event: t.changed ? transitionEventType(t) : null,
  };
}

export function stateLine(c: StateChange): string {
  return c.changed
    ? `set ${c.setid} ${c.uri}: ${c.old.flagsText} -> ${c.new.flagsText} (${c.event ?? ''} published)`
    : `set ${c.setid} ${c.uri}: ${c.new.flagsText} (unchanged)`;
}

/**
 * dispatcher.set_state STATE GROUP ADDRESS: the state bits are set as given (no thresholds),
 * `all` sets every destination of the set, as Kamailio's RPC does.
 */
async function setState(settings: CtlSettings, args: string[], { reason }: { reason?: string }) {
  const [state = '', setText, uri = ''] = args;
  const setid = parseSetId('SET', setText);
  return withRedis(settings, async (conn) => {
    const fleet = new DispatcherFleet(conn);
    let uris = [uri];
    if (uri.toLowerCase() === 'all') {
      const set = (await fleet.read()).sets.find((s) => s.id === setid);
      if (set === undefined) {
        throw new CtlError(`dispatcher set ${setid} does not exist`, EXIT.notFound);
      }
      uris = set.destinations.map((d) => d.uri);
    }
    const changes: StateChange[] = [];
    for (const u of uris) {
      const t = await fleet.setState(setid, u, state, { mode: 'rpc', reason: reason ?? 'ctl' });
      changes.push(stateChange(setid, u, t));
    }
    output(settings, uri.toLowerCase() === 'all' ? { changes } : changes[0], () =>
      changes.map(stateLine),
    );
    return EXIT.ok;
  });
}

export function addSetState(ds: CtlCommand): void {
  ds.command('set-state')
    .description(
      'set a destination state (a second p adds probing: ap, ip, tp)  [dispatcher.set_state]',
    )
    .argument('STATE', 'a, i, d, t (or 1, 0, 2, 3), optionally followed by p')
    .argument('SET')
    .argument('URI|all')
    .option('--reason <TEXT>', 'carried by the dst-down/dst-up event (default ctl)')
    .action(dispatcherAction(setState));
}
