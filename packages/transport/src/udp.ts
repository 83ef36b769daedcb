/**
 * SIP over UDP (RFC 3261 section 18): one datagram socket per listen spec, one message per datagram.
 *
 * This is the hot path of the edge (about 13 datagrams per relayed call), so receive and send avoid
 * async hops and allocations beyond what node itself needs: the datagram Buffer is handed up as is,
 * the only object built per datagram is its RemoteInfo (transactions keep it, so it is not pooled).
 */
import dgram from 'node:dgram';
import dns from 'node:dns';
import net from 'node:net';
import { reportLater, TransportError, TransportErrorCode } from './errors.js';
import type { RemoteInfo } from './types.js';
import { CR, isOnlyCrlf, LF, MAX_UDP4_PAYLOAD, MAX_UDP6_PAYLOAD, sendError } from './udp-common.js';
import type { DatagramSocket, UdpSocketOptions } from './udp-common.js';
import { NativeUdp4Socket, nativeUdpMissing } from './udp-native.js';

/**
 * Which code reads and writes UDP: `native` (the addon, IPv4 listeners; IPv6 ones stay on
 * node:dgram), `dgram` (node:dgram for all), or `auto`: native where the addon was built.
 */
export type UdpEngine = 'auto' | 'native' | 'dgram';

/** Binds one UDP socket with the engine asked for; `native` without the addon is refused. */
export async function bindUdp(
  options: UdpSocketOptions,
  engine: UdpEngine = 'auto',
): Promise<DatagramSocket> {
  if (engine === 'native' && nativeUdpMissing !== undefined) {
    throw new TransportError(
      TransportErrorCode.Listen,
      `udpEngine 'native': the UDP addon is not built (${nativeUdpMissing}); run scripts/bootstrap.mjs, or use 'auto'`,
    );
  }
  if (engine !== 'dgram') {
    const native = NativeUdp4Socket.bind(options);
    if (native !== undefined) return native;
  }
  return UdpSocket.bind(options);
}

/**
 * dgram resolves every destination through `lookup`; the default (dns.lookup) answers IP literals on a
 * later tick. Targets are IP literals already (resolveTarget), so answer those synchronously and keep
 * dns.lookup for the rare name (e.g. a sent-by host given straight to send()).
 */
function lookupLiteral(
  address: string,
  // node passes the socket's family as a number although its typings say LookupOneOptions
  options: dns.LookupOneOptions | number,
  callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  const literal = net.isIP(address);
  if (literal !== 0) {
    callback(null, address, literal);
    return;
  }
  const family = typeof options === 'number' ? options : options.family;
  dns.lookup(address, { family: family === 6 || family === 'IPv6' ? 6 : 4 }, callback);
}

export class UdpSocket implements DatagramSocket {
  readonly family: 'IPv4' | 'IPv6';
  /** The bound address and port, shared by the RemoteInfo of every datagram. */
  readonly local: { address: string; port: number };
  private readonly socket: dgram.Socket;
  private readonly options: UdpSocketOptions;

  private constructor(socket: dgram.Socket, family: 'IPv4' | 'IPv6', options: UdpSocketOptions) {
    this.socket = socket;
    this.family = family;
    this.options = options;
    const bound = socket.address();
    this.local = { address: bound.address, port: bound.port };
    socket.on('message', (data, rinfo) => this.receive(data, rinfo));
  }

  static bind(options: UdpSocketOptions): Promise<UdpSocket> {
    const family = net.isIPv6(options.address) ? 'IPv6' : 'IPv4';
    // ipv6Only: a `::` socket would otherwise also receive IPv4 as ::ffff:a.b.c.d and then could not send
    // to plain IPv4 targets; listen on 0.0.0.0 and :: separately instead.
    const socket = dgram.createSocket({
      type: family === 'IPv6' ? 'udp6' : 'udp4',
      ipv6Only: family === 'IPv6',
      lookup: lookupLiteral,
    });
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => {
        socket.close();
        reject(
          new TransportError(
            TransportErrorCode.Listen,
            `cannot bind udp ${options.address}:${options.port}: ${err.message}`,
            { cause: err },
          ),
        );
      };
      socket.once('error', onError);
      socket.bind(options.port, options.address, () => {
        socket.off('error', onError);
        // Errors of individual sends go to their callbacks; this keeps an unexpected socket error
        // (there is no connection to lose on UDP) from crashing the process.
        socket.on('error', () => undefined);
        applyBufferSizes(socket, options);
        resolve(new UdpSocket(socket, family, options));
      });
    });
  }

  /**
   * No completion callback on purpose: with one, Node sends through libuv's queued `uv_udp_send`
   * and a completion event per datagram; without, it tries `uv_udp_try_send` at once, about a
   * quarter cheaper per datagram on this hot path. An unconnected UDP socket learns nothing after
   * the datagram left anyway (no ICMP errors), so only synchronous failures reach onError; later
   * ones land on the socket's 'error' listener.
   */
  send(data: Buffer, port: number, address: string, onError?: (err: Error) => void): void {
    // EMSGSIZE would only show up asynchronously: check the one limit we can know now.
    if (data.length > (this.family === 'IPv6' ? MAX_UDP6_PAYLOAD : MAX_UDP4_PAYLOAD)) {
      reportLater(onError, sendError(address, port, `${data.length} bytes do not fit a datagram`));
      return;
    }
    try {
      this.socket.send(data, port, address);
    } catch (err) {
      reportLater(
        onError,
        sendError(address, port, err instanceof Error ? err.message : String(err), err),
      );
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }

  private receive(data: Buffer, rinfo: dgram.RemoteInfo): void {
    const remote: RemoteInfo = {
      protocol: 'udp',
      address: rinfo.address,
      port: rinfo.port,
      family: this.family,
      local: this.local,
    };
    if (data.length > this.options.maxMessageBytes) {
      this.options.onDropped(TransportErrorCode.MessageTooLarge, remote);
      return;
    }
    // CRLF keep-alives some UAs send over UDP too (RFC 5626 uses STUN there): not a message, not an error.
    if (data[0] === CR || data[0] === LF) {
      if (isOnlyCrlf(data)) return;
    }
    this.options.onMessage(data, remote);
  }
}

/**
 * Bursts (thousands of datagrams in a few ms) overflow the default ~200 KiB kernel buffers. Linux caps
 * the request at net.core.rmem_max / wmem_max for unprivileged processes; a refusal is not fatal.
 */
function applyBufferSizes(socket: dgram.Socket, options: UdpSocketOptions): void {
  try {
    if (options.recvBufferSize > 0) socket.setRecvBufferSize(options.recvBufferSize);
  } catch {
    // keep the kernel default
  }
  try {
    if (options.sendBufferSize > 0) socket.setSendBufferSize(options.sendBufferSize);
  } catch {
    // keep the kernel default
  }
}
