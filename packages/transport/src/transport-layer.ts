/**
 * The transport layer (RFC 3261 section 18): every listening socket of a process behind one
 * MessageSender. UDP sends pick the socket by address family in O(1); TCP and TLS sends go through
 * the connection tables (reuse, connect-on-demand, queue while connecting); WS/WSS sends (RFC 7118)
 * go on the browser's own connection.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import net from 'node:net';
import os from 'node:os';
import type tls from 'node:tls';
import { TransportError, TransportErrorCode, reportLater } from './errors.js';
import { TcpTransport } from './tcp.js';
import type {
  FlowRouter,
  ListenSpec,
  MessageSender,
  RemoteInfo,
  SendTarget,
  TlsClientOptions,
  TransportProtocol,
} from './types.js';
import { bindUdp } from './udp.js';
import type { UdpEngine } from './udp.js';
import type { DatagramSocket } from './udp-common.js';
import { WsTransport } from './ws.js';

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
  /**
   * Who reads and writes UDP: `native` (the addon built by scripts/bootstrap.mjs; IPv4 listeners,
   * IPv6 ones stay on node:dgram), `dgram` (node:dgram for all), `auto` (native where it was built).
   * `native` without the addon fails listen. docs/architecture.md, "UDP engine".
   * @default 'auto'
   */
  udpEngine?: UdpEngine;
  /**
   * WS/WSS: a WebSocket ping goes to every connection this often, and one that has not answered the
   * previous ping (nor sent anything) is closed.
   * @default 30000
   */
  wsKeepaliveIntervalMs?: number;
  /** How TLS connections to next hops are opened (CA, client certificate, verification). @default Node's CAs, verified */
  tlsClient?: TlsClientOptions;
}

/** Per-protocol counters since start (metrics read them). */
export interface TransportCounts {
  messagesIn: Record<TransportProtocol, number>;
  messagesOut: Record<TransportProtocol, number>;
  /** TLS handshakes that failed, both directions (bad or unknown certificate, wrong name, timeout). */
  handshakesFailed: number;
}

/** Flow token: connection id (base 36), a dot, then a truncated HMAC (base64url). */
const FLOW_TOKEN = /^([0-9a-z]{1,10})\.([A-Za-z0-9_-]{16})$/;

interface BoundSpec {
  /** What was asked for (reloadTls finds a listener by it). */
  spec: ListenSpec;
  protocol: TransportProtocol;
  family: 'IPv4' | 'IPv6';
  address: string;
  port: number;
  sentBy: { host: string; port: number };
}

export class TransportLayer implements MessageSender, FlowRouter {
  /** One complete SIP message (UDP datagram or TCP frame). Exceptions thrown here are not caught. */
  onMessage: (data: Buffer, remote: RemoteInfo) => void = () => undefined;
  /**
   * Framing errors, oversize messages, TCP connections refused or closed by a limit; `reason` is a
   * SIPFLEET_ERR_TRANSPORT_* code.
   */
  onDropped: (reason: string, remote: RemoteInfo) => void = () => undefined;

  /** A TLS handshake failed (for a log line; {@link counts} has the total). */
  onHandshakeFailed: (remote: { address: string; port: number }, err: Error) => void = () =>
    undefined;

  readonly counts: TransportCounts = {
    messagesIn: { udp: 0, tcp: 0, tls: 0, ws: 0, wss: 0 },
    messagesOut: { udp: 0, tcp: 0, tls: 0, ws: 0, wss: 0 },
    handshakesFailed: 0,
  };
  private udp4: DatagramSocket | undefined;
  private udp6: DatagramSocket | undefined;
  /** Every UDP socket, the two defaults above included (force_send_socket picks among them). */
  private udpAll: DatagramSocket[] = [];
  private readonly tcp: TcpTransport;
  private readonly tls: TcpTransport;
  /** Made by the first WS/WSS listener (its keep-alive timer is not wanted otherwise). */
  private ws: WsTransport | undefined;
  private readonly bound: BoundSpec[] = [];
  private closed = false;
  /** Client side of TLS; replaced by reloadTls. */
  private tlsClient: tls.ConnectionOptions;
  /** Flow tokens are only good for this process's connections: a fresh key per layer. */
  private readonly flowKey = randomBytes(32);
  private nextConnectionId = 1;

