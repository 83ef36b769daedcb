// `sipfleet ctl keepalive is-alive URI` (keepalive.get, ka_is_alive).
import { KeepaliveStore, aliveOf, uriField } from '@sipfleet/keepalive/store';
import {
  type CtlCommand,
  type CtlSettings,
  EXIT,
  ctlAction,
  output,
  withRedis,
} from '../common.js';

/**
 * ka_is_alive: `up`, `down`, or `unknown` (monitored, no reply recorded yet). Exit 3 when the URI
 * is not monitored at all, so a script can tell "not ours" from "down".
 */
async function isAlive(settings: CtlSettings, args: string[]) {
  const [uri = ''] = args;
  return withRedis(settings, async (conn) => {
    const store = new KeepaliveStore(conn);
    const field = uriField(uri);
    const [destinations, states] = await Promise.all([store.list(), store.states()]);
    const monitored = destinations.some((d) => uriField(d.uri) === field);
    const state = aliveOf(states.get(field));
    output(settings, { uri, monitored, state }, () => [
      monitored ? state : `no keepalive destination ${uri}`,
    ]);
    return monitored ? EXIT.ok : EXIT.notFound;
  });
}

export function addIsAlive(ka: CtlCommand): void {
  ka.command('is-alive')
    .description('up, down or unknown  [keepalive.get, ka_is_alive]')
    .argument('URI')
    .action(ctlAction(isAlive));
}
