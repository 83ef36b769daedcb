/**
 * SIP over TCP and TLS (RFC 3261 sections 18.1.1, 18.2.2, 18.3, 26.2): listeners, the connection
 * table and the per-connection stream framing. One instance per protocol: TLS is TCP with a
 * handshake in front (RFC 3261 section 26.2.1), so everything after it is shared.
 *
 * Connections are shared by both directions: one accepted from a peer is indexed by its remote
 * address:port exactly like one we opened, so a request to that address:port reuses it, and a
 * response can name the connection by id (RFC 3261 section 18.2.2: "the response MUST be sent using
 * the existing connection to the source of the original request ... if that connection is still open").
 */
import net from 'node:net';
import tls from 'node:tls';
import { TransportError, TransportErrorCode, reportLater } from './errors.js';
import { StreamFramer } from './framing.js';
import { PONG, SourceLimit, addressKey, bindServer } from './connections.js';
import type { RemoteInfo, SendTarget, TlsListenOptions } from './types.js';

/** A connection that carries a dialog is probed by the kernel instead of closed as idle. */
const DIALOG_KEEPALIVE_MS = 30_000;

export interface TcpOptions {
  protocol: 'tcp' | 'tls';
  /** Connection ids, unique across the layer's stream transports (flow tokens name them). */
  nextId(): number;
  /** TLS: options of the next outgoing connection (read per connect, so a reload applies). */
  tlsClient?: () => tls.ConnectionOptions;
  /**
   * Where outgoing connections leave from when this transport has no listener of the family:
   * TLS on a process with no TLS listener (the prober) connects from the TCP listener's address.
   */
  clientLocal?: (family: 'IPv4' | 'IPv6') => { address: string; port: number } | undefined;
  idleTimeoutMs: number;
  connectTimeoutMs: number;
  maxMessageBytes: number;
  /** Inbound connections one remote address may hold; 0 = no limit. */
  maxConnectionsPerSource: number;
  /** How long an incomplete message may stay buffered on a connection. */
  messageTimeoutMs: number;
  onMessage(data: Buffer, remote: RemoteInfo): void;
  onDropped(reason: string, remote: RemoteInfo): void;
  /** TLS: a handshake failed (either direction), the connection is gone. */
  onHandshakeFailed?(remote: { address: string; port: number }, err: Error): void;
}

interface QueuedSend {
  data: Buffer;
  onError: ((err: Error) => void) | undefined;
}

interface TcpListener {
  server: net.Server | tls.Server;
  family: 'IPv4' | 'IPv6';
  local: { address: string; port: number };
}

class TcpConnection {
  readonly remote: RemoteInfo;
  /** Sends made while connecting; undefined once connected (or for accepted connections). */
  queue: QueuedSend[] | undefined;
  /** The error that will be reported to queued sends if the connect fails. */
  lastError: Error | undefined;
  readonly framer: StreamFramer;
  /** Runs while an incomplete message is buffered (slowloris guard); undefined between messages. */
  messageTimer: NodeJS.Timeout | undefined;
  /** A message was framed during the current `push` (the buffered partial one is then a new one). */
  framed = false;
  /** A flow token names it: never closed as idle (RFC 5626 section 5.3, RFC 5923 section 6). */
  carriesDialog = false;

  constructor(
    readonly socket: net.Socket,
    remote: RemoteInfo,
    readonly key: string,
    connecting: boolean,
    maxMessageBytes: number,
    onFrame: (frame: Buffer, conn: TcpConnection) => void,
  ) {
    this.remote = remote;
    this.queue = connecting ? [] : undefined;
    this.framer = new StreamFramer(maxMessageBytes, {
      message: (frame) => {
        this.framed = true;
        onFrame(frame, this);
      },
      ping: () => this.socket.write(PONG),
    });
  }

  get usable(): boolean {
    return !this.socket.destroyed && this.socket.writable;
  }

