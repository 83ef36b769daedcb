/** What the connection tables of the stream transports (TCP, WebSocket) share. */

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
