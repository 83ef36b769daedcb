// Kamailio's "server maintenance mode" recipe: flags an operator flips in the htable `config`.
//   maint           the whole fleet   redis-cli HSET 'sipfleet:{ht:config}:maint' i 1
//   maint:<nodeId>  one edge          redis-cli HSET 'sipfleet:{ht:config}:maint:edge-1' i 1
// One place for the names and the rule, read by the edge's check and written by `sipfleet ctl`.
import type { HtableValue } from './definition.js';

/** The htable holding the flags. */
export const MAINTENANCE_TABLE = 'config';
/** The fleet-wide flag's key. */
export const FLEET_MAINTENANCE_KEY = 'maint';
/** One edge's flag key. */
export const nodeMaintenanceKey = (nodeId: string): string => `${FLEET_MAINTENANCE_KEY}:${nodeId}`;

/** `HSET … i 1` stores an integer; a hand-written `HSET … s 1` reads as the string '1': both on. */
export function isMaintenanceOn(value: HtableValue | undefined): boolean {
  return value === 1 || value === '1';
}
