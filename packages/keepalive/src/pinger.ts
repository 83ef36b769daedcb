// Sends keepalive requests (OPTIONS by default) on the prober's own transport and transaction
// layers and reports one outcome per ping: a final reply with its RTT, a timeout (Timer F, i.e.
// 408) or a transport error (503, RFC 3261 section 8.1.3.1). Kamailio sends its pings through tm
// the same way (dispatch.c ds_ping_set -> tmb.t_request). A destination whose name has several
// targets (SRV, several addresses) is pinged at them in RFC 3263 order until one replies, as tm
// does with use_dns_failover: the destination is up when any of its targets answers.

import { randomBytes } from 'node:crypto';
import { createResponse, newBranch, newTag, parseUri, SipRequest } from '@sipfleet/sip';
import type { SipUri } from '@sipfleet/sip';
import { SipEndpoint, TransactionLayer } from '@sipfleet/transaction';
import type { ServerTransaction, TransactionUser } from '@sipfleet/transaction';
import { createResolver, parseSocketSpec, TransportLayer } from '@sipfleet/transport';
import type {
  RemoteInfo,
  SendTarget,
  SipResolver,
  TlsClientOptions,
  TransportProtocol,
} from '@sipfleet/transport';
import { SipfleetKeepaliveError } from './errors.js';

export interface PingerOptions {
  /** Address the UDP (and TCP) sockets bind. @default '0.0.0.0' */
  address?: string;
  /** Port of both sockets; 0 lets the kernel pick. @default 0 */
  port?: number;
  /** Host (and port) put in Via and Contact instead of the bound address (NAT). */
  advertise?: { host: string; port?: number };
  /** Also listen on TCP, for destinations with `transport=tcp` (and `tls`, which leave from it). @default true */
  tcp?: boolean;
  /**
   * How pings to `sips:` and `transport=tls` destinations are sent: the CA their certificates
   * must chain to, verification, a client certificate. They leave from the TCP listener's address
   * (no TLS listener: the answers come back on the connection, RFC 3261 section 18.2.2).
   * @default Node's CAs, verified
   */
  tls?: TlsClientOptions;
  /**
   * A ping without a final reply after this long is a failure (a timeout). Implemented as Timer F
   * by running the transaction layer with T1 = timeoutMs / 64, so retransmissions (Timer E) fit in
   * the window: deliberate departure from T1 = 500 ms, which would keep a ping alive 32 s.
   * @default 5000
   */
  timeoutMs?: number;
  /** @default 'OPTIONS' */
  method?: string;
  /**
   * DNS resolution of destination hosts (RFC 3263); closed with the pinger.
   * @default createResolver() sending UDP, and TCP and TLS unless `tcp` is false
   */
  resolver?: SipResolver;
  /** @default 'sipfleet-prober' */
  userAgent?: string;
  /**
   * More UDP sockets (`udp:address:port`, Kamailio's notation) that pings naming them leave from
   * (a destination's `ping_socket` / `socket` attribute). @default none
   */
  sockets?: readonly string[];
}

export type PingOutcome = 'reply' | 'timeout' | 'transport-error' | 'bad-uri';

export interface PingRequest {
  /** The destination URI: the Request-URI and, unless `obproxy` is given, where it is sent. */
  readonly uri: string;
  /** From URI (ds_ping_from, or the destination's `ping_from` attribute). */
  readonly from: string;
  /** Outbound proxy (the `obproxy` attribute): send there, Request-URI unchanged. */
  readonly obproxy?: string;
  /**
   * The UDP socket to leave from (`udp:address:port`), when the pinger has it
   * (`PingerOptions.sockets`); otherwise, and over TCP, the default socket.
   */
  readonly socket?: string;
}

export interface PingResult {
  readonly uri: string;
  readonly outcome: PingOutcome;
  /** The final status for 'reply'. */
  readonly status?: number;
  /** Time from sending to the final reply, ms ('reply' only). */
  readonly rttMs?: number;
  /** What went wrong, for logs ('transport-error', 'bad-uri'). */
  readonly error?: string;
}

/** Counters a service turns into metrics. */
export interface PingerObserver {
  onSent?(uri: string, protocol: TransportProtocol): void;
  onResult?(result: PingResult): void;
  /** A datagram or frame that did not parse as SIP (dropped). */
  onMalformed?(remote: RemoteInfo): void;
}

/**
 * One pinger per prober process: one UDP socket (plus a TCP listener) and a transaction layer
 * used only for pings. Incoming requests get 200 for OPTIONS (so peers pinging us back see us
 * alive) and 405 otherwise.
 */
