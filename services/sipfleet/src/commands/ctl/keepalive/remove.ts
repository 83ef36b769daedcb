// `sipfleet ctl keepalive remove URI` (keepalive.del).
import { KeepaliveStore } from '@sipfleet/keepalive/store';
import {
  type CtlCommand,
  type CtlSettings,
  EXIT,
  ctlAction,
  output,
  withRedis,
} from '../common.js';

/** keepalive.del: exit 3 when the URI is not monitored. */
async function remove(settings: CtlSettings, args: string[]) {
  const [uri = ''] = args;
  return withRedis(settings, async (conn) => {
    const removed = await new KeepaliveStore(conn).remove(uri);
    output(settings, { uri, removed }, () => [
      removed ? `removed ${uri}` : `no keepalive destination ${uri} (nothing removed)`,
    ]);
    return removed ? EXIT.ok : EXIT.notFound;
  });
}

export function addRemove(ka: CtlCommand): void {
  ka.command('remove')
    .description('stop monitoring a destination  [keepalive.del]')
    .argument('URI')
    .action(ctlAction(remove));
}