  write(data: Buffer, onError: ((err: Error) => void) | undefined): void {
    if (this.queue !== undefined) {
      this.queue.push({ data, onError });
      return;
    }
    if (onError === undefined) {
      this.socket.write(data);
      return;
    }
    this.socket.write(data, (err) => {
      if (err) {
        onError(
          new TransportError(
            TransportErrorCode.Send,
            `tcp send to ${this.key} failed: ${err.message}`,
            { cause: err },
          ),
        );
      }
    });
  }
}

export class TcpTransport {
  private readonly listeners: TcpListener[] = [];
  private readonly byId = new Map<number, TcpConnection>();
  /** `address:port` of the peer -> connection (the newest one when both sides opened one). */
  private readonly byAddress = new Map<string, TcpConnection>();
  private readonly inbound: SourceLimit;
  /** TLS: the TCP sockets under accepted connections, handshakes included (closed with the transport). */
  private readonly rawSockets = new Set<net.Socket>();
  private closed = false;

  constructor(private readonly options: TcpOptions) {
    this.inbound = new SourceLimit(options.maxConnectionsPerSource);
  }

  /** Open connections, both directions (for metrics and tests). */
  get connectionCount(): number {
    return this.byId.size;
  }

  /** The address of this transport's listener of `family`, if it has one. */
  listenerLocal(family: 'IPv4' | 'IPv6'): { address: string; port: number } | undefined {
    return this.listeners.find((l) => l.family === family)?.local;
  }

  /** The open connection `id` names, if it is one of this transport's. */
  connection(id: number): RemoteInfo | undefined {
    const conn = this.byId.get(id);
    return conn !== undefined && conn.usable ? conn.remote : undefined;
  }

  /** Marks connection `id` as carrying a dialog: no idle close, TCP keep-alive finds a dead peer. */
  keepForDialog(id: number): void {
    const conn = this.byId.get(id);
    if (conn === undefined || conn.carriesDialog) return;
    conn.carriesDialog = true;
    if (conn.queue === undefined) conn.socket.setTimeout(0);
    conn.socket.setKeepAlive(true, DIALOG_KEEPALIVE_MS);
  }

  /** TLS: new certificate, key or CA for connections accepted from now on (open ones keep theirs). */
  reloadTls(address: string, port: number, options: TlsListenOptions): void {
    const listener = this.listeners.find(
      (l) => l.local.address === address && l.local.port === port,
    );
    if (listener === undefined || !(listener.server instanceof tls.Server)) {
      throw new TransportError(TransportErrorCode.NoSocket, `no tls listener ${address}:${port}`);
    }
    listener.server.setSecureContext(serverContextOptions(options));
  }

  async listen(
    address: string,
    port: number,
    tlsOptions?: TlsListenOptions,
  ): Promise<{ address: string; port: number }> {
    const family = net.isIPv6(address) ? 'IPv6' : 'IPv4';
    const server =
      this.options.protocol === 'tls'
        ? this.tlsServer(tlsOptions, () => listener)
        : net.createServer({ noDelay: true }, (socket) => this.accept(socket, listener));
    const listener: TcpListener = { server, family, local: { address, port } };
    listener.local = await bindServer(server, 'tcp', address, port);
    this.listeners.push(listener);
    return listener.local;
  }

