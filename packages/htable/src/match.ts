// How Kamailio's htable functions match item names and values: `sht_match_name`,
// `sht_match_str_value`, `sht_rm_name`, `sht_rm_value`, `$shtcn`, `$shtcv` take an operator and a
// value; the `_re` forms are `re`. Values match only string items, as in Kamailio (its value
// matching skips integer items).
import { HtableError } from './errors.js';

/**
 * `eq` equal, `ne` not equal, `re` JavaScript regular expression (search, not anchored, like
 * POSIX regexec), `sw` starts with, `ew` ends with, `in` includes.
 */
export type HtableMatchOp = 'eq' | 'ne' | 're' | 'sw' | 'ew' | 'in';

export const HTABLE_MATCH_OPS: readonly HtableMatchOp[] = ['eq', 'ne', 're', 'sw', 'ew', 'in'];

/** The test for one operator and value; throws SIPFLEET_ERR_HTABLE_BAD_VALUE for a bad one. */
export function htableMatcher(op: HtableMatchOp, value: string): (text: string) => boolean {
  switch (op) {
    case 'eq':
      return (text) => text === value;
    case 'ne':
      return (text) => text !== value;
    case 'sw':
      return (text) => text.startsWith(value);
    case 'ew':
      return (text) => text.endsWith(value);
    case 'in':
      return (text) => text.includes(value);
    case 're': {
      let re: RegExp;
      try {
        re = new RegExp(value);
      } catch (err) {
        throw new HtableError('SIPFLEET_ERR_HTABLE_BAD_VALUE', (err as Error).message);
      }
      return (text) => re.test(text);
    }
    default:
      throw new HtableError(
        'SIPFLEET_ERR_HTABLE_BAD_VALUE',
        `unknown match operator ${JSON.stringify(op)} (expected ${HTABLE_MATCH_OPS.join(', ')})`,
      );
  }
}
