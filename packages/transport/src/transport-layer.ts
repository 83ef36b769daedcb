/**
 * The transport layer (RFC 3261 section 18): every listening socket of a process behind one
 * MessageSender. UDP sends pick the socket by address family in O(1); TCP sends go through the
 * connection table (reuse, connect-on-demand, queue while connecting).
 */
import net from 'node:net';
import os from 'node:os';
import { TransportError, TransportErrorCode, reportLater } from './errors.js';
import { TcpTransport } from './tcp.js';
import type {
  ListenSpec,
  MessageSender,
  RemoteInfo,
  SendTarget,
  TransportProtocol,
} from './types.js';
import { UdpSocket } from './udp.js';

export interface TransportOptions {
  /**
   * Close a TCP connection after this long without traffic in either direction.
   * @default 60000
   */
  tcpIdleTimeoutMs?: number;
  /**
   * Close a TCP connection that has held an incomplete message this long (a peer trickling bytes
   * resets the idle timeout forever); reported to onDropped as SIPFLEET_ERR_TRANSPORT_MESSAGE_TIMEOUT.
   * @default 10000
   */
  tcpMessageTimeoutMs?: number;
  /**
   * Inbound TCP connections one remote address may hold; the next one is closed at once and reported
   * to onDropped as SIPFLEET_ERR_TRANSPORT_CONNECTIONS_PER_SOURCE. Connections this layer opens do
   * not count. Raise it for trunks that open many; 0 = no limit.
   * @default 64
   */
  maxConnectionsPerSource?: number;
  /**
   * Give up an outgoing TCP connect after this long (queued sends get SIPFLEET_ERR_TRANSPORT_CONNECT).
   * @default 10000
   */
  tcpConnectTimeoutMs?: number;
  /**
   * Largest message accepted (UDP datagram or TCP frame); larger ones are dropped (onDropped) and on
   * TCP the connection is closed, since the stream cannot be resynchronised.
   * @default 65535
   */
  maxMessageBytes?: number;
  /**
   * SO_RCVBUF asked for on UDP sockets, to ride out bursts; Linux caps it at net.core.rmem_max. 0 keeps
   * the kernel default.
   * @default 4194304
   */
  udpRecvBufferSize?: number;
  /**
   * SO_SNDBUF asked for on UDP sockets; Linux caps it at net.core.wmem_max. 0 keeps the kernel default.
   * @default 4194304
   */
  udpSendBufferSize?: number;
}

interface BoundSpec {
  protocol: TransportProtocol;
  family: 'IPv4' | 'IPv6';
  address: string;
  port: number;
  sentBy: { host: string; port: number };
}

export class TransportLayer implements MessageSender {
  /** One complete SIP message (UDP datagram or TCP frame). Exceptions thrown here are not caught. */
  onMessage: (data: Buffer, remote: RemoteInfo) => void = () => undefined;
  /**
   * Framing errors, oversize messages, TCP connections refused or closed by a limit; `reason` is a
   * SIPFLEET_ERR_TRANSPORT_* code.
   */
  onDropped: (reason: string, remote: RemoteInfo) => void = () => undefined;

  private udp4: UdpSocket | undefined;
  private udp6: UdpSocket | undefined;
  /** Every UDP socket, the two defaults above included (force_send_socket picks among them). */
  private udpAll: UdpSocket[] = [];
  private readonly tcp: TcpTransport;
  private readonly bound: BoundSpec[] = [];
  private closed = false;

  private constructor(opts: Required<TransportOptions>) {
    this.tcp = new TcpTransport({
      idleTimeoutMs: opts.tcpIdleTimeoutMs,
      connectTimeoutMs: opts.tcpConnectTimeoutMs,
      maxMessageBytes: opts.maxMessageBytes,
      maxConnectionsPerSource: opts.maxConnectionsPerSource,
      messageTimeoutMs: opts.tcpMessageTimeoutMs,
      onMessage: (data, remote) => this.onMessage(data, remote),
      onDropped: (reason, remote) => this.onDropped(reason, remote),
    });
  }

  /**
   * Binds one socket per spec. At most one UDP socket per address family (sends pick it by family);
   * `::` listens on IPv6 only, list `0.0.0.0` as well for both. Rejects with
   * SIPFLEET_ERR_TRANSPORT_LISTEN (after closing what was already bound).
   */
  static async listen(specs: ListenSpec[], opts: TransportOptions = {}): Promise<TransportLayer> {
    const options: Required<TransportOptions> = {
      tcpIdleTimeoutMs: opts.tcpIdleTimeoutMs ?? 60_000,
      tcpMessageTimeoutMs: opts.tcpMessageTimeoutMs ?? 10_000,
      maxConnectionsPerSource: opts.maxConnectionsPerSource ?? 64,
      tcpConnectTimeoutMs: opts.tcpConnectTimeoutMs ?? 10_000,
      maxMessageBytes: opts.maxMessageBytes ?? 65_535,
      udpRecvBufferSize: opts.udpRecvBufferSize ?? 4 * 1024 * 1024,
      udpSendBufferSize: opts.udpSendBufferSize ?? 4 * 1024 * 1024,
    };
    const layer = new TransportLayer(options);
    try {
      for (const spec of specs) await layer.bind(spec, options);
    } catch (err) {
      await layer.close();
      throw err;
    }
    return layer;
  }

