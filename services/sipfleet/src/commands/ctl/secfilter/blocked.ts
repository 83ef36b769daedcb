// `sipfleet ctl secfilter blocked` (pike.top): the blocked sources, who blocked them, for how long.
import { type BlockEntry, SecfilterStore } from '@sipfleet/secfilter';
import {
  type CtlCommand,
  type CtlSettings,
  EXIT,
  columns,
  ctlAction,
  formatExpiry,
  output,
  withRedis,
} from '../common.js';

async function blocked(settings: CtlSettings): Promise<number> {
  return withRedis(settings, async (conn) => {
    const blocks: BlockEntry[] = await new SecfilterStore(conn).blocks();
    output(settings, blocks, () => [
      ...columns([
        ['SOURCE', 'BY', 'EXPIRES'],
        ...blocks.map((b) => [b.address, b.by, formatExpiry(b.expiresInMs)]),
      ]),
      `${blocks.length} blocked source(s)`,
    ]);
    return EXIT.ok;
  });
}

export function addBlocked(secfilter: CtlCommand): void {
  secfilter
    .command('blocked')
    .description('the blocked sources, who blocked them and for how long')
    .action(ctlAction(blocked));
}
