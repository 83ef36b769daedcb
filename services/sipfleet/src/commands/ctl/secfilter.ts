// `sipfleet ctl secfilter …`: Kamailio's secfilter RPCs (secfilter.add_blacklist/add_whitelist,
// del_*, print) and pike's pike.top / pike.rm for the fleet. Everything lives in Redis (keys.ts:
// sfBlock, sfList) and every edge mirrors it through client-side tracking, so a change here or
// with redis-cli reaches the whole fleet within milliseconds.
import { parseArgs } from 'node:util';
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
  COMMON_OPTIONS,
  COMMON_USAGE,
  type CtlGroup,
  type CtlSettings,
  CtlError,
  EXIT,
  UsageError,
  columns,
  formatExpiry,
  output,
  parseCommandLine,
  parseSeconds,
  resolveSettings,
  withRedis,
} from './common.js';

export const SECFILTER_USAGE = `usage: sipfleet ctl secfilter <command> [arguments] [options]

  add LIST ENTRY                  put an entry on a list (SADD); LIST is one of
                                  allow-ip, deny-ip (an address or CIDR), allow-ua, deny-ua
                                  (a case-insensitive User-Agent substring)
  remove LIST ENTRY               take it off (SREM)
  list [LIST]                     the lists (all four, or one)
  block ADDRESS [--expire S]      block a source on every edge (no expiry without --expire)
  unblock ADDRESS                 lift a block, whoever set it
  blocked                         the blocked sources, who blocked them and for how long

Trusted sources (allow-ip, and secfilter.trusted in the edge config) are never rate-limited nor
blocked. Rates and ban times are edge config (secfilter.* in docs/configuration.md).

${COMMON_USAGE}`;

/** A malformed list name or entry is the operator's typo: usage (exit 2). */
function typed<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof SecfilterError) throw new UsageError(err.message);
    throw err;
  }
}

function arity(command: string, args: string[], names: string[], optional = 0): void {
  if (args.length < names.length - optional) {
    throw new UsageError(`${command} needs ${names.join(' ')}`);
  }
  if (args.length > names.length) {
    throw new UsageError(`unexpected argument '${args[names.length] ?? ''}'`);
  }
}

async function add(settings: CtlSettings, list: SecfilterList, raw: string): Promise<number> {
  const entry = typed(() => normalizeListEntry(list, raw));
  return withRedis(settings, async (conn) => {
    const added = await new SecfilterStore(conn).add(list, entry);
    output(settings, { list, entry, added }, () => [
      added ? `${list}: added ${entry}` : `${list}: ${entry} was there already`,
    ]);
    return EXIT.ok;
  });
}

async function remove(settings: CtlSettings, list: SecfilterList, raw: string): Promise<number> {
  return withRedis(settings, async (conn) => {
    const removed = await new SecfilterStore(conn).remove(list, raw);
    if (!removed) throw new CtlError(`${raw} is not on ${list}`, EXIT.notFound);
    output(settings, { list, entry: raw, removed }, () => [`${list}: removed ${raw}`]);
    return EXIT.ok;
  });
}

async function list(settings: CtlSettings, only: SecfilterList | undefined): Promise<number> {
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

async function block(settings: CtlSettings, raw: string, expire: number): Promise<number> {
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

async function unblock(settings: CtlSettings, raw: string): Promise<number> {
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

export const secfilterGroup: CtlGroup = {
  usage: SECFILTER_USAGE,
  async run(argv, env) {
    const { values, positionals } = parseCommandLine(argv, (args) =>
      parseArgs({
        args,
        options: { ...COMMON_OPTIONS, expire: { type: 'string' } },
        allowPositionals: true,
        strict: true,
      }),
    );
    if (values.help) {
      process.stdout.write(SECFILTER_USAGE);
      return EXIT.ok;
    }
    const [command, ...args] = positionals;
    if (values.expire !== undefined && command !== 'block') {
      throw new UsageError('--expire goes with block only');
    }
    const expire = parseSeconds('--expire', values.expire);
    const settings = resolveSettings(values, env);
    switch (command) {
      case 'add':
      case 'remove': {
        arity(command, args, ['LIST', 'ENTRY']);
        const name = typed(() => checkList(args[0] ?? ''));
        const entry = args[1] ?? '';
        return command === 'add' ? add(settings, name, entry) : remove(settings, name, entry);
      }
      case 'list': {
        arity(command, args, ['LIST'], 1);
        const name = args[0];
        return list(settings, name === undefined ? undefined : typed(() => checkList(name)));
      }
      case 'block':
        arity(command, args, ['ADDRESS']);
        return block(settings, args[0] ?? '', expire);
      case 'unblock':
        arity(command, args, ['ADDRESS']);
        return unblock(settings, args[0] ?? '');
      case 'blocked':
        arity(command, args, []);
        return blocked(settings);
      case undefined:
        throw new UsageError(
          'missing secfilter command (add, remove, list, block, unblock, blocked)',
        );
      default:
        throw new UsageError(`unknown secfilter command '${command}'`);
    }
  },
};
