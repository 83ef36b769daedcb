// How an htable item is stored: one hash with one field named after the type.
//   HSET <prefix>:{ht:<table>}:<key> i 42      integer item
//   HSET <prefix>:{ht:<table>}:<key> s hello   string item
// The field name carries Kamailio's type (an int and the string "42" differ) and one plain
// redis-cli command writes value and type together.
import type { HtableValue } from './definition.js';

const INTEGER = /^-?\d+$/;

/** The value held by an HGETALL reply, or undefined when it is not a well-formed item. */
export function decodeItem(fields: Record<string, string>): HtableValue | undefined {
  const int = fields.i;
  if (int !== undefined) {
    const n = Number(int);
    return INTEGER.test(int) && Number.isSafeInteger(n) ? n : undefined;
  }
  return fields.s;
}
