// `sipfleet ctl htable …`: Kamailio's htable RPCs (htable.get, .sets, .seti, .delete, .dump,
// .listTables, .flush, .reload, .stats) run against Redis for the whole fleet.
//
// ctl does not open an `Htables` cache: that class is for long-lived processes (it starts
// client-side tracking and reads whole tables at open), while ctl makes one change and exits. It
// runs the same Lua (`ht-set-1.lua` from HTABLE_LUA_DIR, so type and expiry rules stay atomic and
// identical) and reads items with the same decoder; every edge sees the change through its own
// tracking within milliseconds, no signal needed.
import { parseArgs } from 'node:util';
import {
  HTABLE_LUA_DIR,
  type HtableDefinition,
  HtableError,
  type ResolvedDefinition,
  decodeItem,
  resolveDefinitions,
} from '@sipfleet/htable';
import {
  type RedisConnection,
  ScriptRunner,
  SipfleetRedisError,
  escapeGlob,
  toRedisError,
} from '@sipfleet/redis';
import {
  COMMON_OPTIONS,
  COMMON_USAGE,
  CtlError,
  type CtlGroup,
  type CtlSettings,
  EXIT,
  UsageError,
  columns,
  formatDuration,
  formatExpiry,
  output,
  parseCommandLine,
  parseSeconds,
  resolveSettings,
  withRedis,
} from './common.js';

export const HTABLE_USAGE = `usage: sipfleet ctl htable <command> [options]

commands (Kamailio RPC in brackets):
  get TABLE KEY                      one item                      [htable.get]
  sets TABLE KEY VALUE [--expire S]  set a string item             [htable.sets]
  seti TABLE KEY INT [--expire S]    set an integer item           [htable.seti]
  delete TABLE KEY                   remove one item               [htable.delete]
  dump TABLE                         every item of a table         [htable.dump]
  list                               tables found in Redis         [htable.listTables]
  flush TABLE                        remove every item of a table  [htable.flush]
  reload [TABLE] --config FILE       write missing initial values  [htable.reload]
  stats                              item counts per table         [htable.stats]

  --expire S        seconds the item lives; without it the table's autoexpire applies
                    (from --config; an undeclared table has none)

${COMMON_USAGE}`;

/** One item as Redis holds it now. `expiresInMs` null = no expiry. */
export interface ItemView {
  key: string;
  type: 'int' | 'str';
  value: string | number;
  expiresInMs: number | null;
}

// ---- keys ------------------------------------------------------------------------------------

function tablePrefix(conn: RedisConnection, table: string): string {
  try {
    return conn.keys.htTablePrefix(table);
  } catch (err) {
    // KeyBuilder refuses an empty name or one with braces (it would move the hash tag).
    if (err instanceof SipfleetRedisError) throw new UsageError(err.message);
    throw err;
  }
}

/** Every key under every table: `<prefix>:{ht:<table>}:<key>` grouped by table name. */
async function scanTables(conn: RedisConnection): Promise<Map<string, string[]>> {
  const start = `${conn.keys.prefix}:{ht:`;
  const found = await conn.scan(`${escapeGlob(start)}*`);
  const tables = new Map<string, string[]>();
  for (const fullKey of found) {
    const close = fullKey.indexOf('}:', start.length);
    if (close < 0) continue;
    const table = fullKey.slice(start.length, close);
    if (table === '' || table.includes('{')) continue;
    const keys = tables.get(table) ?? [];
    keys.push(fullKey);
    tables.set(table, keys);
  }
  return tables;
}

// ---- reads -----------------------------------------------------------------------------------

interface TableRead {
  items: ItemView[];
  /** Keys under the table's prefix that are not items (another Redis type, a hash without i/s). */
  malformed: string[];
}

/** Reads items: HGETALL + PTTL per key, pipelined 500 keys at a time (one table = one slot). */
async function readItems(
  conn: RedisConnection,
  prefix: string,
  fullKeys: string[],
): Promise<TableRead> {
  const out: TableRead = { items: [], malformed: [] };
  for (let i = 0; i < fullKeys.length; i += 500) {
    const batch = fullKeys.slice(i, i + 500);
    const pipeline = conn.client.pipeline();
    for (const key of batch) pipeline.hgetall(key).pttl(key);
    let replies: [Error | null, unknown][] | null;
    try {
      replies = await pipeline.exec();
    } catch (err) {
      throw toRedisError(err);
    }
    batch.forEach((fullKey, n) => {
      const [hashErr, fields] = replies?.[2 * n] ?? [null, {}];
      const [, pttl] = replies?.[2 * n + 1] ?? [null, -2];
      const key = fullKey.slice(prefix.length);
      // WRONGTYPE: someone SET a plain string (or a list, ...) under the table's prefix.
      if (hashErr && !/WRONGTYPE/.test(hashErr.message)) throw toRedisError(hashErr);
      const hash = hashErr ? undefined : (fields as Record<string, string>);
      // An empty hash: the key expired or was deleted between SCAN and now.
      if (hash && Object.keys(hash).length === 0) return;
      const value = hash && decodeItem(hash);
      if (value === undefined) {
        out.malformed.push(key);
        return;
      }
      out.items.push({
        key,
        type: typeof value === 'number' ? 'int' : 'str',
        value,
        expiresInMs: typeof pttl === 'number' && pttl > 0 ? pttl : null,
      });
    });
  }
  out.items.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  out.malformed.sort();
  return out;
}

