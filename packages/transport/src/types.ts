/** Shared shapes of the transport contract (RFC 3261 section 18). */

export type TransportProtocol = 'udp' | 'tcp';

/** Where a message came from. For TCP the same object is passed for every message of one connection. */
export interface RemoteInfo {
  protocol: TransportProtocol;
  address: string;
  port: number;
  family: 'IPv4' | 'IPv6';
  /** TCP: the connection the message came on (pass it back in {@link SendTarget.connectionId}). */
  connectionId?: number;
  /** The listening socket it arrived on (for TCP connections we opened: the TCP listener of that family). */
  local: { address: string; port: number };
}

/** Where to send. `address` is an IP literal without brackets (see `resolveTarget`). */
export interface SendTarget {
  protocol: TransportProtocol;
  address: string;
  port: number;
  /** TCP: reuse this connection while open (RFC 3261 section 18.2.2), else fall back to address:port. */
  connectionId?: number;
  /**
   * UDP: leave from the bound socket with this address and port (Kamailio `force_send_socket`).
   * @default the layer's first UDP socket of the target's address family
   */
  local?: { address: string; port: number };
}

export interface ListenSpec {
  protocol: TransportProtocol;
  /** IP literal to bind, `0.0.0.0` / `::` for every interface of that family. */
  address: string;
  /** 0 = ephemeral. */
  port: number;
  /** For Via sent-by / Record-Route instead of the bound address (NAT, load balancer, fleet name). */
  advertise?: { host: string; port?: number };
}

/** What the transaction layer depends on (narrow on purpose). */
export interface MessageSender {
  /**
   * Sends one framed SIP message. Errors (TCP connect refused, EHOSTUNREACH, ...) are reported once
   * through onError, never thrown. onError is always called asynchronously.
   */
  send(target: SendTarget, data: Buffer, onError?: (err: Error) => void): void;
}