export class Pinger {
  readonly transport: TransportLayer;
  readonly transactions: TransactionLayer;
  observer: PingerObserver = {};
  readonly #method: string;
  readonly #resolver: SipResolver;
  readonly #userAgent: string;
  readonly #callIdSuffix: string;
  #closed = false;
  #cseq = 1;
  /** Finishers of pings in flight, so close() can settle them. */
  readonly #pending = new Set<() => void>();

  private constructor(transport: TransportLayer, opts: PingerOptions) {
    const timeoutMs = opts.timeoutMs ?? 5000;
    this.transport = transport;
    this.#method = (opts.method ?? 'OPTIONS').toUpperCase();
    this.#resolver =
      opts.resolver ??
      createResolver({ protocols: opts.tcp === false ? ['udp'] : ['udp', 'tcp', 'tls'] });
    this.#userAgent = opts.userAgent ?? 'sipfleet-prober';
    this.#callIdSuffix = randomBytes(4).toString('hex');
    const T1 = timeoutMs / 64;
    const user: TransactionUser = {
      onRequest: (req, tx) => answer(req, tx),
      onCancel: () => undefined,
      onStrayResponse: () => undefined,
    };
    this.transactions = new TransactionLayer({
      sender: transport,
      user,
      // Timer F = 64*T1 = timeoutMs; T2 and T4 may not be below T1.
      timers: {
        T1,
        T2: Math.max(T1, Math.min(4000, timeoutMs / 2)),
        T4: Math.max(T1, Math.min(5000, timeoutMs)),
      },
    });
    const endpoint = new SipEndpoint({
      sender: transport,
      transactions: this.transactions,
      observer: { parseError: (_action, _err, remote) => this.observer.onMalformed?.(remote) },
    });
    transport.onMessage = (data, remote) => endpoint.receive(data, remote);
  }

  static async start(opts: PingerOptions = {}): Promise<Pinger> {
    const address = opts.address ?? '0.0.0.0';
    const port = opts.port ?? 0;
    const advertise = opts.advertise;
    const specs = [
      { protocol: 'udp' as const, address, port, ...(advertise ? { advertise } : {}) },
      ...(opts.tcp === false
        ? []
        : [{ protocol: 'tcp' as const, address, port, ...(advertise ? { advertise } : {}) }]),
    ];
    for (const text of opts.sockets ?? []) {
      const socket = parseSocketSpec(text);
      if (socket?.protocol !== 'udp') {
        throw new SipfleetKeepaliveError(
          'SIPFLEET_ERR_KEEPALIVE_SETTINGS',
          `pinger socket ${JSON.stringify(text)} is not 'udp:address:port'`,
        );
      }
      specs.push({ protocol: 'udp', address: socket.address, port: socket.port });
    }
    const transport = await TransportLayer.listen(specs, {
      tcpIdleTimeoutMs: 120_000,
      ...(opts.tls === undefined ? {} : { tlsClient: opts.tls }),
    });
    return new Pinger(transport, opts);
  }

  /** The bound UDP port (tests, logs). */
  get udpPort(): number {
    const socket = this.transport.sockets.find((s) => s.protocol === 'udp');
    return socket?.port ?? 0;
  }

  /** Live ping transactions. */
  get inFlight(): number {
    return this.transactions.counts.client;
  }

  /** Sends one ping; never rejects (every failure is an outcome). */
  async ping(req: PingRequest): Promise<PingResult> {
    const result = await this.#ping(req);
    this.observer.onResult?.(result);
    return result;
  }

  async #ping(req: PingRequest): Promise<PingResult> {
    if (this.#closed) {
      throw new SipfleetKeepaliveError('SIPFLEET_ERR_KEEPALIVE_CLOSED', 'pinger is closed');
    }
    let targets: SendTarget[];
    try {
      const dest = parsePingUri(req.uri);
      targets = await this.#resolver.targets(req.obproxy ? parsePingUri(req.obproxy) : dest);
    } catch (err) {
      return { uri: req.uri, outcome: 'bad-uri', error: errorText(err) };
    }
    let result: PingResult = { uri: req.uri, outcome: 'bad-uri', error: 'no target' };
    for (const resolved of targets) {
      let request: SipRequest;
      let target = resolved;
      try {
        const from = target.protocol === 'udp' ? this.#socket(req.socket) : undefined;
        if (from !== undefined) target = { ...target, local: from };
        request = this.#build(req, target.protocol, from?.sentBy);
      } catch (err) {
        return { uri: req.uri, outcome: 'bad-uri', error: errorText(err) };
      }
      result = await this.#pingTarget(req, target, request);
      if (result.outcome === 'reply' || this.#closed) break;
    }
    return result;
  }