/** One item, or undefined when missing. Throws CtlError when the key holds something else. */
export async function readItem(
  conn: RedisConnection,
  table: string,
  key: string,
): Promise<ItemView | undefined> {
  const prefix = tablePrefix(conn, table);
  const read = await readItems(conn, prefix, [prefix + key]);
  if (read.malformed.length > 0) throw notAnItem(table, key);
  return read.items[0];
}

/** The items of one table whose key starts with `keyStart` (SCAN; for status listings). */
export async function readItemsStartingWith(
  conn: RedisConnection,
  table: string,
  keyStart: string,
): Promise<TableRead> {
  const prefix = tablePrefix(conn, table);
  const keys = await conn.scan(`${escapeGlob(prefix + keyStart)}*`);
  return readItems(conn, prefix, keys);
}

function notAnItem(table: string, key: string): CtlError {
  return new CtlError(
    `${table}=>${key} is not an htable item (expected a hash with field i or s); ` +
      `'sipfleet ctl htable delete ${table} ${key}' removes it`,
    EXIT.failure,
  );
}

// ---- writes ----------------------------------------------------------------------------------

/** The table's expiry rules from --config, or the defaults of an undeclared table. */
function definitions(settings: CtlSettings): ResolvedDefinition[] {
  const declared: HtableDefinition[] = settings.edgeConfig?.htables ?? [];
  try {
    return resolveDefinitions(declared);
  } catch (err) {
    if (err instanceof HtableError) throw new CtlError(err.message, EXIT.config);
    throw err;
  }
}

function rulesFor(settings: CtlSettings, table: string): ResolvedDefinition {
  const declared = definitions(settings).find((d) => d.name === table);
  if (declared) return declared;
  const [undeclared] = resolveDefinitions([{ name: table }]);
  if (!undeclared) throw new Error('resolveDefinitions dropped a definition');
  return undeclared;
}

/**
 * `htable.sets` / `htable.seti`: one atomic write through `ht-set-1.lua`, the script `Htables`
 * uses, so the type field, the removal of the other field and the expiry rules are the same.
 */
export async function writeItem(
  conn: RedisConnection,
  settings: CtlSettings,
  table: string,
  key: string,
  value: string | number,
  expire: number,
): Promise<ItemView> {
  const fullKey = tablePrefix(conn, table) + key;
  const rules = rulesFor(settings, table);
  let reply: unknown[];
  try {
    reply = await new ScriptRunner(conn, [HTABLE_LUA_DIR]).run(
      'ht-set',
      [fullKey],
      [
        typeof value === 'number' ? 'i' : 's',
        value,
        expire,
        rules.autoexpire,
        rules.updateexpire ? '1' : '0',
        'set',
      ],
    );
  } catch (err) {
    if (err instanceof SipfleetRedisError && err.code === 'SIPFLEET_ERR_REDIS_SCRIPT_WRONG_TYPE') {
      throw notAnItem(table, key);
    }
    throw err;
  }
  const pttl = Number(reply[1]);
  return {
    key,
    type: typeof value === 'number' ? 'int' : 'str',
    value,
    expiresInMs: pttl > 0 ? pttl : null,
  };
}

// ---- output ----------------------------------------------------------------------------------

function showValue(item: ItemView): string {
  // Strings quoted, so an empty string or trailing blanks are visible and an int and "1" differ.
  return typeof item.value === 'number' ? String(item.value) : JSON.stringify(item.value);
}

