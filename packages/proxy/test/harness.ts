// A small in-process world for proxy unit tests: a UAC and UASes built on the real transaction
// layer, the proxy core, an in-memory network and a manual clock. Nothing here imitates the proxy.
import type { SipResponse } from '@sipfleet/sip';
import { createResponse, newTag, parseMessage, SipRequest } from '@sipfleet/sip';
import { ManualClock, TransactionLayer } from '@sipfleet/transaction';
import type { ClientTransaction, ServerTransaction } from '@sipfleet/transaction';
import { InMemoryNetwork } from '@sipfleet/transport';
import type { InMemoryEndpoint, RemoteInfo, SipResolver } from '@sipfleet/transport';
import { pino } from 'pino';
import { ProxyCore } from '../src/index.js';
import type { ProxyObserver, ProxyOptions, RoutingHooks, UnmatchedMessages } from '../src/index.js';

export const PROXY = { address: '10.0.0.2', port: 5060 };
export const UAC = { address: '10.0.0.1', port: 5060 };
/** How a message from the UAC looks to the proxy, for tests that hand it a message directly. */
export const FROM_UAC: RemoteInfo = {
  protocol: 'udp',
  ...UAC,
  family: 'IPv4',
  local: { ...PROXY },
};

/** What a UAS does with each INVITE: [delayMs, status] steps. */
export type UasScript = [number, number][];

export class Uas {
  readonly endpoint: InMemoryEndpoint;
  readonly layer: TransactionLayer;
  readonly received: SipRequest[] = [];
  readonly cancels: SipRequest[] = [];
  script: UasScript = [
    [0, 180],
    [0, 200],
  ];
  private pending = new Map<ServerTransaction, unknown[]>();

  constructor(
    private readonly world: World,
    readonly address: string,
    readonly port = 5060,
  ) {
    this.endpoint = world.net.endpoint(address, port);
    this.layer = new TransactionLayer({
      sender: this.endpoint,
      clock: world.clock,
      trying: 'after200ms',
      user: {
        onRequest: (req, tx) => this.onRequest(req, tx),
        onCancel: (cancel, inviteTx) => {
          this.cancels.push(cancel);
          for (const h of this.pending.get(inviteTx) ?? []) world.clock.clearTimeout(h);
          if (inviteTx.finalStatus === undefined)
            inviteTx.respond(createResponse(inviteTx.request, 487));
        },
        onStrayResponse: () => undefined,
      },
    });
    this.endpoint.onMessage = (data, remote) => deliver(this.layer, data, remote);
  }

  get uri(): string {
    return `sip:${this.address}:${this.port}`;
  }

  private onRequest(req: SipRequest, tx: ServerTransaction | null): void {
    this.received.push(req);
    if (tx === null) return; // 2xx ACK
    if (req.method !== 'INVITE') {
      tx.respond(createResponse(req, 200));
      return;
    }
    const toTag = newTag();
    const handles: unknown[] = [];
    for (const [delay, status] of this.script) {
      handles.push(
        this.world.clock.setTimeout(() => {
          if (tx.finalStatus !== undefined) return;
          const res = createResponse(req, status, undefined, { toTag });
          if (status < 300) res.setHeader('Contact', `<${this.uri}>`);
          for (const rr of req.getHeaders('record-route')) res.appendHeader('Record-Route', rr);
          tx.respond(res);
        }, delay),
      );
    }
    this.pending.set(tx, handles);
  }
}

export class Uac {
  readonly endpoint: InMemoryEndpoint;
  readonly layer: TransactionLayer;
  readonly responses: SipResponse[] = [];
  readonly strays: SipResponse[] = [];
  timedOut = false;
  private cseq = 1;

  constructor(private readonly world: World) {
    this.endpoint = world.net.endpoint(UAC.address, UAC.port);
    this.layer = new TransactionLayer({
      sender: this.endpoint,
      clock: world.clock,
      user: {
        onRequest: () => undefined,
        onCancel: () => undefined,
        onStrayResponse: (res) => this.strays.push(res),
      },
    });
    this.endpoint.onMessage = (data, remote) => deliver(this.layer, data, remote);
  }

  request(
    method: string,
    ruri: string,
    extra: string[] = [],
    callId = `call-${Math.random().toString(36).slice(2)}`,
  ): SipRequest {
    return makeRequest(method, ruri, extra, { callId, cseq: this.cseq++ });
  }

  send(req: SipRequest): ClientTransaction {
    return this.layer.sendRequest(
      req,
      { protocol: 'udp', ...PROXY },
      {
        onResponse: (res) => this.responses.push(res),
        onTimeout: () => {
          this.timedOut = true;
        },
        onTransportError: () => {
          this.timedOut = true;
        },
      },
    );
  }

