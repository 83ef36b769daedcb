/**
 * @sipfleet/transport: SIP over UDP, TCP and TLS (RFC 3261 sections 18 and 26, RFC 3581, RFC 5626
 * keep-alive pongs) and WebSocket (RFC 7118).
 */
export type {
  FlowRouter,
  ListenSpec,
  MessageSender,
  RemoteInfo,
  SendTarget,
  TlsClientOptions,
  TlsListenOptions,
  TransportProtocol,
} from './types.js';
export { isConnectionOriented } from './types.js';
export { TransportError, TransportErrorCode } from './errors.js';
export { parseSocketSpec, type SocketSpec } from './socket-spec.js';
export { TransportLayer, type TransportCounts, type TransportOptions } from './transport-layer.js';
export { SIP_SUBPROTOCOL } from './ws.js';
export { StreamFramer, contentLength, type FramerEvents, type FramingError } from './framing.js';
export {
  applyReceived,
  responseTarget,
  stripBrackets,
  DEFAULT_SIP_PORT,
  DEFAULT_SIPS_PORT,
} from './via-routing.js';
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
