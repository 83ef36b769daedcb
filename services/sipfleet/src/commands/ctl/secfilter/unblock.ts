// `sipfleet ctl secfilter unblock ADDRESS` (pike.rm): lift a block, whoever set it; exit 3 when
// there is none.
import { SecfilterStore, normalizeBlockAddress } from '@sipfleet/secfilter';
import {
  type CtlCommand,
  CtlError,
  type CtlSettings,
  EXIT,
  ctlAction,
  output,
  withRedis,
} from '../common.js';
import { typed } from './typed.js';

async function unblock(settings: CtlSettings, [raw = '']: string[]): Promise<number> {
  const address = typed(() => normalizeBlockAddress(raw));
  return withRedis(settings, async (conn) => {
    if (!(await new SecfilterStore(conn).unblock(address))) {
      throw new CtlError(`${address} is not blocked`, EXIT.notFound);
    }
    output(settings, { address, unblocked: true }, () => [`unblocked ${address}`]);
    return EXIT.ok;
  });
}

export function addUnblock(secfilter: CtlCommand): void {
  secfilter
    .command('unblock')
    .description('lift a block, whoever set it')
    .argument('ADDRESS')
    .action(ctlAction(unblock));
}
