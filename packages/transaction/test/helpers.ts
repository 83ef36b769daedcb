// Test helpers: SIP message builders and a harness of real transaction layers wired through the transport
// package's InMemoryNetwork, on a ManualClock. Peers that must misbehave on purpose (retransmit, send RFC 2543
// requests, never answer) are raw in-memory endpoints sending hand-written messages.
import { parseMessage, SipRequest, SipResponse } from '@sipfleet/sip';
import { InMemoryNetwork } from '@sipfleet/transport';
import type {
  InMemoryEndpoint,
  RemoteInfo,
  SendTarget,
  TransportProtocol,
} from '@sipfleet/transport';
import { ManualClock, TransactionLayer } from '../src/index.js';
import type { TransactionLayerOptions } from '../src/index.js';
import type {
  ClientTransaction,
  ClientTransactionHandlers,
  ServerTransaction,
  TimerSettings,
  TransactionUser,
} from '../src/index.js';

export const PEER = { address: '10.0.0.1', port: 5060 };
export const LAYER = { address: '10.0.0.2', port: 5060 };

/** Small timers keep the arithmetic readable: T1 100, T2 400, T4 500, so 64*T1 = 6400. */
export const TIMERS: Partial<TimerSettings> = { T1: 100, T2: 400, T4: 500, timerD: 3200 };

export interface RequestSpec {
  method?: string;
  branch?: string;
  /** Via sent-by; defaults to the PEER endpoint. */
  sentBy?: string;
  transport?: TransportProtocol;
  uri?: string;
  callId?: string;
  cseq?: number;
  fromTag?: string;
  toTag?: string;
}

