/**
 * Typed errors of the transport layer. Every error this package reports (through `onError`, a
 * rejected promise or a thrown programming error) is a {@link TransportError} with one of these codes;
 * the same codes are the `reason` strings passed to `onDropped`.
 */
export const TransportErrorCode = {
  /** `listen()` could not bind a socket (address in use, not available, ...). */
  Listen: 'SIPFLEET_ERR_TRANSPORT_LISTEN',
  /** No listening socket for the target's protocol and address family (e.g. IPv6 target, IPv4-only layer). */
  NoSocket: 'SIPFLEET_ERR_TRANSPORT_NO_SOCKET',
  /** A TCP connection could not be opened (refused, unreachable, connect timeout). */
  Connect: 'SIPFLEET_ERR_TRANSPORT_CONNECT',
  /** The socket refused or failed the write (EMSGSIZE, EHOSTUNREACH, connection reset, ...). */
  Send: 'SIPFLEET_ERR_TRANSPORT_SEND',
  /** The layer (or in-memory endpoint) was closed. */
  Closed: 'SIPFLEET_ERR_TRANSPORT_CLOSED',
  /** Stream framing: a message without Content-Length (mandatory on streams, RFC 3261 section 18.3). */
  FramingNoContentLength: 'SIPFLEET_ERR_TRANSPORT_FRAMING_NO_CONTENT_LENGTH',
  /** Stream framing: Content-Length is not a number, or two Content-Length fields disagree. */
  FramingBadContentLength: 'SIPFLEET_ERR_TRANSPORT_FRAMING_BAD_CONTENT_LENGTH',
  /** A message (datagram or stream frame) larger than `maxMessageBytes`. */
  MessageTooLarge: 'SIPFLEET_ERR_TRANSPORT_MESSAGE_TOO_LARGE',
  /** An inbound TCP connection from an address already holding `maxConnectionsPerSource`; closed at once. */
  ConnectionsPerSource: 'SIPFLEET_ERR_TRANSPORT_CONNECTIONS_PER_SOURCE',
  /** A TCP connection held an incomplete message longer than `tcpMessageTimeoutMs` (slowloris); closed. */
  MessageTimeout: 'SIPFLEET_ERR_TRANSPORT_MESSAGE_TIMEOUT',
  /** A WebSocket upgrade that did not offer the `sip` subprotocol (RFC 7118 section 4.1); refused. */
  WsSubprotocol: 'SIPFLEET_ERR_TRANSPORT_WS_SUBPROTOCOL',
  /** URI scheme the transport cannot reach: `tel:` (not a SIP URI). */
  UnsupportedScheme: 'SIPFLEET_ERR_TRANSPORT_UNSUPPORTED_SCHEME',
  /** `transport=` URI parameter other than udp/tcp/tls/ws/wss, or a `sips:` URI with udp, tcp or ws. */
  UnsupportedTransport: 'SIPFLEET_ERR_TRANSPORT_UNSUPPORTED_TRANSPORT',
  /** A host name did not resolve. */
  Resolve: 'SIPFLEET_ERR_TRANSPORT_RESOLVE',
} as const;

export type TransportErrorCode = (typeof TransportErrorCode)[keyof typeof TransportErrorCode];

export class TransportError extends Error {
  override readonly name = 'TransportError';
  readonly code: TransportErrorCode;

  constructor(code: TransportErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** onError is never called synchronously from send(): the caller may not have stored its state yet. */
export function reportLater(onError: ((err: Error) => void) | undefined, err: Error): void {
  if (onError !== undefined) process.nextTick(onError, err);
}