  /** Bound sockets, with the real port when the spec asked for 0, and their Via sent-by. */
  get sockets(): ReadonlyArray<{
    protocol: TransportProtocol;
    address: string;
    port: number;
    sentBy: { host: string; port: number };
  }> {
    return this.bound.map(({ protocol, address, port, sentBy }) => ({
      protocol,
      address,
      port,
      sentBy,
    }));
  }

  /** Open TCP connections, both directions. */
  get tcpConnectionCount(): number {
    return this.tcp.connectionCount;
  }

  send(target: SendTarget, data: Buffer, onError?: (err: Error) => void): void {
    if (target.protocol === 'udp') {
      const local = target.local;
      // IP literals only (see resolveTarget): a colon means IPv6.
      const socket =
        local !== undefined
          ? this.udpAll.find(
              (s) => s.local.address === local.address && s.local.port === local.port,
            )
          : target.address.indexOf(':') === -1
            ? this.udp4
            : this.udp6;
      if (socket !== undefined) {
        socket.send(data, target.port, target.address, onError);
        return;
      }
      reportLater(
        onError,
        this.closed
          ? new TransportError(TransportErrorCode.Closed, 'transport closed')
          : new TransportError(
              TransportErrorCode.NoSocket,
              local !== undefined
                ? `no udp socket bound to ${local.address}:${local.port}`
                : `no udp socket for the address family of ${target.address}`,
            ),
      );
      return;
    }
    this.tcp.send(target, data, onError);
  }

  /**
   * The address for Via sent-by / Record-Route: `advertise` if set (its port defaulting to the bound
   * port), else the bound address; a wildcard bind (`0.0.0.0`, `::`) is replaced by the first
   * non-internal, non-link-local interface address of that family. IPv6 addresses come in brackets
   * (RFC 3261 `host`). `family` picks among several listeners of the protocol (default: the first
   * one listed). Throws SIPFLEET_ERR_TRANSPORT_NO_SOCKET if there is no listener for the protocol
   * (a programming error).
   */
  sentBy(protocol: TransportProtocol, family?: 'IPv4' | 'IPv6'): { host: string; port: number } {
    const spec = this.bound.find(
      (b) => b.protocol === protocol && (family === undefined || b.family === family),
    );
    if (spec === undefined) {
      throw new TransportError(TransportErrorCode.NoSocket, `no ${protocol} listener`);
    }
    return spec.sentBy;
  }

  async close(): Promise<void> {
    this.closed = true;
    const udp = this.udpAll;
    this.udp4 = undefined;
    this.udp6 = undefined;
    this.udpAll = [];
    await Promise.all([this.tcp.close(), ...udp.map((s) => s.close())]);
  }

  private async bind(spec: ListenSpec, options: Required<TransportOptions>): Promise<void> {
    const family = net.isIPv6(spec.address) ? 'IPv6' : 'IPv4';
    let local: { address: string; port: number };
    if (spec.protocol === 'udp') {
      // The first UDP socket of a family sends by default; others only when a send names them
      // (SendTarget.local).
      const socket = await UdpSocket.bind({
        address: spec.address,
        port: spec.port,
        maxMessageBytes: options.maxMessageBytes,
        recvBufferSize: options.udpRecvBufferSize,
        sendBufferSize: options.udpSendBufferSize,
        onMessage: (data, remote) => this.onMessage(data, remote),
        onDropped: (reason, remote) => this.onDropped(reason, remote),
      });
      this.udpAll.push(socket);
      if (family === 'IPv4') this.udp4 ??= socket;
      else this.udp6 ??= socket;
      local = socket.local;
    } else {
      local = await this.tcp.listen(spec.address, spec.port);
    }
    this.bound.push({
      protocol: spec.protocol,
      family,
      address: local.address,
      port: local.port,
      sentBy: {
        host: spec.advertise?.host ?? hostFor(local.address, family),
        port: spec.advertise?.port ?? local.port,
      },
    });
  }
}

/** RFC 3261 `host`: IPv6 in brackets; wildcard binds replaced by a real interface address. */
function hostFor(address: string, family: 'IPv4' | 'IPv6'): string {
  let host = address;
  if (address === '0.0.0.0' || address === '::') {
    const ifaces = Object.values(os.networkInterfaces()).flat();
    const found = ifaces.find(
      (i) =>
        i !== undefined && !i.internal && i.family === family && !i.address.startsWith('fe80:'),
    );
    host = found?.address ?? (family === 'IPv4' ? '127.0.0.1' : '::1');
  }
  return family === 'IPv6' ? `[${host}]` : host;
}
