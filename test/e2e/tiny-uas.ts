// A tiny UAS built only on @sipfleet/transport + @sipfleet/transaction (+ @sipfleet/sip): the
// foundation's acceptance target for real sipp traffic. It answers INVITE 180 then 200 (after an
// optional ring time), takes the 2xx ACK (a request with no transaction), answers BYE, OPTIONS and
// MESSAGE 200, and answers a ringing INVITE 487 when the layer reports its CANCEL.
import {
  SipParseError,
  SipRequest,
  type SipResponse,
  createResponse,
  newTag,
  parseMessage,
} from '@sipfleet/sip';
import {
  type RemoteInfo,
  TransportLayer,
  type TransportProtocol,
  applyReceived,
  responseTarget,
} from '@sipfleet/transport';
import {
  type ServerTransaction,
  type TimerSettings,
  TransactionLayer,
  type TransactionUser,
} from '@sipfleet/transaction';

export interface TinyUasOptions {
  /** Port for both UDP and TCP (0 is not allowed: both must share it; use freePort()). */
  port: number;
  /** @default '127.0.0.1' */
  address?: string;
  /** @default ['udp', 'tcp'] */
  protocols?: TransportProtocol[];
  /** Transaction timers; short T1/T4 make the tables drain quickly after a test. */
  timers?: Partial<TimerSettings>;
  /** How long an INVITE rings (180 sent) before the 200; a CANCEL within it gets 487. @default 0 */
  ringMs?: number;
}

export interface TinyUasCounters {
  invites: number;
  answered: number;
  cancelled: number;
  acks: number;
  byes: number;
  options: number;
  messages: number;
  /** Requests the parser rejected (answered with the parser's status when possible). */
  parseErrors: number;
  /** Transport-level drops (framing, oversize). */
  dropped: number;
}

const SDP = [
  'v=0',
  'o=tiny 1 1 IN IP4 127.0.0.1',
  's=-',
  'c=IN IP4 127.0.0.1',
  't=0 0',
  'm=audio 6000 RTP/AVP 0',
  'a=rtpmap:0 PCMU/8000',
  '',
].join('\r\n');

export class TinyUas implements TransactionUser {
  readonly counters: TinyUasCounters = {
    invites: 0,
    answered: 0,
    cancelled: 0,
    acks: 0,
    byes: 0,
    options: 0,
    messages: 0,
    parseErrors: 0,
    dropped: 0,
  };
  readonly transactions: TransactionLayer;
  /** Ringing INVITEs: their To tag and the timer that will answer them 200. */
  private readonly ringing = new Map<
    ServerTransaction,
    { tag: string; timer: NodeJS.Timeout | undefined }
  >();

  private constructor(
    readonly transport: TransportLayer,
    private readonly opts: TinyUasOptions,
  ) {
    this.transactions = new TransactionLayer({
      sender: transport,
      user: this,
      timers: opts.timers,
    });
    transport.onMessage = (data, remote) => this.onMessage(data, remote);
    transport.onDropped = () => this.counters.dropped++;
  }

  static async start(opts: TinyUasOptions): Promise<TinyUas> {
    const address = opts.address ?? '127.0.0.1';
    const protocols = opts.protocols ?? ['udp', 'tcp'];
    const transport = await TransportLayer.listen(
      protocols.map((protocol) => ({ protocol, address, port: opts.port })),
    );
    return new TinyUas(transport, opts);
  }

  get port(): number {
    return this.opts.port;
  }

  private onMessage(data: Buffer, remote: RemoteInfo): void {
    let msg: SipRequest | SipResponse;
    try {
      msg = parseMessage(data);
    } catch (err) {
      this.counters.parseErrors++;
      // RFC 3261 8.2 / 16.3: answer a broken request when it is readable enough; never an ACK.
      const req = err instanceof SipParseError ? err.request : undefined;
      const topVia = req?.topVia;
      if (req && topVia && req.method !== 'ACK') {
        applyReceived(req, remote);
        const status = err instanceof SipParseError ? err.status : 400;
        const res = createResponse(req, status, undefined, { toTag: newTag() });
        this.transport.send(responseTarget(topVia, remote), res.toBuffer());
      }
      return;
    }
    if (msg instanceof SipRequest) applyReceived(msg, remote);
    this.transactions.receive(msg, remote);
  }

  /** RFC 3261 12.1.1: 1xx/2xx that establish a dialog copy the Record-Route and carry our Contact. */
  private dialogHeaders(req: SipRequest, remote: RemoteInfo): [string, string][] {
    const headers: [string, string][] = req
      .getHeaders('record-route')
      .map((rr): [string, string] => ['Record-Route', rr]);
    const transport = remote.protocol === 'tcp' ? ';transport=tcp' : '';
    headers.push(['Contact', `<sip:${remote.local.address}:${remote.local.port}${transport}>`]);
    return headers;
  }

  onRequest(req: SipRequest, tx: ServerTransaction | null, remote: RemoteInfo): void {
    if (tx === null) {
      this.counters.acks++; // a 2xx ACK: end to end, no transaction (RFC 3261 17.1.1.3 vs 13.2.2.4)
      return;
    }
    switch (req.method) {
      case 'INVITE':
        return this.onInvite(req, tx, remote);
      case 'BYE':
        this.counters.byes++;
        return tx.respond(createResponse(req, 200));
      case 'OPTIONS':
        this.counters.options++;
        return tx.respond(
          createResponse(req, 200, undefined, {
            toTag: newTag(),
            headers: [['Allow', 'INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE']],
          }),
        );
      case 'MESSAGE':
        this.counters.messages++;
        return tx.respond(createResponse(req, 200, undefined, { toTag: newTag() }));
      default:
        // RFC 3261 8.2.1: a method we do not support gets 405 with Allow.
        return tx.respond(
          createResponse(req, 405, undefined, {
            toTag: newTag(),
            headers: [['Allow', 'INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE']],
          }),
        );
    }
  }

  private onInvite(req: SipRequest, tx: ServerTransaction, remote: RemoteInfo): void {
    this.counters.invites++;
    const tag = req.to.tag ?? newTag(); // a re-INVITE keeps its dialog's tag
    const headers = this.dialogHeaders(req, remote);
    const answer = (): void => {
      this.ringing.delete(tx);
      this.counters.answered++;
      tx.respond(
        createResponse(req, 200, undefined, {
          toTag: tag,
          headers,
          body: SDP,
          contentType: 'application/sdp',
        }),
      );
    };
    tx.respond(createResponse(req, 180, undefined, { toTag: tag, headers }));
    const ringMs = this.opts.ringMs ?? 0;
    if (ringMs <= 0) return answer();
    this.ringing.set(tx, { tag, timer: setTimeout(answer, ringMs) });
  }

  onCancel(_cancel: SipRequest, inviteTx: ServerTransaction): void {
    // RFC 3261 9.2: the layer answered the CANCEL 200; a UAS "SHOULD" then answer the INVITE 487.
    const ring = this.ringing.get(inviteTx);
    if (!ring) return; // already answered: the CANCEL has no effect
    clearTimeout(ring.timer);
    this.ringing.delete(inviteTx);
    this.counters.cancelled++;
    inviteTx.respond(createResponse(inviteTx.request, 487, undefined, { toTag: ring.tag }));
  }

  onStrayResponse(): void {
    // A UAS sends no requests: any response is stray and ignored.
  }

  async close(): Promise<void> {
    for (const ring of this.ringing.values()) clearTimeout(ring.timer);
    this.ringing.clear();
    this.transactions.close();
    await this.transport.close();
  }
}
