import {
  DEFAULT_PARSE_LIMITS,
  defaultReason,
  newTag,
  parseMessage,
  SipParseError,
  SipRequest,
  SipResponse,
} from '@sipfleet/sip';
import type { ParseOptions } from '@sipfleet/sip';
import { applyReceived, responseTarget } from '@sipfleet/transport';
import type { MessageSender, RemoteInfo, SendTarget } from '@sipfleet/transport';
import type { TransactionLayer } from './transaction-layer.js';

/** What the endpoint reports, for metrics. Every method is optional. */
export interface SipEndpointObserver {
  /**
   * A message that did not parse (or whose Request-URI scheme is unknown): `'answered'` when a stateless
   * error response went back, `'dropped'` otherwise (responses, ACKs, garbage, faults a later step found).
   */
  parseError?(action: 'answered' | 'dropped', err: unknown, remote: RemoteInfo): void;
  /**
   * A response the receive path made itself: `stateless`, the endpoint's answers to requests it cannot
   * hand on; `transaction`, the layer's own ({@link TransactionLayer.onResponseSent}: 100 Trying, 200 or
   * 481 to a CANCEL). The transaction user's responses are not seen here.
   */
  responseSent?(status: number, origin: 'stateless' | 'transaction'): void;
  /** A retransmission the transaction layer sent ({@link TransactionLayer.onRetransmission}). */
  retransmission?(kind: 'request' | 'response'): void;
  /** Handling a message threw something other than a parse error: a bug, never the peer's doing. */
  processingFailed?(err: unknown, remote: RemoteInfo): void;
}

export interface SipEndpointOptions {
  /** Where stateless answers go out (the transport the bytes came from). */
  sender: MessageSender;
  /** The layer parsed messages are handed to; its retransmissions are reported to the observer. */
  transactions: TransactionLayer;
  observer?: SipEndpointObserver;
  /**
   * Limits on what a peer controls (header count and line length, Request-URI length, Via depth, body
   * size). The frame size itself is the transport's `maxMessageBytes`.
   * @default DEFAULT_PARSE_LIMITS
   */
  limits?: ParseOptions;
}

/**
 * The receive path of every SIP element: bytes and the address they came from in, then parse, `received`
 * / `rport` (RFC 3261 section 18.2.1, RFC 3581 section 4), stateless answers to requests that cannot be
 * processed, and the hand-off to the transaction layer. Nothing a peer sends throws past `receive`.
 */
export class SipEndpoint {
  readonly #sender: MessageSender;
  readonly #layer: TransactionLayer;
  readonly #observer: SipEndpointObserver;
  readonly #limits: ParseOptions;

  constructor(opts: SipEndpointOptions) {
    this.#sender = opts.sender;
    this.#layer = opts.transactions;
    this.#observer = opts.observer ?? {};
    this.#limits = opts.limits ?? DEFAULT_PARSE_LIMITS;
    const observer = this.#observer;
    if (observer.retransmission !== undefined) {
      this.#layer.onRetransmission = (kind) => observer.retransmission?.(kind);
    }
    if (observer.responseSent !== undefined) {
      this.#layer.onResponseSent = (status) => observer.responseSent?.(status, 'transaction');
    }
  }

  /** Live transactions of the layer behind this endpoint. */
  get counts(): { server: number; client: number } {
    return this.#layer.counts;
  }

  /** Closes the transaction layer: timers stop, later messages are ignored. */
  close(): void {
    this.#layer.close();
  }

