/**
 * SIP over WebSocket (RFC 7118): `ws` and `wss` listeners for browsers (WebRTC clients such as
 * SIP.js and JsSIP), on the `ws` package. Server side only, as Kamailio's websocket module: a
 * browser cannot accept connections, so a request towards it can only use the connection it opened
 * (its Contact is not used for routing).
 *
 * RFC 7118 section 4.2: each SIP message is one WebSocket message (text or binary), so there is no
 * stream framing; a message over `maxMessageBytes` closes the connection (close code 1009).
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { TransportError, TransportErrorCode, reportLater } from './errors.js';
import { PONG, SourceLimit, addressKey, bindServer } from './connections.js';
import { serverContextOptions } from './tcp.js';
import type { RemoteInfo, SendTarget, TlsListenOptions } from './types.js';

/** RFC 7118 section 4.1: the WebSocket subprotocol of SIP. */
export const SIP_SUBPROTOCOL = 'sip';

export interface WsOptions {
  maxMessageBytes: number;
  /** Inbound connections one remote address may hold; 0 = no limit. */
  maxConnectionsPerSource: number;
  /** WebSocket ping interval; a connection that did not answer the previous ping is closed. */
  keepaliveIntervalMs: number;
  /** The connection id for a new connection (unique across the layer's transports). */
  nextId(): number;
  onMessage(data: Buffer, remote: RemoteInfo): void;
  onDropped(reason: string, remote: RemoteInfo): void;
}

interface WsListener {
  protocol: 'ws' | 'wss';
  server: http.Server;
  family: 'IPv4' | 'IPv6';
  local: { address: string; port: number };
}

interface WsConnection {
  socket: WebSocket;
  remote: RemoteInfo;
  /** A pong (or any message) arrived since the last keepalive ping. */
  alive: boolean;
}

