// Kamailio's socket notation, `proto:host:port` (`udp:10.0.0.1:5060`, `udp:[::1]:5070`): how
// force_send_socket, the dispatcher's `socket` attribute and `ds_default_socket` name a listener.
import { isIP } from 'node:net';
import type { TransportProtocol } from './types.js';

export interface SocketSpec {
  protocol: TransportProtocol;
  /** An IP literal, IPv6 without brackets. */
  address: string;
  port: number;
}

/** Parses `udp:host:port` / `tcp:host:port` (host an IP literal); undefined when it is not one. */
export function parseSocketSpec(text: string): SocketSpec | undefined {
  const m = /^(udp|tcp):(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/i.exec(text.trim());
  if (m === null) return undefined;
  const address = (m[2] ?? m[3] ?? '').toLowerCase();
  const port = Number(m[4]);
  if (isIP(address) === 0 || port < 1 || port > 65535) return undefined;
  return { protocol: (m[1] ?? 'udp').toLowerCase() as TransportProtocol, address, port };
}
