// `sipfleet ctl htable …`: Kamailio's htable RPCs (htable.get, .sets, .seti, .delete, .dump,
// .listTables, .flush, .reload, .stats) run against Redis for the whole fleet.
//
// ctl does not open an `Htables` cache: that class is for long-lived processes (it starts
// client-side tracking and reads whole tables at open), while ctl makes one change and exits. It
// goes through the same HtableStore (the same Lua, so type and expiry rules stay atomic and
// identical, and the same item reading); every edge sees the change through its own tracking
// within milliseconds, no signal needed.
import {
  type HtableDefinition,
  HtableError,
  HtableStore,
  type ResolvedDefinition,
  type StoredItem,
  resolveDefinitions,
} from '@sipfleet/htable';
import { type RedisConnection, SipfleetRedisError } from '@sipfleet/redis';
import {
  type CtlCommand,
  CtlError,
  type CtlSettings,
  EXIT,
  UsageError,
  columns,
  ctlAction,
  formatDuration,
  formatExpiry,
  output,
  parseSeconds,
  withRedis,
} from './common.js';

/** One item as Redis holds it now. `expiresInMs` null = no expiry. */
export interface ItemView {
  key: string;
  type: 'int' | 'str';
  value: string | number;
  expiresInMs: number | null;
}

// ---- store ---------------------------------------------------------------------------------

/** A KeyBuilder refusal (empty name, braces: they would move the hash tag) is a usage error. */
async function usage<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof SipfleetRedisError && err.code === 'SIPFLEET_ERR_REDIS_BAD_KEY')
      throw new UsageError(err.message);
    throw err;
  }
}

function itemView(key: string, item: StoredItem): ItemView {
  return {
    key,
    type: typeof item.value === 'number' ? 'int' : 'str',
    value: item.value,
    expiresInMs: item.expiresInMs ?? null,
  };
}

interface TableRead {
  items: ItemView[];
  /** Keys under the table's prefix that are not items (another Redis type, a hash without i/s). */
  malformed: string[];
}

async function readTable(store: HtableStore, table: string, keys?: string[]): Promise<TableRead> {
  const read = await usage(() => store.read(table, keys));
  const items = [...read.items].map(([key, item]) => itemView(key, item));
  items.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { items, malformed: read.malformed };
}

/** One item, or undefined when missing. Throws CtlError when the key holds something else. */
export async function readItem(
  conn: RedisConnection,
  table: string,
  key: string,
): Promise<ItemView | undefined> {
  const read = await readTable(new HtableStore(conn), table, [key]);
  if (read.malformed.length > 0) throw notAnItem(table, key);
  return read.items[0];
}