  send(target: SendTarget, data: Buffer, onError: ((err: Error) => void) | undefined): void {
    if (this.closed) {
      reportLater(onError, new TransportError(TransportErrorCode.Closed, 'transport closed'));
      return;
    }
    let conn: TcpConnection | undefined;
    if (target.connectionId !== undefined) conn = this.byId.get(target.connectionId);
    if (conn === undefined || !conn.usable) {
      conn = this.byAddress.get(addressKey(target.address, target.port));
      if (conn === undefined || !conn.usable) conn = this.connect(target, onError);
      if (conn === undefined) return;
    }
    conn.write(data, onError);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const conn of this.byId.values()) conn.socket.destroy();
    for (const socket of this.rawSockets) socket.destroy();
    await Promise.all(
      this.listeners.map((l) => new Promise<void>((resolve) => l.server.close(() => resolve()))),
    );
  }

  /**
   * RFC 3261 section 26.2.1 plus mutual TLS: `verifyClient` `require` refuses a client without a
   * valid certificate in the handshake; `optional` asks for one and refuses only an invalid one
   * (checked once the handshake is done, since Node's `rejectUnauthorized` cannot tell them apart).
   */
  private tlsServer(
    options: TlsListenOptions | undefined,
    listener: () => TcpListener,
  ): tls.Server {
    if (options === undefined) {
      throw new TransportError(TransportErrorCode.Listen, 'a tls listener needs a cert and key');
    }
    const policy = options.verifyClient ?? 'none';
    const server = tls.createServer({
      ...serverContextOptions(options),
      noDelay: true,
      requestCert: policy !== 'none',
      rejectUnauthorized: policy === 'require',
      // A peer that never finishes the handshake loses the socket like a slow connect would.
      handshakeTimeout: this.options.connectTimeoutMs,
    });
    server.on('connection', (raw: net.Socket) => {
      this.rawSockets.add(raw);
      raw.once('close', () => this.rawSockets.delete(raw));
    });
    server.on('secureConnection', (socket: tls.TLSSocket) => {
      if (policy === 'optional' && !socket.authorized && socket.getPeerCertificate().raw) {
        this.handshakeFailed(socket, new Error(String(socket.authorizationError)));
        socket.destroy();
        return;
      }
      this.accept(socket, listener());
    });
    server.on('tlsClientError', (err, socket) => {
      this.handshakeFailed(socket, err);
      socket.destroy();
    });
    return server;
  }

  private handshakeFailed(socket: net.Socket, err: Error): void {
    this.options.onHandshakeFailed?.(
      { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 },
      err,
    );
  }

  private accept(socket: net.Socket, listener: TcpListener): void {
    if (this.closed || socket.remoteAddress === undefined || socket.remotePort === undefined) {
      socket.destroy();
      return;
    }
    const remote: RemoteInfo = {
      protocol: this.options.protocol,
      address: socket.remoteAddress,
      port: socket.remotePort,
      family: listener.family,
      local: listener.local,
    };
    if (!this.inbound.admit(remote.address, socket)) {
      this.options.onDropped(TransportErrorCode.ConnectionsPerSource, remote);
      socket.destroy();
      return;
    }
    remote.connectionId = this.options.nextId();
    // Also bounds a brand-new connection that never sends anything: the timer runs from here.
    socket.setTimeout(this.options.idleTimeoutMs);
    this.register(socket, remote, false);
  }

  private connect(
    target: SendTarget,
    onError: ((err: Error) => void) | undefined,
  ): TcpConnection | undefined {
    const family = target.address.includes(':') ? 'IPv6' : 'IPv4';
    const local =
      this.listenerLocal(family) ??
      // Client-only: leave from the other listener's address, answers come on this connection.
      this.options.clientLocal?.(family);
    if (local === undefined) {
      reportLater(
        onError,
        new TransportError(
          TransportErrorCode.NoSocket,
          `no ${this.options.protocol} ${family} listener to send to ${target.address}:${target.port}`,
        ),
      );
      return undefined;
    }
    const bindAddress = local.address;
    const connectOptions: net.TcpNetConnectOpts = {
      host: target.address,
      port: target.port,
      noDelay: true,
      // Leave from the listener's address so the peer sees the address our Via advertises.
      ...(bindAddress === '0.0.0.0' || bindAddress === '::' ? {} : { localAddress: bindAddress }),
    };
    const secure = this.options.protocol === 'tls';
    const socket = secure
      ? tls.connect({
          ...this.options.tlsClient?.(),
          ...connectOptions,
          // RFC 5922 section 7.2: the name that was resolved is the identity to check (and SNI).
          ...(target.serverName === undefined || net.isIP(target.serverName) !== 0
            ? {}
            : { servername: target.serverName }),
        })
      : net.connect(connectOptions);
    const remote: RemoteInfo = {
      protocol: this.options.protocol,
      address: target.address,
      port: target.port,
      family,
      connectionId: this.options.nextId(),
      local,
    };
    socket.setTimeout(this.options.connectTimeoutMs);
    const conn = this.register(socket, remote, true);
    if (secure) {
      let tcpUp = false;
      socket.once('connect', () => (tcpUp = true));
      socket.once('error', (err) => {
        if (tcpUp && conn.queue !== undefined) this.handshakeFailed(socket, err);
      });
    }
    socket.once(secure ? 'secureConnect' : 'connect', () => {
      socket.setTimeout(conn.carriesDialog ? 0 : this.options.idleTimeoutMs);
      const queued = conn.queue ?? [];
      conn.queue = undefined;
      for (const q of queued) conn.write(q.data, q.onError);
    });
    return conn;
  }

  private register(socket: net.Socket, remote: RemoteInfo, connecting: boolean): TcpConnection {
    const key = addressKey(remote.address, remote.port);
    const conn = new TcpConnection(
      socket,
      remote,
      key,
      connecting,
      this.options.maxMessageBytes,
      (frame, c) => this.options.onMessage(frame, c.remote),
    );
    const id = remote.connectionId as number;
    this.byId.set(id, conn);
    this.byAddress.set(key, conn);
    socket.on('data', (chunk: Buffer) => {
      conn.framed = false;
      const error = conn.framer.push(chunk);
      if (error !== undefined) {
        this.options.onDropped(error, conn.remote);
        socket.destroy();
        return;
      }
      this.watchPartial(conn);
    });
    socket.on('timeout', () => {
      // Idle (no traffic either way for idleTimeoutMs) or connect timeout: close it.
      if (conn.queue !== undefined) conn.lastError = new Error('connect timed out');
      socket.destroy();
    });
    socket.on('error', (err) => {
      conn.lastError = err;
    });
    socket.on('close', () => {
      conn.framer.stop();
      clearTimeout(conn.messageTimer);
      this.byId.delete(id);
      if (this.byAddress.get(key) === conn) this.byAddress.delete(key);
      const queued = conn.queue;
      conn.queue = undefined;
      if (queued === undefined || queued.length === 0) return;
      const cause = conn.lastError;
      const reason = this.closed ? 'transport closed' : (cause?.message ?? 'connection closed');
      for (const q of queued) {
        q.onError?.(
          new TransportError(
            this.closed ? TransportErrorCode.Closed : TransportErrorCode.Connect,
            `${this.options.protocol} connect to ${key} failed: ${reason}`,
            { cause },
          ),
        );
      }
    });
    return conn;
  }

  /**
   * Slowloris guard: the idle timeout is reset by every byte, so a peer trickling one message forever
   * would hold its buffer and socket; the message timer runs from the first buffered byte of an
   * incomplete message until that message completes.
   */
  private watchPartial(conn: TcpConnection): void {
    if (!conn.framer.partial) {
      clearTimeout(conn.messageTimer);
      conn.messageTimer = undefined;
    } else if (conn.messageTimer === undefined) {
      conn.messageTimer = setTimeout(() => {
        this.options.onDropped(TransportErrorCode.MessageTimeout, conn.remote);
        conn.socket.destroy();
      }, this.options.messageTimeoutMs);
    } else if (conn.framed) {
      conn.messageTimer.refresh(); // the buffered part belongs to a new message
    }
  }
}

/** What `tls.createServer` / `setSecureContext` take from the listener's PEM options (TLS, WSS). */
export function serverContextOptions(options: TlsListenOptions): tls.SecureContextOptions {
  return {
    cert: options.cert,
    key: options.key,
    ...(options.ca === undefined ? {} : { ca: options.ca }),
    minVersion: 'TLSv1.2',
  };
}
