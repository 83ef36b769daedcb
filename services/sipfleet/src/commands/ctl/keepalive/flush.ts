// `sipfleet ctl keepalive flush` (keepalive.flush).
import { KeepaliveStore } from '@sipfleet/keepalive/store';
import {
  type CtlCommand,
  type CtlSettings,
  EXIT,
  ctlAction,
  output,
  withRedis,
} from '../common.js';
import { plural } from '../dispatcher/shared.js';

/** keepalive.flush: every destination removed (probers stop, edges' isAlive turns unknown). */
async function flush(settings: CtlSettings) {
  return withRedis(settings, async (conn) => {
    const removed = await new KeepaliveStore(conn).flush();
    output(settings, { removed }, () => [`removed ${plural(removed, 'keepalive destination')}`]);
    return EXIT.ok;
  });
}

export function addFlush(ka: CtlCommand): void {
  ka.command('flush')
    .description('stop monitoring every destination  [keepalive.flush]')
    .action(ctlAction(flush));
}