/** The items of one table whose key starts with `keyStart` (SCAN; for status listings). */
export async function readItemsStartingWith(
  conn: RedisConnection,
  table: string,
  keyStart: string,
): Promise<TableRead> {
  const store = new HtableStore(conn);
  return readTable(store, table, await usage(() => store.keys(table, keyStart)));
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
 * `htable.sets` / `htable.seti`: one atomic write through the store, the way `Htables` writes,
 * so the type field, the removal of the other field and the expiry rules are the same.
 */
export async function writeItem(
  conn: RedisConnection,
  settings: CtlSettings,
  table: string,
  key: string,
  value: string | number,
  expire: number,
): Promise<ItemView> {
  const rules = rulesFor(settings, table);
  try {
    const { expiresInMs } = await usage(() => new HtableStore(conn).set(rules, key, value, expire));
    return itemView(key, { value, expiresInMs });
  } catch (err) {
    if (err instanceof SipfleetRedisError && err.code === 'SIPFLEET_ERR_REDIS_SCRIPT_WRONG_TYPE') {
      throw notAnItem(table, key);
    }
    throw err;
  }
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

function parseInteger(text: string): number {
  const n = Number(text);
  if (!/^-?\d+$/.test(text) || !Number.isSafeInteger(n)) {
    throw new UsageError(`seti takes an integer (got '${text}')`);
  }
  return n;
}

async function get(settings: CtlSettings, args: string[]): Promise<number> {
  const [table = '', key = ''] = args;
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
  type: 'sets' | 'seti',
  settings: CtlSettings,
  args: string[],
  { expire: expireText }: ExpireOption,
): Promise<number> {
  const [table = '', key = '', text = ''] = args;
  const value = type === 'seti' ? parseInteger(text) : text;
  const expire = parseSeconds('--expire', expireText);
  return withRedis(settings, async (conn) => {
    const item = await writeItem(conn, settings, table, key, value, expire);
    output(settings, { table, ...item }, () => [itemLine(table, item)]);
    return EXIT.ok;
  });
}

async function remove(settings: CtlSettings, args: string[]): Promise<number> {
  const [table = '', key = ''] = args;
  return withRedis(settings, async (conn) => {
    const deleted = await usage(() => new HtableStore(conn).delete(table, key));
    output(settings, { table, key, deleted }, () => [
      deleted ? `deleted ${table}=>${key}` : `${table}=>${key}: no such item (nothing deleted)`,
    ]);
    return EXIT.ok;
  });
}

async function dump(settings: CtlSettings, args: string[]): Promise<number> {
  const [table = ''] = args;
  return withRedis(settings, async (conn) => {
    const read = await readTable(new HtableStore(conn), table);
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

async function list(settings: CtlSettings): Promise<number> {
  const declared = definitions(settings);
  return withRedis(settings, async (conn) => {
    const found = await new HtableStore(conn).tables();
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
  const [table = ''] = args;
  return withRedis(settings, async (conn) => {
    const removed = await usage(() => new HtableStore(conn).flush(table));
    output(settings, { table, removed }, () => [
      `flushed ${table}: ${plural(removed, 'key')} removed`,
    ]);
    return EXIT.ok;
  });
}

/**
 * `htable.reload`, through the store as `Htables.reload` does it: write each declared initial value that is
 * missing (`nx`, never overwriting an operator's value). Kamailio re-reads its database instead;
 * here Redis is the store. Edges need no signal: tracking tells them about every key written.
 */
async function reload(settings: CtlSettings, args: string[]): Promise<number> {
  const [table] = args;
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
    const store = new HtableStore(conn);
    const results: { table: string; written: string[]; present: string[] }[] = [];
    for (const def of targets) results.push({ table: def.name, ...(await store.seed(def)) });
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

async function stats(settings: CtlSettings): Promise<number> {
  return withRedis(settings, async (conn) => {
    const store = new HtableStore(conn);
    const found = await store.tables();
    const tables: TableStats[] = [];
    for (const name of [...found.keys()].sort()) {
      const read = await readTable(store, name, found.get(name) ?? []);
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

interface ExpireOption {
  expire?: string;
}

export function addHtable(program: CtlCommand): void {
  const htable = program.group(
    'htable',
    'get, sets, seti, delete, dump, list, flush, reload, stats',
    "Kamailio's htable RPCs (in brackets) on any table found in Redis.",
  );
  const expire = (cmd: CtlCommand) =>
    cmd.option(
      '--expire <S>',
      "seconds the item lives; without it the table's autoexpire applies (from --config; an undeclared table has none)",
    );
  htable
    .command('get')
    .description('one item  [htable.get]')
    .argument('TABLE')
    .argument('KEY')
    .action(ctlAction(get));
  expire(htable.command('sets'))
    .description('set a string item  [htable.sets]')
    .argument('TABLE')
    .argument('KEY')
    .argument('VALUE')
    .action(ctlAction<ExpireOption>((...a) => set('sets', ...a)));
  expire(htable.command('seti'))
    .description('set an integer item  [htable.seti]')
    .argument('TABLE')
    .argument('KEY')
    .argument('INT')
    .action(ctlAction<ExpireOption>((...a) => set('seti', ...a)));
  htable
    .command('delete')
    .description('remove one item  [htable.delete]')
    .argument('TABLE')
    .argument('KEY')
    .action(ctlAction(remove));
  htable
    .command('dump')
    .description('every item of a table  [htable.dump]')
    .argument('TABLE')
    .action(ctlAction(dump));
  htable
    .command('list')
    .description('tables found in Redis  [htable.listTables]')
    .action(ctlAction(list));
  htable
    .command('flush')
    .description('remove every item of a table  [htable.flush]')
    .argument('TABLE')
    .action(ctlAction(flush));
  htable
    .command('reload')
    .description('write missing initial values, needs --config FILE  [htable.reload]')
    .argument('[TABLE]')
    .action(ctlAction(reload));
  htable
    .command('stats')
    .description('item counts per table  [htable.stats]')
    .action(ctlAction(stats));
}