  private constructor(opts: Required<TransportOptions>) {
    this.tlsClient = clientOptions(opts.tlsClient);
    const stream = (protocol: 'tcp' | 'tls') =>
      new TcpTransport({
        protocol,
        nextId: () => this.nextConnectionId++,
        tlsClient: () => this.tlsClient,
        ...(protocol === 'tls' ? { clientLocal: (family) => this.tcp.listenerLocal(family) } : {}),
        idleTimeoutMs: opts.tcpIdleTimeoutMs,
        connectTimeoutMs: opts.tcpConnectTimeoutMs,
        maxMessageBytes: opts.maxMessageBytes,
        maxConnectionsPerSource: opts.maxConnectionsPerSource,
        messageTimeoutMs: opts.tcpMessageTimeoutMs,
        onMessage: (data, remote) => this.received(data, remote),
        onDropped: (reason, remote) => this.onDropped(reason, remote),
        onHandshakeFailed: (remote, err) => {
          this.counts.handshakesFailed++;
          this.onHandshakeFailed(remote, err);
        },
      });
    this.tcp = stream('tcp');
    this.tls = stream('tls');
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
      udpEngine: opts.udpEngine ?? 'auto',
      tlsClient: opts.tlsClient ?? {},
      wsKeepaliveIntervalMs: opts.wsKeepaliveIntervalMs ?? 30_000,
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

  /** Open TLS connections, both directions (handshake done or in progress for ones we open). */
  get tlsConnectionCount(): number {
    return this.tls.connectionCount;
  }

  /** Open WebSocket connections of `protocol`. */
  webSocketConnectionCount(protocol: 'ws' | 'wss'): number {
    return this.ws?.connectionCount(protocol) ?? 0;
  }

  /**
   * New certificates and keys for the TLS and WSS listeners and the client side. `specs` are the ones
   * given to listen(), in the same order, with new `tls` options. Connections already open keep
   * the context they were made with, so calls go on.
   */
  reloadTls(specs: ListenSpec[], client: TlsClientOptions = {}): void {
    specs.forEach((spec, i) => {
      const bound = this.bound[i];
      if (spec.tls === undefined || bound === undefined) return;
      if (bound.protocol === 'tls') this.tls.reloadTls(bound.address, bound.port, spec.tls);
      else if (bound.protocol === 'wss') this.ws?.reloadTls(bound.address, bound.port, spec.tls);
    });
    this.tlsClient = clientOptions(client);
  }

  flowToken(
    remote: Pick<RemoteInfo, 'protocol' | 'connectionId'>,
    tag: string,
  ): string | undefined {
    const id = remote.connectionId;
    if (id === undefined || remote.protocol === 'udp') return undefined;
    let conn: RemoteInfo | undefined;
    if (remote.protocol === 'ws' || remote.protocol === 'wss') {
      // WebSocket connections are never closed as idle (ping keep-alive): nothing to keep.
      conn = this.ws?.connection(id);
    } else {
      const stream = remote.protocol === 'tls' ? this.tls : this.tcp;
      conn = stream.connection(id);
      if (conn !== undefined) stream.keepForDialog(id);
    }
    if (conn === undefined) return undefined;
    return `${id.toString(36)}.${this.flowMac(conn, tag)}`;
  }

  flowTarget(token: string, tag: string): SendTarget | undefined {
    const m = FLOW_TOKEN.exec(token);
    if (m === null) return undefined;
    const id = parseInt(m[1] as string, 36);
    const conn = this.tcp.connection(id) ?? this.tls.connection(id) ?? this.ws?.connection(id);
    if (conn === undefined) return undefined;
    const expected = Buffer.from(this.flowMac(conn, tag));
    const given = Buffer.from(m[2] as string);
    if (!timingSafeEqual(expected, given)) return undefined;
    return { protocol: conn.protocol, address: conn.address, port: conn.port, connectionId: id };
  }

  send(target: SendTarget, data: Buffer, onError?: (err: Error) => void): void {
    this.counts.messagesOut[target.protocol]++;
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
    if (target.protocol === 'tcp' || target.protocol === 'tls') {
      (target.protocol === 'tls' ? this.tls : this.tcp).send(target, data, onError);
    } else if (this.ws !== undefined) this.ws.send(target, data, onError);
    else {
      reportLater(
        onError,
        new TransportError(TransportErrorCode.NoSocket, `no ${target.protocol} listener`),
      );
    }
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
    await Promise.all([
      this.tcp.close(),
      this.tls.close(),
      this.ws?.close(),
      ...udp.map((s) => s.close()),
    ]);
  }

  private received(data: Buffer, remote: RemoteInfo): void {
    this.counts.messagesIn[remote.protocol]++;
    this.onMessage(data, remote);
  }

  /**
   * The flow token's MAC binds the connection (id, protocol, peer) and the dialog creator's tag:
   * a forged or stale token (a restart, a reused id) names no connection (RFC 5626 section 5.2).
   */
  private flowMac(conn: RemoteInfo, tag: string): string {
    return createHmac('sha256', this.flowKey)
      .update(`${conn.connectionId}|${conn.protocol}|${conn.address}|${conn.port}|${tag}`)
      .digest('base64url')
      .slice(0, 16);
  }

  private async bind(spec: ListenSpec, options: Required<TransportOptions>): Promise<void> {
    const family = net.isIPv6(spec.address) ? 'IPv6' : 'IPv4';
    let local: { address: string; port: number };
    if (spec.protocol === 'udp') {
      // The first UDP socket of a family sends by default; others only when a send names them
      // (SendTarget.local).
      const socket = await bindUdp(
        {
          address: spec.address,
          port: spec.port,
          maxMessageBytes: options.maxMessageBytes,
          recvBufferSize: options.udpRecvBufferSize,
          sendBufferSize: options.udpSendBufferSize,
          onMessage: (data, remote) => this.received(data, remote),
          onDropped: (reason, remote) => this.onDropped(reason, remote),
        },
        options.udpEngine,
      );
      this.udpAll.push(socket);
      if (family === 'IPv4') this.udp4 ??= socket;
      else this.udp6 ??= socket;
      local = socket.local;
    } else if (spec.protocol === 'tls') {
      local = await this.tls.listen(spec.address, spec.port, spec.tls);
    } else if (spec.protocol === 'tcp') {
      local = await this.tcp.listen(spec.address, spec.port);
    } else {
      this.ws ??= new WsTransport({
        maxMessageBytes: options.maxMessageBytes,
        maxConnectionsPerSource: options.maxConnectionsPerSource,
        keepaliveIntervalMs: options.wsKeepaliveIntervalMs,
        nextId: () => this.nextConnectionId++,
        onMessage: (data, remote) => this.received(data, remote),
        onDropped: (reason, remote) => this.onDropped(reason, remote),
      });
      local = await this.ws.listen(spec.protocol, spec.address, spec.port, spec.tls);
    }
    this.bound.push({
      spec,
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

function clientOptions(client: TlsClientOptions): tls.ConnectionOptions {
  return {
    ...(client.ca === undefined ? {} : { ca: client.ca }),
    ...(client.cert === undefined ? {} : { cert: client.cert }),
    ...(client.key === undefined ? {} : { key: client.key }),
    rejectUnauthorized: client.verifyServer ?? true,
    minVersion: 'TLSv1.2',
  };
}
