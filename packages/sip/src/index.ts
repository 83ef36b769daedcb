// @sipfleet/sip: SIP message grammar (RFC 3261 sections 7, 19, 20, 25), lazy parser and serialiser.
export { SipParseError, SipErrorCode } from './errors.js';
export { DEFAULT_PARSE_LIMITS, parseMessage } from './parser.js';
export type { ParseOptions } from './parser.js';
export { SipMessage, SipRequest, SipResponse } from './message.js';
export { parseUri } from './uri.js';
export type { SipUri } from './uri.js';
export { parseNameAddr } from './name-addr.js';
export type { NameAddr } from './name-addr.js';
export { parseVia } from './via.js';
export type { Via } from './via.js';
export type { CSeq } from './scalars.js';
export type { HeaderField } from './headers.js';
export { splitList } from './grammar.js';
export {
  BRANCH_MAGIC_COOKIE,
  createAckForNon2xx,
  createCancel,
  createResponse,
  newBranch,
  newTag,
} from './builders.js';
export type { ResponseOptions } from './builders.js';
export { defaultReason } from './reasons.js';
