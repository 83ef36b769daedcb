// `sipfleet ctl secfilter …`: Kamailio's secfilter RPCs (secfilter.add_blacklist/add_whitelist,
// del_*, print) and pike's pike.top / pike.rm for the fleet. Everything lives in Redis (keys.ts:
// sfBlock, sfList) and every edge mirrors it through client-side tracking, so a change here or
// with redis-cli reaches the whole fleet within milliseconds.
import { SECFILTER_LISTS } from '@sipfleet/secfilter';
import { type CtlCommand } from '../common.js';
import { addAdd } from './add.js';
import { addBlock } from './block.js';
import { addBlocked } from './blocked.js';
import { addList } from './list.js';
import { addRemove } from './remove.js';
import { addUnblock } from './unblock.js';

export function addSecfilter(program: CtlCommand): void {
  const secfilter = program
    .group(
      'secfilter',
      'add, remove, list, block, unblock, blocked',
      "Kamailio's secfilter and pike RPCs for the fleet: allow/deny lists and blocked sources.",
    )
    .addHelpText(
      'after',
      `
LIST is one of ${SECFILTER_LISTS.join(', ')}: allow-ip and deny-ip hold an address or CIDR,
allow-ua and deny-ua a case-insensitive User-Agent substring.

Trusted sources (allow-ip, and secfilter.trusted in the edge config) are never rate-limited nor
blocked. Rates and ban times are edge config (secfilter.* in docs/configuration.md).`,
    );
  addAdd(secfilter);
  addRemove(secfilter);
  addList(secfilter);
  addBlock(secfilter);
  addUnblock(secfilter);
  addBlocked(secfilter);
}
