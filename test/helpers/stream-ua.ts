// A bare SIP user agent over one TCP or TLS connection (node:net / node:tls), for tests where sipp
// cannot be the peer: TLS (sipp is built without it here), a callee that must send its in-dialog
// requests over a connection of its own, a caller whose Contact nothing listens on. Messages are
// cut with the project's StreamFramer and parsed with its parser; the test writes the SIP text.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { createResponse, parseMessage, SipRequest, SipResponse } from '@sipfleet/sip';
import { StreamFramer } from '@sipfleet/transport';
import type { CleanupOwner } from './processes.js';

export type SipMessage = SipRequest | SipResponse;

/**
 * One connection: what it received, in order, and a way to wait for a message. Any byte stream
 * will do: a TCP or TLS socket, or a WebSocket through `ws`'s createWebSocketStream (each write a
 * WebSocket message, the messages framed by Content-Length as on TCP).
 */
export class StreamConnection {
  private readonly messages: SipMessage[] = [];
  private read = 0;
  private wake: (() => void) | undefined;
  /** Resolves when the socket closed (either side). */
  readonly closed: Promise<void>;

  constructor(readonly socket: Duplex & { localPort?: number }) {
    const framer = new StreamFramer(65_535, {
      message: (frame) => {
        this.messages.push(parseMessage(frame));
        this.wake?.();
      },
      ping: () => socket.write('\r\n'),
    });
    socket.on('data', (chunk: Buffer) => framer.push(chunk));
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.wake?.();
        resolve();
      }),
    );
  }

  /** The local port (a caller's Via and Contact); 0 on a WebSocket stream (it does not say). */
  get localPort(): number {
    return this.socket.localPort ?? 0;
  }

  send(text: string): void {
    this.socket.write(text, 'latin1');
  }

  /**
   * The next message not read yet that `match` accepts (the ones skipped stay skipped). Rejects
   * after `timeoutMs` (a bound for a broken test, not a timing assertion) or when the socket closes.
   */
  async next(
    match: (m: SipMessage) => boolean,
    what: string,
    timeoutMs = 10_000,
  ): Promise<SipMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.read < this.messages.length) {
        const m = this.messages[this.read++] as SipMessage;
        if (match(m)) return m;
      }
      if (this.socket.destroyed) throw new Error(`connection closed while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  request(method: string, what = method): Promise<SipRequest> {
    return this.next(
      (m) => m instanceof SipRequest && m.method === method,
      what,
    ) as Promise<SipRequest>;
  }

  /** The first final response (>= 200) to a request with `cseqMethod` (in call `callId` if given). */
  final(cseqMethod: string, callId?: string): Promise<SipResponse> {
    return this.next(
      (m) =>
        m instanceof SipResponse &&
        m.status >= 200 &&
        m.cseq.method === cseqMethod &&
        (callId === undefined || m.callId === callId),
      `final response to ${cseqMethod}`,
    ) as Promise<SipResponse>;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Connects to 127.0.0.1:`port`, over TLS when `tlsOptions` is given; rejects on a failed handshake. */
export async function connectStream(
  owner: CleanupOwner,
  port: number,
  tlsOptions?: tls.ConnectionOptions,
): Promise<StreamConnection> {
  const socket =
    tlsOptions === undefined
      ? net.connect({ host: '127.0.0.1', port })
      : tls.connect({ host: '127.0.0.1', port, ...tlsOptions });
  owner.after(() => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    socket.once(tlsOptions === undefined ? 'connect' : 'secureConnect', () => resolve());
    socket.once('error', reject);
  });
  // TLS 1.3: a server's refusal of our certificate arrives as an alert after 'secureConnect',
  // so a refused connection shows up as closed on the first wait for a message.
  return new StreamConnection(socket);
}

/** A listening UA on 127.0.0.1 (TCP, or TLS with `tlsOptions`); every accepted connection is kept. */
export class StreamListener {
  readonly connections: StreamConnection[] = [];
  private wake: (() => void) | undefined;

  private constructor(private readonly server: net.Server) {}

  static async listen(owner: CleanupOwner, tlsOptions?: tls.TlsOptions): Promise<StreamListener> {
    const server = tlsOptions === undefined ? net.createServer() : tls.createServer(tlsOptions);
    const listener = new StreamListener(server);
    server.on(
      tlsOptions === undefined ? 'connection' : 'secureConnection',
      (socket: net.Socket) => {
        listener.connections.push(new StreamConnection(socket));
        listener.wake?.();
      },
    );
    owner.after(() => listener.close());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return listener;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** The `index`th accepted connection, once there is one. */
  async connection(index = 0, timeoutMs = 10_000): Promise<StreamConnection> {
    const deadline = Date.now() + timeoutMs;
    while (this.connections.length <= index) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no connection #${index} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return this.connections[index] as StreamConnection;
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.close();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** An INVITE as a caller over a stream sends it, with the parts later requests of the call reuse. */
export interface SentInvite {
  text: string;
  callId: string;
  fromTag: string;
  from: string;
  ruri: string;
  transport: 'tcp' | 'tls' | 'ws' | 'wss';
}

export function invite(opts: {
  ruri: string;
  transport: 'tcp' | 'tls' | 'ws' | 'wss';
  localPort: number;
  contact: string;
}): SentInvite {
  const id = randomBytes(6).toString('hex');
  const from = `<sip:alice@127.0.0.1>;tag=${id}`;
  const via = `SIP/2.0/${opts.transport.toUpperCase()} 127.0.0.1:${opts.localPort};branch=z9hG4bK${id};rport`;
  const text =
    `INVITE ${opts.ruri} SIP/2.0\r\nVia: ${via}\r\nFrom: ${from}\r\nTo: <${opts.ruri}>\r\n` +
    `Call-ID: stream-${id}\r\nCSeq: 1 INVITE\r\nContact: ${opts.contact}\r\nMax-Forwards: 70\r\n` +
    `Content-Length: 0\r\n\r\n`;
  return {
    text,
    callId: `stream-${id}`,
    fromTag: id,
    from,
    ruri: opts.ruri,
    transport: opts.transport,
  };
}

/** A caller's in-dialog request (ACK, BYE) after `ok`: to its Contact, through `routes`. */
export function inDialog(
  inv: SentInvite,
  ok: SipResponse,
  method: string,
  cseq: number,
  routes: string[],
  localPort: number,
): string {
  const target = /<([^>]+)>/.exec(ok.getHeader('contact') ?? '')?.[1] ?? inv.ruri;
  const branch = `z9hG4bK${randomBytes(6).toString('hex')}`;
  return (
    `${method} ${target} SIP/2.0\r\n` +
    `Via: SIP/2.0/${inv.transport.toUpperCase()} 127.0.0.1:${localPort};branch=${branch};rport\r\n` +
    routes.map((r) => `Route: ${r}\r\n`).join('') +
    `From: ${inv.from}\r\nTo: ${ok.getHeader('to') ?? ''}\r\nCall-ID: ${inv.callId}\r\n` +
    `CSeq: ${cseq} ${method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`
  );
}

/** A callee's final answer to `req`, echoing its Record-Route (RFC 3261 12.1.1). */
export function answer(req: SipRequest, status: number, contact: string): SipResponse {
  const res = createResponse(req, status, undefined, { headers: [['Contact', contact]] });
  for (const rr of req.getHeaders('record-route')) res.appendHeader('Record-Route', rr);
  return res;
}

/** The callee's BYE for the dialog `inv` + `ok` made, through its route set `rr` (RFC 3261 12.2.1.1). */
export function byeFromCallee(
  inv: SipRequest,
  ok: SipResponse,
  rr: string[],
  localPort: number,
  transport: 'tcp' | 'tls' = 'tcp',
): string {
  const target = /<([^>]+)>/.exec(inv.getHeader('contact') ?? '')?.[1] ?? '';
  const branch = `z9hG4bK${randomBytes(6).toString('hex')}`;
  return (
    `BYE ${target} SIP/2.0\r\n` +
    `Via: SIP/2.0/${transport.toUpperCase()} 127.0.0.1:${localPort};branch=${branch};rport\r\n` +
    rr.map((r) => `Route: ${r}\r\n`).join('') +
    `From: ${ok.getHeader('to') ?? ''}\r\nTo: ${inv.getHeader('from') ?? ''}\r\n` +
    `Call-ID: ${inv.callId}\r\nCSeq: 1 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`
  );
}

/**
 * A call from `conn` (a caller over TCP or TLS whose Contact port has no listener) that the
 * callee ends (sipp's uas-call-bye.xml): resolves with the 200's Record-Route values once the
 * callee's BYE arrived over `conn` and was answered, which only a proxy reusing `conn` achieves.
 */
export async function callEndedByCallee(
  conn: StreamConnection,
  edgePort: number,
  transport: 'tcp' | 'tls',
  deadPort: number,
): Promise<{ status: number; recordRoute: string[] }> {
  const inv = invite({
    ruri: `sip:bob@127.0.0.1:${edgePort}`,
    transport,
    localPort: conn.localPort,
    contact: `<sip:alice@127.0.0.1:${deadPort};transport=${transport}>`,
  });
  conn.send(inv.text);
  const ok = await conn.final('INVITE');
  const recordRoute = ok.getHeaders('record-route');
  if (ok.status !== 200) return { status: ok.status, recordRoute };
  conn.send(inDialog(inv, ok, 'ACK', 1, [...recordRoute].reverse(), conn.localPort));
  const bye = await conn.request('BYE', 'the callee BYE over our connection');
  conn.send(createResponse(bye, 200).toString());
  return { status: ok.status, recordRoute };
}