export class WsTransport {
  private readonly listeners: WsListener[] = [];
  private readonly wss: WebSocketServer;
  private readonly byId = new Map<number, WsConnection>();
  /** `address:port` of the browser -> its connection (responses by Via received/rport land here). */
  private readonly byAddress = new Map<string, WsConnection>();
  private readonly inbound: SourceLimit;
  private readonly keepalive: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly options: WsOptions) {
    this.inbound = new SourceLimit(options.maxConnectionsPerSource);
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      maxPayload: options.maxMessageBytes,
      // Compression costs CPU and memory per connection for small text messages: off, as in Kamailio.
      perMessageDeflate: false,
      handleProtocols: (protocols) => (protocols.has(SIP_SUBPROTOCOL) ? SIP_SUBPROTOCOL : false),
    });
    this.keepalive = setInterval(() => this.ping(), options.keepaliveIntervalMs);
    this.keepalive.unref();
  }

  /** Open WebSocket connections of one protocol. */
  connectionCount(protocol: 'ws' | 'wss'): number {
    let n = 0;
    for (const conn of this.byId.values()) if (conn.remote.protocol === protocol) n++;
    return n;
  }

  /** The peer of connection `id`, while it is open. */
  connection(id: number): RemoteInfo | undefined {
    const conn = this.byId.get(id);
    return conn !== undefined && conn.socket.readyState === WebSocket.OPEN
      ? conn.remote
      : undefined;
  }

  /** WSS: new certificate and key for connections accepted from now on (open ones keep theirs). */
  reloadTls(address: string, port: number, options: TlsListenOptions): void {
    const listener = this.listeners.find(
      (l) => l.protocol === 'wss' && l.local.address === address && l.local.port === port,
    );
    if (listener === undefined) {
      throw new TransportError(TransportErrorCode.NoSocket, `no wss listener ${address}:${port}`);
    }
    (listener.server as https.Server).setSecureContext(serverContextOptions(options));
  }

  /** Binds an HTTP (`ws`) or HTTPS (`wss`) server that accepts only `sip` WebSocket upgrades. */
  async listen(
    protocol: 'ws' | 'wss',
    address: string,
    port: number,
    tls: TlsListenOptions | undefined,
  ): Promise<{ address: string; port: number }> {
    const family = net.isIPv6(address) ? 'IPv6' : 'IPv4';
    let server: http.Server;
    if (protocol === 'wss') {
      if (tls === undefined) {
        throw new TransportError(
          TransportErrorCode.Listen,
          `wss ${address}:${port} needs cert and key`,
        );
      }
      try {
        // Browsers present no client certificate: `verifyClient` does not apply to WSS.
        server = https.createServer(serverContextOptions(tls));
      } catch (err) {
        throw new TransportError(
          TransportErrorCode.Listen,
          `wss ${address}:${port}: unusable certificate or key: ${(err as Error).message}`,
          { cause: err },
        );
      }
    } else server = http.createServer();
    const listener: WsListener = { protocol, server, family, local: { address, port } };
    // Plain HTTP requests (not upgrades) get 426: this port speaks SIP over WebSocket only.
    server.on('request', (_req: http.IncomingMessage, res: http.ServerResponse) => {
      res.writeHead(426, { Upgrade: 'websocket', Connection: 'close' }).end();
    });
    server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) =>
      this.upgrade(req, socket, head, listener),
    );
    // A TLS handshake that fails, a client reset: the socket dies, the server goes on.
    server.on('clientError', (_err, socket: Duplex) => socket.destroy());
    listener.local = await bindServer(server, protocol, address, port);
    this.listeners.push(listener);
    return listener.local;
  }

  /**
   * Sends on the connection `connectionId` names, else on the open connection from the target's
   * address:port. Never opens one (see the file comment): with neither, the send fails with
   * SIPFLEET_ERR_TRANSPORT_CONNECT, as a TCP connect to a browser would.
   */
  send(target: SendTarget, data: Buffer, onError: ((err: Error) => void) | undefined): void {
    if (this.closed) {
      reportLater(onError, new TransportError(TransportErrorCode.Closed, 'transport closed'));
      return;
    }
    let conn = target.connectionId === undefined ? undefined : this.byId.get(target.connectionId);
    if (conn === undefined || conn.socket.readyState !== WebSocket.OPEN) {
      conn = this.byAddress.get(addressKey(target.address, target.port));
    }
    if (conn === undefined || conn.socket.readyState !== WebSocket.OPEN) {
      reportLater(
        onError,
        new TransportError(
          TransportErrorCode.Connect,
          `no open ${target.protocol} connection to ${addressKey(target.address, target.port)}` +
            ' (WebSocket clients cannot be connected to)',
        ),
      );
      return;
    }
    // RFC 7118 section 4.2: text frames (UTF-8), which JavaScript stacks expect.
    conn.socket.send(data, { binary: false }, (err) => {
      if (err && onError !== undefined) {
        onError(
          new TransportError(
            TransportErrorCode.Send,
            `${target.protocol} send to ${addressKey(conn.remote.address, conn.remote.port)} failed: ${err.message}`,
            { cause: err },
          ),
        );
      }
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.keepalive);
    for (const conn of this.byId.values()) conn.socket.terminate();
    await Promise.all(
      this.listeners.map(
        (l) =>
          new Promise<void>((resolve) => {
            l.server.close(() => resolve());
            l.server.closeAllConnections();
          }),
      ),
    );
  }

  private upgrade(
    req: http.IncomingMessage,
    socket: Duplex,
    head: Buffer,
    listener: WsListener,
  ): void {
    const tcp = req.socket;
    if (this.closed || tcp.remoteAddress === undefined || tcp.remotePort === undefined) {
      socket.destroy();
      return;
    }
    const remote: RemoteInfo = {
      protocol: listener.protocol,
      address: tcp.remoteAddress,
      port: tcp.remotePort,
      family: listener.family,
      local: listener.local,
    };
    const offered = (req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((p) => p.trim().toLowerCase());
    if (!offered.includes(SIP_SUBPROTOCOL)) {
      // RFC 7118 section 4.1: the client MUST offer "sip"; anything else is not a SIP client.
      this.options.onDropped(TransportErrorCode.WsSubprotocol, remote);
      refuse(socket, 400, 'Bad Request', 'sec-websocket-protocol must include "sip"');
      return;
    }
    if (!this.inbound.admit(remote.address, socket)) {
      this.options.onDropped(TransportErrorCode.ConnectionsPerSource, remote);
      refuse(socket, 503, 'Service Unavailable', 'too many connections from this address');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.register(ws, remote));
  }

  private register(socket: WebSocket, remote: RemoteInfo): void {
    const id = this.options.nextId();
    remote.connectionId = id;
    const key = addressKey(remote.address, remote.port);
    const conn: WsConnection = { socket, remote, alive: true };
    this.byId.set(id, conn);
    this.byAddress.set(key, conn);
    socket.on('message', (data: Buffer, isBinary: boolean) => {
      conn.alive = true;
      // CRLF keep-alives (RFC 5626 section 3.5.1, sent by SIP.js over WebSocket too): a double
      // CRLF "ping" gets the single CRLF "pong" the client waits for; nothing goes to the parser.
      if (isOnlyCrlf(data)) {
        if (data.length === 4) socket.send(PONG, { binary: isBinary });
        return;
      }
      this.options.onMessage(data, remote);
    });
    socket.on('pong', () => {
      conn.alive = true;
    });
    socket.on('error', (err: Error & { code?: string }) => {
      // ws closes the connection after a protocol error; an oversize message is worth a count.
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
        this.options.onDropped(TransportErrorCode.MessageTooLarge, remote);
      }
    });
    socket.on('close', () => {
      this.byId.delete(id);
      if (this.byAddress.get(key) === conn) this.byAddress.delete(key);
    });
  }

  /** WebSocket keep-alive (Kamailio websocket `keepalive_mechanism` 1, ping): dead peers go. */
  private ping(): void {
    for (const conn of this.byId.values()) {
      if (!conn.alive) {
        conn.socket.terminate();
        continue;
      }
      conn.alive = false;
      conn.socket.ping();
    }
  }
}

/** Answers an upgrade this server will not take, then closes the socket. */
function refuse(socket: Duplex, status: number, reason: string, text: string): void {
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\n` +
      `Content-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
  );
}

/** `\r\n\r\n` and lone CRLFs (a message of nothing but line ends). */
function isOnlyCrlf(data: Buffer): boolean {
  for (const byte of data) if (byte !== 0x0d && byte !== 0x0a) return false;
  return true;
}
