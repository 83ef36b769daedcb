// `sipfleet ctl secfilter block ADDRESS [--expire S]`: block a source on every edge.
import { SecfilterStore, normalizeBlockAddress } from '@sipfleet/secfilter';
import {
  type CtlCommand,
  type CtlSettings,
  EXIT,
  ctlAction,
  formatExpiry,
  output,
  parseSeconds,
  withRedis,
} from '../common.js';
import { typed } from './typed.js';

interface ExpireOption {
  expire?: string;
}

async function block(
  settings: CtlSettings,
  [raw = '']: string[],
  options: ExpireOption,
): Promise<number> {
  const expire = parseSeconds('--expire', options.expire);
  const address = typed(() => normalizeBlockAddress(raw));
  return withRedis(settings, async (conn) => {
    await new SecfilterStore(conn).block(address, expire * 1000, 'manual');
    const expiresInMs = expire > 0 ? expire * 1000 : null;
    output(settings, { address, by: 'manual', expiresInMs }, () => [
      `blocked ${address} on every edge (${formatExpiry(expiresInMs)})`,
    ]);
    return EXIT.ok;
  });
}

export function addBlock(secfilter: CtlCommand): void {
  secfilter
    .command('block')
    .description('block a source on every edge (no expiry without --expire)')
    .argument('ADDRESS')
    .option('--expire <S>', 'seconds the block lasts')
    .action(ctlAction(block));
}
