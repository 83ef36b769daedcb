export {
  resolveDefinitions,
  type HtableDefinition,
  type HtableValue,
  type ResolvedDefinition,
} from './definition.js';
export { HTABLE_ERROR_CODES, HtableError, type HtableErrorCode } from './errors.js';
export {
  Htables,
  type HtableEntry,
  type HtableInfo,
  type HtableStats,
  type HtablesEvents,
  type HtablesOptions,
} from './htables.js';
export { HTABLE_MATCH_OPS, type HtableMatchOp, htableMatcher } from './match.js';
export {
  FLEET_MAINTENANCE_KEY,
  MAINTENANCE_TABLE,
  isMaintenanceOn,
  nodeMaintenanceKey,
} from './maintenance.js';
export { HtableStore, type StoredItem, type TableRead, type WriteResult } from './store.js';