  /** One ping transaction to one target. */
  #pingTarget(req: PingRequest, target: SendTarget, request: SipRequest): Promise<PingResult> {
    if (this.#closed) {
      return Promise.resolve({ uri: req.uri, outcome: 'transport-error', error: 'closed' });
    }
    return new Promise<PingResult>((resolve) => {
      const started = performance.now();
      let done = false;
      const finish = (r: PingResult): void => {
        if (done) return;
        done = true;
        this.#pending.delete(abort);
        resolve(r);
      };
      const abort = (): void =>
        finish({ uri: req.uri, outcome: 'transport-error', error: 'pinger closed' });
      this.#pending.add(abort);
      try {
        this.transactions.sendRequest(request, target, {
          onResponse: (res) => {
            if (res.status < 200) return;
            finish({
              uri: req.uri,
              outcome: 'reply',
              status: res.status,
              rttMs: performance.now() - started,
            });
          },
          onTimeout: () => finish({ uri: req.uri, outcome: 'timeout' }),
          onTransportError: (_tx, err) =>
            finish({ uri: req.uri, outcome: 'transport-error', error: errorText(err) }),
        });
        this.observer.onSent?.(req.uri, target.protocol);
      } catch (err) {
        finish({ uri: req.uri, outcome: 'transport-error', error: errorText(err) });
      }
    });
  }

  /** The bound UDP socket `spec` names (with its sent-by), or undefined. */
  #socket(spec: string | undefined) {
    const wanted = spec === undefined ? undefined : parseSocketSpec(spec);
    if (wanted?.protocol !== 'udp') return undefined;
    return this.transport.sockets.find(
      (s) => s.protocol === 'udp' && s.address === wanted.address && s.port === wanted.port,
    );
  }

  #build(
    req: PingRequest,
    protocol: TransportProtocol,
    from?: { host: string; port: number },
  ): SipRequest {
    // TLS pings leave from the TCP listener (see PingerOptions.tls): its address is our sent-by.
    const sentBy = from ?? this.transport.sentBy(protocol === 'tls' ? 'tcp' : protocol);
    const host = sentBy.port === undefined ? sentBy.host : `${sentBy.host}:${sentBy.port}`;
    const r = new SipRequest(this.#method, req.uri);
    r.appendHeader('Via', `SIP/2.0/${protocol.toUpperCase()} ${host};branch=${newBranch()};rport`);
    r.appendHeader('Max-Forwards', '70');
    r.appendHeader('From', `<${req.from}>;tag=${newTag()}`);
    r.appendHeader('To', `<${req.uri}>`);
    r.appendHeader('Call-ID', `${newTag()}-${this.#callIdSuffix}@${sentBy.host}`);
    r.appendHeader('CSeq', `${this.#cseq} ${this.#method}`);
    this.#cseq = this.#cseq >= 2 ** 31 - 1 ? 1 : this.#cseq + 1;
    r.appendHeader('User-Agent', this.#userAgent);
    r.appendHeader('Content-Length', '0');
    return r;
  }

  /** Stops every ping (those in flight resolve as 'transport-error', closed) and closes the sockets. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.transactions.close();
    for (const abort of [...this.#pending]) abort();
    this.#resolver.close();
    await this.transport.close();
  }
}

function answer(req: SipRequest, tx: ServerTransaction | null): void {
  if (tx === null) return; // ACK
  if (req.method === 'OPTIONS')
    tx.respond(createResponse(req, 200, undefined, { toTag: newTag() }));
  else
    tx.respond(
      createResponse(req, 405, undefined, { toTag: newTag(), headers: [['Allow', 'OPTIONS']] }),
    );
}

/**
 * A destination URI we can ping: sip: only (no TLS transport here), with a host.
 * @throws SipfleetKeepaliveError SIPFLEET_ERR_KEEPALIVE_BAD_URI
 */
export function parsePingUri(uri: string): SipUri {
  let parsed: SipUri;
  try {
    parsed = parseUri(uri);
  } catch (err) {
    throw new SipfleetKeepaliveError(
      'SIPFLEET_ERR_KEEPALIVE_BAD_URI',
      `cannot ping ${uri}: ${errorText(err)}`,
      {
        cause: err,
      },
    );
  }
  if ((parsed.scheme !== 'sip' && parsed.scheme !== 'sips') || parsed.host === '') {
    throw new SipfleetKeepaliveError(
      'SIPFLEET_ERR_KEEPALIVE_BAD_URI',
      `cannot ping ${uri}: only sip: and sips: URIs with a host`,
    );
  }
  return parsed;
}

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}