export function itemLine(table: string, item: ItemView): string {
  return `${table}=>${item.key} = ${showValue(item)} (${item.type}, ${formatExpiry(item.expiresInMs)})`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

// ---- commands --------------------------------------------------------------------------------

function expectArgs(positionals: string[], names: string[], optional = 0): string[] {
  const min = names.length - optional;
  if (positionals.length < min || positionals.length > names.length) {
    throw new UsageError(
      `expected ${names.map((n, i) => (i >= min ? `[${n}]` : n)).join(' ')}, got ${positionals.length} argument(s)`,
    );
  }
  return positionals;
}

function parseInteger(text: string): number {
  const n = Number(text);
  if (!/^-?\d+$/.test(text) || !Number.isSafeInteger(n)) {
    throw new UsageError(`seti takes an integer (got '${text}')`);
  }
  return n;
}

async function get(settings: CtlSettings, args: string[]): Promise<number> {
  const [table = '', key = ''] = expectArgs(args, ['TABLE', 'KEY']);
  return withRedis(settings, async (conn) => {
    const item = await readItem(conn, table, key);
    if (!item) {
      output(settings, { table, key, found: false }, () => [`${table}=>${key}: no such item`]);
      return EXIT.notFound;
    }
    output(settings, { table, found: true, ...item }, () => [itemLine(table, item)]);
    return EXIT.ok;
  });
}

async function set(
  settings: CtlSettings,
  args: string[],
  type: 'sets' | 'seti',
  expireText: string | undefined,
): Promise<number> {
  const [table = '', key = '', text = ''] = expectArgs(args, ['TABLE', 'KEY', 'VALUE']);
  const value = type === 'seti' ? parseInteger(text) : text;
  const expire = parseSeconds('--expire', expireText);
  return withRedis(settings, async (conn) => {
    const item = await writeItem(conn, settings, table, key, value, expire);
    output(settings, { table, ...item }, () => [itemLine(table, item)]);
    return EXIT.ok;
  });
}

async function remove(settings: CtlSettings, args: string[]): Promise<number> {
  const [table = '', key = ''] = expectArgs(args, ['TABLE', 'KEY']);
  return withRedis(settings, async (conn) => {
    const deleted = (await conn.call('DEL', tablePrefix(conn, table) + key)) === 1;
    output(settings, { table, key, deleted }, () => [
      deleted ? `deleted ${table}=>${key}` : `${table}=>${key}: no such item (nothing deleted)`,
    ]);
    return EXIT.ok;
  });
}

async function dump(settings: CtlSettings, args: string[]): Promise<number> {
  const [table = ''] = expectArgs(args, ['TABLE']);
  return withRedis(settings, async (conn) => {
    const prefix = tablePrefix(conn, table);
    const read = await readItems(conn, prefix, await conn.scan(`${escapeGlob(prefix)}*`));
    output(settings, { table, items: read.items, malformed: read.malformed }, () => {
      const lines =
        read.items.length === 0
          ? []
          : columns([
              ['KEY', 'TYPE', 'VALUE', 'EXPIRES'],
              ...read.items.map((item) => [
                item.key,
                item.type,
                showValue(item),
                item.expiresInMs === null ? '-' : formatDuration(item.expiresInMs),
              ]),
            ]);
      lines.push(`${table}: ${plural(read.items.length, 'item')}`);
      if (read.malformed.length > 0) {
        lines.push(`not items (ignored by edges): ${read.malformed.join(', ')}`);
      }
      return lines;
    });
    return EXIT.ok;
  });
}

async function list(settings: CtlSettings, args: string[]): Promise<number> {
  expectArgs(args, []);
  const declared = definitions(settings);
  return withRedis(settings, async (conn) => {
    const found = await scanTables(conn);
    const names = [...new Set([...found.keys(), ...declared.map((d) => d.name)])].sort();
    const tables = names.map((name) => {
      const def = declared.find((d) => d.name === name);
      return {
        name,
        keys: found.get(name)?.length ?? 0,
        declared: def !== undefined,
        autoexpire: def?.autoexpire ?? null,
        updateexpire: def?.updateexpire ?? null,
        initval: def?.initval ?? null,
      };
    });
    output(settings, { tables }, () =>
      tables.length === 0
        ? ['no htables in Redis']
        : columns([
            ['TABLE', 'KEYS', 'AUTOEXPIRE', 'UPDATEEXPIRE', 'INITVAL'],
            ...tables.map((t) => [
              t.name,
              String(t.keys),
              t.autoexpire === null ? '-' : String(t.autoexpire),
              t.updateexpire === null ? '-' : String(t.updateexpire),
              t.initval === null ? '-' : String(t.initval),
            ]),
          ]),
    );
    return EXIT.ok;
  });
}

async function flush(settings: CtlSettings, args: string[]): Promise<number> {
  const [table = ''] = expectArgs(args, ['TABLE']);
  return withRedis(settings, async (conn) => {
    const keys = await conn.scan(`${escapeGlob(tablePrefix(conn, table))}*`);
    let removed = 0;
    // One slot per table (hash tag), so a multi-key UNLINK is legal on Cluster.
    for (let i = 0; i < keys.length; i += 500) {
      removed += Number(await conn.call('UNLINK', ...keys.slice(i, i + 500)));
    }
    output(settings, { table, removed }, () => [
      `flushed ${table}: ${plural(removed, 'key')} removed`,
    ]);
    return EXIT.ok;
  });
}

/**
 * `htable.reload`, the way `Htables.reload` does it: write each declared initial value that is
 * missing (`nx`, never overwriting an operator's value). Kamailio re-reads its database instead;
 * here Redis is the store. Edges need no signal: tracking tells them about every key written.
 */
async function reload(settings: CtlSettings, args: string[]): Promise<number> {
  const [table] = expectArgs(args, ['TABLE'], 1);
  if (!settings.edgeConfig) {
    throw new UsageError(
      'reload needs --config FILE: initial values are declared in the edge config',
    );
  }
  const declared = definitions(settings);
  const targets = table === undefined ? declared : declared.filter((d) => d.name === table);
  if (table !== undefined && targets.length === 0) {
    throw new CtlError(`htable "${table}" is not declared in the config file`, EXIT.notFound);
  }
  return withRedis(settings, async (conn) => {
    const scripts = new ScriptRunner(conn, [HTABLE_LUA_DIR]);
    const results: { table: string; written: string[]; present: string[] }[] = [];
    for (const def of targets) {
      const result = { table: def.name, written: [] as string[], present: [] as string[] };
      for (const [key, value] of Object.entries(def.initial)) {
        const [code] = await scripts.run(
          'ht-set',
          [tablePrefix(conn, def.name) + key],
          [
            typeof value === 'number' ? 'i' : 's',
            value,
            0,
            def.autoexpire,
            def.updateexpire ? '1' : '0',
            'nx',
          ],
        );
        (code === 1 ? result.written : result.present).push(key);
      }
      results.push(result);
    }
    output(settings, { tables: results }, () =>
      results.length === 0
        ? ['no htables declared in the config file']
        : results.map(
            (r) =>
              `${r.table}: wrote ${plural(r.written.length, 'missing initial value')}` +
              (r.written.length > 0 ? ` (${r.written.join(', ')})` : '') +
              `, ${r.present.length} already present`,
          ),
    );
    return EXIT.ok;
  });
}

interface TableStats {
  name: string;
  items: number;
  int: number;
  str: number;
  /** Items with a TTL. */
  expiring: number;
  malformed: number;
}

async function stats(settings: CtlSettings, args: string[]): Promise<number> {
  expectArgs(args, []);
  return withRedis(settings, async (conn) => {
    const found = await scanTables(conn);
    const tables: TableStats[] = [];
    for (const name of [...found.keys()].sort()) {
      const read = await readItems(conn, tablePrefix(conn, name), found.get(name) ?? []);
      tables.push({
        name,
        items: read.items.length,
        int: read.items.filter((i) => i.type === 'int').length,
        str: read.items.filter((i) => i.type === 'str').length,
        expiring: read.items.filter((i) => i.expiresInMs !== null).length,
        malformed: read.malformed.length,
      });
    }
    output(settings, { tables }, () =>
      tables.length === 0
        ? ['no htables in Redis']
        : columns([
            ['TABLE', 'ITEMS', 'INT', 'STR', 'EXPIRING', 'MALFORMED'],
            ...tables.map((t) =>
              [t.name, t.items, t.int, t.str, t.expiring, t.malformed].map(String),
            ),
          ]),
    );
    return EXIT.ok;
  });
}

export const htableGroup: CtlGroup = {
  usage: HTABLE_USAGE,
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
      process.stdout.write(HTABLE_USAGE);
      return EXIT.ok;
    }
    const [command, ...args] = positionals;
    if (values.expire !== undefined && command !== 'sets' && command !== 'seti') {
      throw new UsageError('--expire goes with sets and seti only');
    }
    const settings = resolveSettings(values, env);
    switch (command) {
      case 'get':
        return get(settings, args);
      case 'sets':
      case 'seti':
        return set(settings, args, command, values.expire);
      case 'delete':
        return remove(settings, args);
      case 'dump':
        return dump(settings, args);
      case 'list':
        return list(settings, args);
      case 'flush':
        return flush(settings, args);
      case 'reload':
        return reload(settings, args);
      case 'stats':
        return stats(settings, args);
      case undefined:
        throw new UsageError('missing htable command');
      default:
        throw new UsageError(`unknown htable command '${command}'`);
    }
  },
};