  statuses(): number[] {
    return this.responses.map((r) => r.status);
  }
}

/** A request as the UAC would send it (a fresh branch, From tag and Call-ID unless given). */
export function makeRequest(
  method: string,
  ruri: string,
  extra: string[] = [],
  opts: { callId?: string; cseq?: number } = {},
): SipRequest {
  const text =
    `${method} ${ruri} SIP/2.0\r\n` +
    `Via: SIP/2.0/UDP ${UAC.address}:${UAC.port};branch=z9hG4bK${Math.random().toString(36).slice(2)}\r\n` +
    `From: <sip:alice@example.com>;tag=${newTag()}\r\n` +
    `To: <sip:bob@example.com>\r\n` +
    `Call-ID: ${opts.callId ?? `call-${Math.random().toString(36).slice(2)}`}\r\n` +
    `CSeq: ${opts.cseq ?? 1} ${method}\r\n` +
    `Contact: <sip:alice@${UAC.address}:${UAC.port}>\r\n` +
    extra.map((h) => `${h}\r\n`).join('') +
    `Content-Length: 0\r\n\r\n`;
  return parseMessage(text) as SipRequest;
}

function deliver(layer: TransactionLayer, data: Buffer, remote: RemoteInfo): void {
  layer.receive(parseMessage(data), remote);
}

export class World {
  readonly net = new InMemoryNetwork();
  readonly clock = new ManualClock(0);
  readonly proxyEndpoint: InMemoryEndpoint;
  readonly proxy: ProxyCore;

  /** What the proxy reported through its observer, by method name. */
  readonly observed = new Map<string, unknown[][]>();

  constructor(
    hooks: RoutingHooks,
    options: Partial<ProxyOptions> = {},
    unmatched?: UnmatchedMessages,
    /** Next-hop resolution (a resolver on a test DNS server). @default the shared one */
    resolver?: SipResolver,
  ) {
    this.proxyEndpoint = this.net.endpoint(PROXY.address, PROXY.port);
    const record =
      (name: string) =>
      (...args: unknown[]): void => {
        const calls = this.observed.get(name) ?? [];
        calls.push(args);
        this.observed.set(name, calls);
      };
    const observer: Required<ProxyObserver> = {
      requestReceived: record('requestReceived'),
      responseSent: record('responseSent'),
      relayLatency: record('relayLatency'),
      hookError: record('hookError'),
      responseDropped: record('responseDropped'),
      dnsFailover: record('dnsFailover'),
    };
    this.proxy = new ProxyCore({
      sender: this.proxyEndpoint,
      hooks,
      options: { sentBy: { udp: this.proxyEndpoint.sentBy() }, ...options },
      log: pino({ level: 'silent' }),
      clock: this.clock,
      observer,
      ...(unmatched === undefined ? {} : { unmatched }),
      ...(resolver === undefined ? {} : { resolver }),
    });
    this.proxyEndpoint.onMessage = (data, remote) => {
      const msg = parseMessage(data);
      this.proxy.receive(msg, remote);
    };
  }

  /** Moves packets and lets promise callbacks (next-hop resolution, async hooks) run, repeatedly. */
  async settle(): Promise<void> {
    for (let i = 0; i < 20; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      this.clock.advance(0); // timers due now (a UAS answering at once)
      this.net.flush();
    }
  }

  /** Advances the manual clock in steps, settling between them. */
  async advance(ms: number, step = 100): Promise<void> {
    for (let t = 0; t < ms; t += step) {
      this.clock.advance(Math.min(step, ms - t));
      await this.settle();
    }
  }
}

export function isRequest(msg: SipRequest | SipResponse): msg is SipRequest {
  return msg instanceof SipRequest;
}

/**
 * The proxy's own endpoint and a transaction layer on it with a user that ignores everything: what
 * the parts below the core (forwarder, stateless relay) need to be tested alone.
 */
export function proxyLayer(): {
  net: InMemoryNetwork;
  clock: ManualClock;
  endpoint: InMemoryEndpoint;
  layer: TransactionLayer;
} {
  const net = new InMemoryNetwork();
  const clock = new ManualClock(0);
  const endpoint = net.endpoint(PROXY.address, PROXY.port);
  const layer = new TransactionLayer({
    sender: endpoint,
    clock,
    user: {
      onRequest: () => undefined,
      onCancel: () => undefined,
      onStrayResponse: () => undefined,
    },
  });
  return { net, clock, endpoint, layer };
}
