export { SECFILTER_ERROR_CODES, SecfilterError, type SecfilterErrorCode } from './errors.js';
export {
  AddressSet,
  SECFILTER_LISTS,
  UserAgentSet,
  checkList,
  isSecfilterList,
  normalizeAddressEntry,
  plainAddress,
  type AddressList,
  type SecfilterList,
  type UserAgentList,
} from './lists.js';
export {
  SourceFilter,
  looksLikeRequest,
  type BlockReason,
  type SourceFilterCounters,
  type SourceFilterOptions,
} from './source-filter.js';
export {
  SecfilterMirror,
  type SecfilterMirrorEvents,
  type SecfilterMirrorOptions,
} from './fleet/mirror.js';
export {
  SecfilterStore,
  normalizeBlockAddress,
  normalizeListEntry,
  type BlockEntry,
} from './fleet/store.js';
