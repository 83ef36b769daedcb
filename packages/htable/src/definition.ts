// Table declarations, the equivalent of Kamailio's `modparam("htable", "htable", "name=>...")`.
import { HtableError } from './errors.js';

export type HtableValue = string | number;

export interface HtableDefinition {
  /** Table name; becomes the hash tag `{ht:<name>}`, so no `{` or `}`. */
  name: string;
  /**
   * Seconds after which an item is deleted if it was not updated (Kamailio `autoexpire`);
   * 0 = items never expire. @default 0
   */
  autoexpire?: number;
  /**
   * Whether an update restarts an item's lifetime (Kamailio `updateexpire`); when false only a
   * new item gets `autoexpire`, an update keeps the remaining time. @default true
   */
  updateexpire?: boolean;
  /**
   * Integer returned by `get` for a missing item instead of undefined, and the start value of
   * `inc`/`dec` on a missing item (Kamailio `initval`). @default undefined
   */
  initval?: number;
  /**
   * Items written at start and on `reload` when absent (Kamailio loads them from a DB table;
   * here Redis is the store and these are defaults that never overwrite an operator's value).
   * @default {}
   */
  initial?: Record<string, HtableValue>;
}

export interface ResolvedDefinition {
  name: string;
  autoexpire: number;
  updateexpire: boolean;
  initval: number | undefined;
  initial: Record<string, HtableValue>;
}

function isSafeInteger(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n);
}

/** Validates declarations once at start; errors name the table and the setting. */
export function resolveDefinitions(defs: HtableDefinition[]): ResolvedDefinition[] {
  const seen = new Set<string>();
  return defs.map((def) => {
    const fail = (what: string): never => {
      throw new HtableError('SIPFLEET_ERR_HTABLE_CONFIG', `htable "${String(def.name)}": ${what}`);
    };
    if (typeof def.name !== 'string' || def.name === '' || /[{}]/.test(def.name)) fail('bad name');
    if (seen.has(def.name)) fail('declared twice');
    seen.add(def.name);
    const autoexpire = def.autoexpire ?? 0;
    if (!isSafeInteger(autoexpire) || autoexpire < 0)
      fail('autoexpire must be a whole number of seconds >= 0');
    if (def.initval !== undefined && !isSafeInteger(def.initval))
      fail('initval must be an integer');
    const initial = def.initial ?? {};
    for (const [key, value] of Object.entries(initial)) {
      if (typeof value === 'number' ? !isSafeInteger(value) : typeof value !== 'string') {
        fail(`initial value for "${key}" must be a string or an integer`);
      }
    }
    return {
      name: def.name,
      autoexpire,
      updateexpire: def.updateexpire ?? true,
      initval: def.initval,
      initial,
    };
  });
}