  /** One datagram or one framed stream message from `remote`. */
  receive(data: Buffer, remote: RemoteInfo): void {
    let msg: SipRequest | SipResponse;
    try {
      msg = parseMessage(data, this.#limits);
    } catch (err) {
      this.#malformed(err, remote);
      return;
    }
    try {
      if (msg instanceof SipRequest) {
        applyReceived(msg, remote);
        if (this.#unsupportedScheme(msg, remote)) return;
      }
      this.#layer.receive(msg, remote);
    } catch (err) {
      // A header that only fails when a later step parses it lazily ends up here: the request may
      // already have a transaction, so it is not answered statelessly.
      if (err instanceof SipParseError) this.#observer.parseError?.('dropped', err, remote);
      else this.#observer.processingFailed?.(err, remote);
    }
  }

  /**
   * RFC 3261 section 8.2.2.1 (a UAS) and 16.3 step 1 (a proxy): a Request-URI scheme the element does not
   * understand is answered 416. The request itself is sound, so its Via is trusted for the answer.
   */
  #unsupportedScheme(req: SipRequest, remote: RemoteInfo): boolean {
    if (req.method === 'ACK') return false;
    try {
      void req.parsedUri;
      return false;
    } catch (err) {
      // A malformed sip/sips/tel URI is the transaction user's to refuse (400 Bad Request-URI).
      if (!(err instanceof SipParseError) || err.status !== 416) return false;
      const via = req.topVia as NonNullable<SipRequest['topVia']>;
      this.#answer(req, 416, undefined, responseTarget(via, remote));
      this.#observer.parseError?.('answered', err, remote);
      return true;
    }
  }

  /**
   * A request that did not parse is answered with the parser's status, except an ACK (never answered,
   * RFC 3261 section 17.1.1.3). Its Via cannot be trusted (the fault may be there, and a forged one would
   * aim our answer at a third party), so the answer goes back where the bytes came from: the source address
   * and port on UDP, the same connection on TCP (RFC 3261 section 18.2.1, 18.2.2). Anything else is
   * dropped.
   */
  #malformed(err: unknown, remote: RemoteInfo): void {
    const req = err instanceof SipParseError ? err.request : undefined;
    if (req === undefined || req.method === 'ACK') {
      this.#observer.parseError?.('dropped', err, remote);
      return;
    }
    const parseErr = err as SipParseError;
    const source: SendTarget =
      remote.connectionId === undefined
        ? { protocol: remote.protocol, address: remote.address, port: remote.port }
        : {
            protocol: remote.protocol,
            address: remote.address,
            port: remote.port,
            connectionId: remote.connectionId,
          };
    this.#answer(
      req,
      parseErr.status,
      parseErr.message.slice(0, 100).replace(/[\r\n]/g, ' '),
      source,
    );
    this.#observer.parseError?.('answered', err, remote);
  }

  #answer(req: SipRequest, status: number, reason: string | undefined, target: SendTarget): void {
    this.#sender.send(target, statelessResponse(req, status, reason).toBuffer());
    this.#observer.responseSent?.(status, 'stateless');
  }
}

/**
 * RFC 3261 section 8.2.6: the response copies Via, From, Call-ID and CSeq and To, and To gets a tag
 * (8.2.6.2) when it has none. A request refused by the parser may have any of them unreadable (missing,
 * repeated, malformed): those are left out, the readable ones copied as received.
 */
function statelessResponse(
  req: SipRequest,
  status: number,
  reason: string | undefined,
): SipResponse {
  const res = new SipResponse(status, reason ?? defaultReason(status));
  if (readable(() => req.vias.length > 0)) {
    for (const via of req.getHeaders('via')) res.appendHeader('Via', via);
  }
  if (readable(() => req.from)) res.appendHeader('From', req.getHeader('from') ?? '');
  const to = readable(() => req.to);
  if (to !== undefined) {
    const raw = req.getHeader('to') ?? '';
    res.appendHeader('To', to.tag === undefined ? `${raw};tag=${newTag()}` : raw);
  }
  if (readable(() => req.callId)) res.appendHeader('Call-ID', req.getHeader('call-id') ?? '');
  if (readable(() => req.cseq)) res.appendHeader('CSeq', req.getHeader('cseq') ?? '');
  return res;
}

/** The getter's value, or undefined when the header it reads is missing, repeated or malformed. */
function readable<T>(read: () => T): T | undefined {
  try {
    return read() || undefined;
  } catch {
    return undefined;
  }
}
