// What both UDP engines (udp.ts: node:dgram, udp-native.ts: the addon) share.
import { TransportError, TransportErrorCode } from './errors.js';
import type { RemoteInfo } from './types.js';

export const CR = 0x0d;
export const LF = 0x0a;

export interface UdpSocketOptions {
  address: string;
  port: number;
  maxMessageBytes: number;
  recvBufferSize: number;
  sendBufferSize: number;
  onMessage(data: Buffer, remote: RemoteInfo): void;
  onDropped(reason: string, remote: RemoteInfo): void;
}

/** One bound UDP socket, whichever engine serves it. */
export interface DatagramSocket {
  readonly family: 'IPv4' | 'IPv6';
  /** The bound address and port, shared by the RemoteInfo of every datagram. */
  readonly local: { address: string; port: number };
  /** Failures reach onError asynchronously; an unconnected UDP socket learns nothing later. */
  send(data: Buffer, port: number, address: string, onError?: (err: Error) => void): void;
  close(): Promise<void>;
}

/** 65535 minus the IPv4 (20) and UDP (8) headers; IPv6 without jumbograms: 65535 - 8. */
export const MAX_UDP4_PAYLOAD = 65_507;
export const MAX_UDP6_PAYLOAD = 65_527;

export function sendError(
  address: string,
  port: number,
  why: string,
  cause?: unknown,
): TransportError {
  return new TransportError(
    TransportErrorCode.Send,
    `udp send to ${address}:${port} failed: ${why}`,
    cause === undefined ? undefined : { cause },
  );
}

export function isOnlyCrlf(data: Buffer): boolean {
  for (let i = 0; i < data.length; i++) {
    if (data[i] !== CR && data[i] !== LF) return false;
  }
  return true;
}
