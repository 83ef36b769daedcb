/** What the connection tables of the stream transports (TCP, WebSocket) share. */
import type net from 'node:net';
import { TransportError, TransportErrorCode } from './errors.js';

/** RFC 5626 section 3.5.1: the answer ("pong") to a double-CRLF keep-alive ping is a single CRLF. */
export const PONG = Buffer.from('\r\n', 'latin1');

/**
 * Inbound connections per remote address (TCP and WebSocket listeners): one address cannot exhaust
 * file descriptors and memory. Connections this layer opens do not count.
 */
export class SourceLimit {
  /** Remote address -> inbound connections it holds (only kept while > 0). */
  private readonly held = new Map<string, number>();

  /** @param max connections one address may hold; 0 = no limit */
  constructor(private readonly max: number) {}

  /**
   * Counts one more connection from `source` until `socket` closes. False (nothing counted) when the
   * address already holds `max`: the caller closes the new connection.
   */
  admit(source: string, socket: { once(event: 'close', listener: () => void): unknown }): boolean {
    const count = this.held.get(source) ?? 0;
    if (this.max > 0 && count >= this.max) return false;
    this.held.set(source, count + 1);
    socket.once('close', () => {
      const left = (this.held.get(source) ?? 1) - 1;
      if (left > 0) this.held.set(source, left);
      else this.held.delete(source);
    });
    return true;
  }
}

/** The key of a connection table's by-peer index. */
export function addressKey(address: string, port: number): string {
  return `${address}:${port}`;
}

/**
 * Binds a listening server (TCP, TLS, HTTP for WebSocket). Rejects with
 * SIPFLEET_ERR_TRANSPORT_LISTEN; once bound, accept errors (EMFILE) are ignored so they cannot crash
 * the process. Resolves with the bound address and port (the real one for port 0).
 */
export function bindServer(
  server: net.Server,
  protocol: string,
  address: string,
  port: number,
): Promise<{ address: string; port: number }> {
  return new Promise((resolve, reject) => {
    server.once('error', (err) => {
      reject(
        new TransportError(
          TransportErrorCode.Listen,
          `cannot listen on ${protocol} ${address}:${port}: ${err.message}`,
          { cause: err },
        ),
      );
    });
    // ipv6Only: keep `::` to IPv6 so every peer address has one family (listen on 0.0.0.0 too).
    server.listen({ host: address, port, ipv6Only: address.includes(':') }, () => {
      server.removeAllListeners('error');
      server.on('error', () => undefined);
      const bound = server.address() as net.AddressInfo;
      resolve({ address: bound.address, port: bound.port });
    });
  });
}
