/**
 * SIP over TCP (RFC 3261 sections 18.1.1, 18.2.2, 18.3): listeners, the connection table and the
 * per-connection stream framing.
 *
 * Connections are shared by both directions: one accepted from a peer is indexed by its remote
 * address:port exactly like one we opened, so a request to that address:port reuses it, and a
 * response can name the connection by id (RFC 3261 section 18.2.2: "the response MUST be sent using
 * the existing connection to the source of the original request ... if that connection is still open").
 */
import net from 'node:net';
import { TransportError, TransportErrorCode, reportLater } from './errors.js';
import { StreamFramer } from './framing.js';
import { PONG, SourceLimit, addressKey } from './connections.js';
import type { RemoteInfo, SendTarget } from './types.js';

export interface TcpOptions {
  idleTimeoutMs: number;
  connectTimeoutMs: number;
  maxMessageBytes: number;
  /** Inbound connections one remote address may hold; 0 = no limit. */
  maxConnectionsPerSource: number;
  /** How long an incomplete message may stay buffered on a connection. */
  messageTimeoutMs: number;
  onMessage(data: Buffer, remote: RemoteInfo): void;
  onDropped(reason: string, remote: RemoteInfo): void;
}

interface QueuedSend {
  data: Buffer;
  onError: ((err: Error) => void) | undefined;
}

interface TcpListener {
  server: net.Server;
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
  private nextId = 1;
  private closed = false;

  constructor(private readonly options: TcpOptions) {
    this.inbound = new SourceLimit(options.maxConnectionsPerSource);
  }

  /** Open connections, both directions (for metrics and tests). */
  get connectionCount(): number {
    return this.byId.size;
  }

  listen(address: string, port: number): Promise<{ address: string; port: number }> {
    const family = net.isIPv6(address) ? 'IPv6' : 'IPv4';
    const server = net.createServer({ noDelay: true }, (socket) => this.accept(socket, listener));
    const listener: TcpListener = { server, family, local: { address, port } };
    return new Promise((resolve, reject) => {
      server.once('error', (err) => {
        reject(
          new TransportError(
            TransportErrorCode.Listen,
            `cannot listen on tcp ${address}:${port}: ${err.message}`,
            { cause: err },
          ),
        );
      });
      // ipv6Only: keep `::` to IPv6 so every peer address has one family (listen on 0.0.0.0 too).
      server.listen({ host: address, port, ipv6Only: family === 'IPv6' }, () => {
        server.removeAllListeners('error');
        server.on('error', () => undefined); // accept errors (EMFILE) must not crash the process
        const bound = server.address() as net.AddressInfo;
        listener.local = { address: bound.address, port: bound.port };
        this.listeners.push(listener);
        resolve(listener.local);
      });
    });
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
    await Promise.all(
      this.listeners.map((l) => new Promise<void>((resolve) => l.server.close(() => resolve()))),
    );
  }

  private accept(socket: net.Socket, listener: TcpListener): void {
    if (this.closed || socket.remoteAddress === undefined || socket.remotePort === undefined) {
      socket.destroy();
      return;
    }
    const remote: RemoteInfo = {
      protocol: 'tcp',
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
    remote.connectionId = this.nextId++;
    // Also bounds a brand-new connection that never sends anything: the timer runs from here.
    socket.setTimeout(this.options.idleTimeoutMs);
    this.register(socket, remote, false);
  }

  private connect(
    target: SendTarget,
    onError: ((err: Error) => void) | undefined,
  ): TcpConnection | undefined {
    const family = target.address.includes(':') ? 'IPv6' : 'IPv4';
    const listener = this.listeners.find((l) => l.family === family);
    if (listener === undefined) {
      reportLater(
        onError,
        new TransportError(
          TransportErrorCode.NoSocket,
          `no tcp ${family} listener to send to ${target.address}:${target.port}`,
        ),
      );
      return undefined;
    }
    const bindAddress = listener.local.address;
    const socket = net.connect({
      host: target.address,
      port: target.port,
      noDelay: true,
      // Leave from the listener's address so the peer sees the address our Via advertises.
      ...(bindAddress === '0.0.0.0' || bindAddress === '::' ? {} : { localAddress: bindAddress }),
    });
    const remote: RemoteInfo = {
      protocol: 'tcp',
      address: target.address,
      port: target.port,
      family,
      connectionId: this.nextId++,
      local: listener.local,
    };
    socket.setTimeout(this.options.connectTimeoutMs);
    const conn = this.register(socket, remote, true);
    socket.once('connect', () => {
      socket.setTimeout(this.options.idleTimeoutMs);
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
            `tcp connect to ${key} failed: ${reason}`,
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