export function requestText(spec: RequestSpec = {}): string {
  const method = spec.method ?? 'INVITE';
  const cseqMethod = method === 'ACK' && spec.cseq === undefined ? 'ACK' : method;
  const transport = (spec.transport ?? 'udp').toUpperCase();
  const branch =
    spec.branch === undefined
      ? ';branch=z9hG4bKdefault'
      : spec.branch === ''
        ? ''
        : `;branch=${spec.branch}`;
  return [
    `${method} ${spec.uri ?? 'sip:bob@10.0.0.2'} SIP/2.0`,
    `Via: SIP/2.0/${transport} ${spec.sentBy ?? `${PEER.address}:${PEER.port}`}${branch}`,
    'Max-Forwards: 70',
    `From: <sip:alice@10.0.0.1>;tag=${spec.fromTag ?? 'ftag'}`,
    `To: <sip:bob@10.0.0.2>${spec.toTag !== undefined ? `;tag=${spec.toTag}` : ''}`,
    `Call-ID: ${spec.callId ?? 'call-1@10.0.0.1'}`,
    `CSeq: ${spec.cseq ?? 1} ${cseqMethod}`,
    'Contact: <sip:alice@10.0.0.1>',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

export function request(spec: RequestSpec = {}): SipRequest {
  const msg = parseMessage(requestText(spec));
  if (!(msg instanceof SipRequest)) throw new Error('not a request');
  return msg;
}

/** A response to `req` written by hand (so its bytes are under the test's control). */
export function responseText(req: SipRequest, status: number, toTag?: string): string {
  return [
    `SIP/2.0 ${status} Status ${status}`,
    ...req.getHeaders('via').map((v) => `Via: ${v}`),
    `From: ${req.getHeader('from')}`,
    `To: ${req.getHeader('to')}${toTag !== undefined ? `;tag=${toTag}` : ''}`,
    `Call-ID: ${req.callId}`,
    `CSeq: ${req.cseq.seq} ${req.cseq.method}`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

export function parse(data: Buffer): SipRequest | SipResponse {
  return parseMessage(data);
}

/** Describes a wire message briefly: "INVITE", "100", "ACK". */
export function brief(data: Buffer): string {
  const msg = parseMessage(data);
  return msg instanceof SipResponse ? String(msg.status) : msg.method;
}

/** What a TU saw, in order. */
export class RecordingUser implements TransactionUser {
  readonly requests: { req: SipRequest; tx: ServerTransaction | null; remote: RemoteInfo }[] = [];
  readonly cancels: { cancel: SipRequest; inviteTx: ServerTransaction }[] = [];
  readonly stray: SipResponse[] = [];
  /** Called on each new server transaction (to answer it). */
  answer: (req: SipRequest, tx: ServerTransaction) => void = () => undefined;
  onUnmatchedCancel?: TransactionUser['onUnmatchedCancel'];
  onUnmatchedAck?: TransactionUser['onUnmatchedAck'];

  onRequest(req: SipRequest, tx: ServerTransaction | null, remote: RemoteInfo): void {
    this.requests.push({ req, tx, remote });
    if (tx !== null) this.answer(req, tx);
  }
  onCancel(cancel: SipRequest, inviteTx: ServerTransaction): void {
    this.cancels.push({ cancel, inviteTx });
  }
  onStrayResponse(res: SipResponse): void {
    this.stray.push(res);
  }
}

/** What a client transaction reported, in order. */
export class RecordingHandlers implements ClientTransactionHandlers {
  readonly responses: number[] = [];
  timeouts = 0;
  readonly errors: Error[] = [];
  onResponse(res: SipResponse): void {
    this.responses.push(res.status);
  }
  onTimeout(): void {
    this.timeouts++;
  }
  onTransportError(_tx: ClientTransaction, err: Error): void {
    this.errors.push(err);
  }
}

/** A real TransactionLayer on one endpoint and a raw peer endpoint, on one in-memory network and clock. */
export class Harness {
  readonly clock = new ManualClock();
  readonly net = new InMemoryNetwork();
  readonly user = new RecordingUser();
  readonly endpoint: InMemoryEndpoint;
  readonly peer: InMemoryEndpoint;
  readonly layer: TransactionLayer;
  /** What reached the raw peer. */
  readonly peerInbox: Buffer[] = [];
  readonly retransmissions: ('request' | 'response')[] = [];

  constructor(
    opts: {
      trying?: 'immediate' | 'after200ms';
      admit?: TransactionLayerOptions['admit'];
      layerAt?: typeof LAYER;
      peerAt?: typeof PEER;
    } = {},
  ) {
    const at = opts.layerAt ?? LAYER;
    const peerAt = opts.peerAt ?? PEER;
    this.endpoint = this.net.endpoint(at.address, at.port);
    this.peer = this.net.endpoint(peerAt.address, peerAt.port);
    this.layer = new TransactionLayer({
      sender: this.endpoint,
      user: this.user,
      timers: TIMERS,
      clock: this.clock,
      ...(opts.trying !== undefined ? { trying: opts.trying } : {}),
      ...(opts.admit !== undefined ? { admit: opts.admit } : {}),
    });
    this.layer.onRetransmission = (kind) => this.retransmissions.push(kind);
    this.endpoint.onMessage = (data, remote) => this.layer.receive(parse(data), remote);
    this.peer.onMessage = (data) => this.peerInbox.push(data);
  }

  /** The raw peer sends `text` to the layer. */
  peerSends(text: string, protocol: TransportProtocol = 'udp'): void {
    this.peer.send(
      { protocol, address: this.endpoint.address, port: this.endpoint.port },
      Buffer.from(text, 'latin1'),
    );
    this.net.flush();
  }

  /** Moves time and delivers whatever the timers sent. */
  tick(ms: number): void {
    this.clock.advance(ms);
    this.net.flush();
  }

  /** Delivers what is queued, then returns the peer's inbox as brief strings, emptied. */
  takeInbox(): string[] {
    this.net.flush();
    return this.peerInbox.splice(0).map(brief);
  }

  /** What the layer sees as the raw peer's address. */
  peerRemote(protocol: TransportProtocol = 'udp'): RemoteInfo {
    return {
      protocol,
      address: this.peer.address,
      port: this.peer.port,
      family: 'IPv4',
      local: { address: this.endpoint.address, port: this.endpoint.port },
    };
  }

  peerTarget(protocol: TransportProtocol = 'udp'): SendTarget {
    return { protocol, address: this.peer.address, port: this.peer.port };
  }

  /** Sends `req` (Via already set by the spec) in a client transaction towards the raw peer. */
  send(
    req: SipRequest,
    protocol: TransportProtocol = 'udp',
  ): { tx: ClientTransaction; h: RecordingHandlers } {
    const h = new RecordingHandlers();
    const tx = this.layer.sendRequest(req, this.peerTarget(protocol), h);
    this.net.flush();
    return { tx, h };
  }

  close(): void {
    this.layer.close();
    this.endpoint.close();
    this.peer.close();
  }
}

/** Lets process.nextTick callbacks (the transport's asynchronous onError) run. */
export function nextTicks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
