// `sipfleet ctl secfilter …`: Kamailio's secfilter RPCs (secfilter.add_blacklist/add_whitelist,
// del_*, print) and pike's pike.top / pike.rm for the fleet. Everything lives in Redis (keys.ts:
// sfBlock, sfList) and every edge mirrors it through client-side tracking, so a change here or
// with redis-cli reaches the whole fleet within milliseconds.
import {
  type BlockEntry,
  SECFILTER_LISTS,
  SecfilterError,
  type SecfilterList,
  SecfilterStore,
  checkList,
  normalizeBlockAddress,
  normalizeListEntry,
} from '@sipfleet/secfilter';
import {
  type CtlCommand,
  CtlError,
  type CtlSettings,
  EXIT,
  UsageError,
  columns,
  ctlAction,
  formatExpiry,
  output,
  parseSeconds,
  withRedis,
} from './common.js';

/** A malformed list name or entry is the operator's typo: usage (exit 2). */
function typed<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof SecfilterError) throw new UsageError(err.message);
    throw err;
  }
}

interface ExpireOption {
  expire?: string;
}

async function add(settings: CtlSettings, [name = '', raw = '']: string[]): Promise<number> {
  const list = typed(() => checkList(name));
  const entry = typed(() => normalizeListEntry(list, raw));
  return withRedis(settings, async (conn) => {
    const added = await new SecfilterStore(conn).add(list, entry);
    output(settings, { list, entry, added }, () => [
      added ? `${list}: added ${entry}` : `${list}: ${entry} was there already`,
    ]);
    return EXIT.ok;
  });
}

async function remove(settings: CtlSettings, [name = '', raw = '']: string[]): Promise<number> {
  const list = typed(() => checkList(name));
  return withRedis(settings, async (conn) => {
    const removed = await new SecfilterStore(conn).remove(list, raw);
    if (!removed) throw new CtlError(`${raw} is not on ${list}`, EXIT.notFound);
    output(settings, { list, entry: raw, removed }, () => [`${list}: removed ${raw}`]);
    return EXIT.ok;
  });
}

async function list(settings: CtlSettings, [name]: string[]): Promise<number> {
  const only = name === undefined ? undefined : typed(() => checkList(name));
  return withRedis(settings, async (conn) => {
    const store = new SecfilterStore(conn);
    const lists: Partial<Record<SecfilterList, string[]>> = {};
    for (const name of only === undefined ? SECFILTER_LISTS : [only]) {
      lists[name] = await store.members(name);
    }
    output(settings, lists, () =>
      Object.entries(lists).map(
        ([name, entries]) => `${name}: ${entries.length === 0 ? '(empty)' : entries.join(' ')}`,
      ),
    );
    return EXIT.ok;
  });
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
  secfilter
    .command('add')
    .description('put an entry on a list (SADD)')
    .argument('LIST')
    .argument('ENTRY')
    .action(ctlAction(add));
  secfilter
    .command('remove')
    .description('take it off (SREM)')
    .argument('LIST')
    .argument('ENTRY')
    .action(ctlAction(remove));
  secfilter
    .command('list')
    .description('the lists (all four, or one)')
    .argument('[LIST]')
    .action(ctlAction(list));
  secfilter
    .command('block')
    .description('block a source on every edge (no expiry without --expire)')
    .argument('ADDRESS')
    .option('--expire <S>', 'seconds the block lasts')
    .action(ctlAction(block));
  secfilter
    .command('unblock')
    .description('lift a block, whoever set it')
    .argument('ADDRESS')
    .action(ctlAction(unblock));
  secfilter
    .command('blocked')
    .description('the blocked sources, who blocked them and for how long')
    .action(ctlAction(blocked));
}
