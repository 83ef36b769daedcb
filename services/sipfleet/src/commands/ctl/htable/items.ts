// The htable items as ctl reads and writes them, shared by the htable commands and maintenance
// (whose flags are items of the table `config`).
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
import { CtlError, type CtlSettings, EXIT, UsageError, formatExpiry } from '../common.js';

/** One item as Redis holds it now. `expiresInMs` null = no expiry. */
export interface ItemView {
  key: string;
  type: 'int' | 'str';
  value: string | number;
  expiresInMs: number | null;
}

/** A KeyBuilder refusal (empty name, braces: they would move the hash tag) is a usage error. */
export async function usage<T>(run: () => Promise<T>): Promise<T> {
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

export interface TableRead {
  items: ItemView[];
  /** Keys under the table's prefix that are not items (another Redis type, a hash without i/s). */
  malformed: string[];
}

export async function readTable(
  store: HtableStore,
  table: string,
  keys?: string[],
): Promise<TableRead> {
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

/** The table's expiry rules from --config, or the defaults of an undeclared table. */
export function definitions(settings: CtlSettings): ResolvedDefinition[] {
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

export function showValue(item: ItemView): string {
  // Strings quoted, so an empty string or trailing blanks are visible and an int and "1" differ.
  return typeof item.value === 'number' ? String(item.value) : JSON.stringify(item.value);
}

export function itemLine(table: string, item: ItemView): string {
  return `${table}=>${item.key} = ${showValue(item)} (${item.type}, ${formatExpiry(item.expiresInMs)})`;
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
