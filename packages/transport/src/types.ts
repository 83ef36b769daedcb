/** Shared shapes of the transport contract (RFC 3261 section 18). */

/** `ws` / `wss`: SIP over WebSocket (RFC 7118), plain or over TLS. */
export type TransportProtocol = 'udp' | 'tcp' | 'tls' | 'ws' | 'wss';

/** Protocols whose messages travel on connections (RFC 3261 section 18: reliable, no retransmissions). */
export function isConnectionOriented(protocol: TransportProtocol): boolean {
  return protocol !== 'udp';
}

/**
 * Where a message came from. For TCP and WebSocket the same object is passed for every message of
 * one connection.
 */
export interface RemoteInfo {
  protocol: TransportProtocol;
  address: string;
  port: number;
  family: 'IPv4' | 'IPv6';
  /** TCP, TLS, WS, WSS: the connection the message came on (pass it back in {@link SendTarget.connectionId}). */
  connectionId?: number;
  /** The listening socket it arrived on (for TCP connections we opened: the TCP listener of that family). */
  local: { address: string; port: number };
}

/** Where to send. `address` is an IP literal without brackets (see `resolveTarget`). */
export interface SendTarget {
  protocol: TransportProtocol;
  address: string;
  port: number;
  /**
   * TCP, TLS, WS, WSS: reuse this connection while open (RFC 3261 section 18.2.2), else fall back
   * to address:port (for WS/WSS: an open connection from there; the layer never connects to a
   * browser).
   */
  connectionId?: number;
  /**
   * TLS: the name the peer's certificate must carry (RFC 5922 section 7.2: the host of the URI
   * that was resolved, not the address), also sent as SNI. Unset: the certificate is checked
   * against `address` (an IP in its subjectAltName).
   */
  serverName?: string;
  /**
   * UDP: leave from the bound socket with this address and port (Kamailio `force_send_socket`).
   * @default the layer's first UDP socket of the target's address family
   */
  local?: { address: string; port: number };
}

/**
 * RFC 5626 / RFC 5923 flows at the proxy: a token for a connection a request came in on, put in
 * the user part of the Record-Route URI that faces it, so later requests of the dialog towards
 * that side go back over the same connection instead of to its Contact.
 */
export interface FlowRouter {
  /**
   * The flow token of the connection `remote` names, bound to `tag` (the From tag of the
   * dialog-creating request), or undefined for UDP or a closed connection. The connection then
   * counts as carrying a dialog: it is no longer closed as idle. The proxy's Path tokens (a
   * REGISTER's, RFC 3327) use the empty tag: they stand for a registration, not a dialog; a
   * callee's flow, one the proxy relayed an initial request out over, is bound to `'>'` and the
   * caller's From tag (`>` is no token character, RFC 3261 section 25.1: no tag collides).
   */
  flowToken(remote: Pick<RemoteInfo, 'protocol' | 'connectionId'>, tag: string): string | undefined;
  /**
   * Where a request goes whose Route named `token`: the connection, if it is still open and the
   * token was minted with `tag`. The request's To tag is passed, so only requests towards the
   * side that opened the flow (whose From tag was the dialog creator's) match; requests from that
   * side carry the tag in From and go the normal way.
   */
  flowTarget(token: string, tag: string): SendTarget | undefined;
}

export interface ListenSpec {
  protocol: TransportProtocol;
  /** IP literal to bind, `0.0.0.0` / `::` for every interface of that family. */
  address: string;
  /** 0 = ephemeral. */
  port: number;
  /** For Via sent-by / Record-Route instead of the bound address (NAT, load balancer, fleet name). */
  advertise?: { host: string; port?: number };
  /**
   * TLS and WSS listeners: certificate, key and client-certificate policy (RFC 3261 section
   * 26.2.1); required there.
   */
  tls?: TlsListenOptions;
}

/** PEM contents (not paths: the caller reads the files, and re-reads them on reload). */
export interface TlsListenOptions {
  cert: string | Buffer;
  key: string | Buffer;
  /** CAs client certificates must chain to (mutual TLS). @default Node's bundled CAs */
  ca?: string | Buffer;
  /**
   * Client certificates: `none` does not ask, `optional` asks and refuses an invalid one but lets
   * a client without one in, `require` refuses a client without a valid one.
   * @default 'none'
   */
  verifyClient?: 'none' | 'optional' | 'require';
}

/** How this layer opens TLS connections to next hops. */
export interface TlsClientOptions {
  /** CAs a next hop's certificate must chain to. @default Node's bundled CAs */
  ca?: string | Buffer;
  /** Certificate and key shown to next hops that ask (mutual TLS). @default none */
  cert?: string | Buffer;
  key?: string | Buffer;
  /**
   * Check the next hop's certificate (chain and name). Off only for tests and closed networks.
   * @default true
   */
  verifyServer?: boolean;
}

/** What the transaction layer depends on (narrow on purpose). */
export interface MessageSender {
  /**
   * Sends one framed SIP message. Errors (TCP connect refused, EHOSTUNREACH, ...) are reported once
   * through onError, never thrown. onError is always called asynchronously.
   */
  send(target: SendTarget, data: Buffer, onError?: (err: Error) => void): void;
}
