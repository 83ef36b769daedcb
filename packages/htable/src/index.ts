export {
  resolveDefinitions,
  type HtableDefinition,
  type HtableValue,
  type ResolvedDefinition,
} from './definition.js';
export { HTABLE_ERROR_CODES, HtableError, type HtableErrorCode } from './errors.js';
export {
  HTABLE_LUA_DIR,
  Htables,
  type HtableEntry,
  type HtableInfo,
  type HtableStats,
  type HtablesEvents,
  type HtablesOptions,
} from './htables.js';
export { decodeItem } from './item.js';
