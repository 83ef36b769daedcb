// `sipfleet ctl keepalive list` (keepalive.list).
import { KeepaliveStore, aliveOf, uriField } from '@sipfleet/keepalive/store';
import {
  type CtlCommand,
  type CtlSettings,
  EXIT,
  columns,
  ctlAction,
  output,
  withRedis,
} from '../common.js';

/** keepalive.list: every destination with its owner, interval and state as probers recorded it. */
async function list(settings: CtlSettings) {
  return withRedis(settings, async (conn) => {
    const store = new KeepaliveStore(conn);
    const [destinations, states] = await Promise.all([store.list(), store.states()]);
    const rows = destinations
      .map((d) => ({
        uri: d.uri,
        owner: d.owner,
        intervalMs: d.intervalMs ?? null,
        ...(d.from !== undefined ? { from: d.from } : {}),
        state: aliveOf(states.get(uriField(d.uri))),
      }))
      .sort((a, b) => a.uri.localeCompare(b.uri));
    output(settings, rows, () =>
      rows.length === 0
        ? ['no keepalive destinations']
        : columns([
            ['URI', 'OWNER', 'INTERVAL', 'STATE'],
            ...rows.map((r) => [
              r.uri,
              r.owner,
              r.intervalMs === null ? 'default' : `${r.intervalMs} ms`,
              r.state,
            ]),
          ]),
    );
    return EXIT.ok;
  });
}

export function addList(ka: CtlCommand): void {
  ka.command('list')
    .description('every monitored destination and its state  [keepalive.list]')
    .action(ctlAction(list));
}
