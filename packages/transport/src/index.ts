/**
 * @sipfleet/transport: SIP over UDP and TCP (RFC 3261 section 18, RFC 3581, RFC 5626 keep-alive pongs).
 */
export type {
  ListenSpec,
  MessageSender,
  RemoteInfo,
  SendTarget,
  TransportProtocol,
} from './types.js';
export { TransportError, TransportErrorCode } from './errors.js';
export { TransportLayer, type TransportOptions } from './transport-layer.js';
export { StreamFramer, contentLength, type FramerEvents, type FramingError } from './framing.js';
export { applyReceived, responseTarget, stripBrackets, DEFAULT_SIP_PORT } from './via-routing.js';
export {
  resolveTarget,
  createResolver,
  orderSrv,
  SipResolver,
  sharedResolver,
  type RecordType,
  type ResolverOptions,
} from './resolve.js';
export {
  InMemoryNetwork,
  InMemoryEndpoint,
  type InMemoryPacket,
  type PacketFate,
} from './in-memory.js';
