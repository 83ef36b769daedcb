// The demo media server behind `sipfleet up --demo` (and `sipfleet demo-uas`): a UAS built only on
// @sipfleet/transport + @sipfleet/transaction + @sipfleet/sip, so a first run needs nothing but
// node and redis-server. It answers INVITE 180 then the final (200 with SDP by default) after an
// optional ring time, takes the 2xx ACK (a request with no transaction), answers BYE, OPTIONS and
// MESSAGE 200 (OPTIONS keeps the prober's keepalives green), and answers a ringing INVITE 487 when
// the transaction layer reports its CANCEL. It plays no media: the SDP only makes calls look real.
import { type SipRequest, createResponse, newTag } from '@sipfleet/sip';
import { type RemoteInfo, TransportLayer, type TransportProtocol } from '@sipfleet/transport';
import {
  SipEndpoint,
  type ServerTransaction,
  type TimerSettings,
  TransactionLayer,
  type TransactionUser,
} from '@sipfleet/transaction';

export interface DemoMediaServerOptions {
  /** Port for both UDP and TCP (0 is not allowed: both must share it). */
  port: number;
  /** @default '127.0.0.1' */
  address?: string;
  /** @default ['udp', 'tcp'] */
  protocols?: TransportProtocol[];
  /** Transaction timers; short T1/T4 make the tables drain quickly after a test. @default RFC 3261 */
  timers?: Partial<TimerSettings>;
  /** How long an INVITE rings (180 sent) before its final; a CANCEL within it gets 487. @default 0 */
  ringMs?: number;
  /**
   * Final status for an initial INVITE: 200 answers with SDP, 300-699 rejects (e.g. 486 to watch
   * the fleet fail over, 503 for MANAGE_FAILURE). A re-INVITE is always answered 200.
   * @default 200
   */
  answerCode?: number;
}

export interface DemoMediaServerCounters {
  invites: number;
  /** INVITEs answered 2xx. */
  answered: number;
  /** INVITEs answered with `answerCode` when it is not 2xx. */
  rejected: number;
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

const ALLOW = 'INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE';

/** Checks an answer code; the CLI reports the message as a usage error. */
export function checkAnswerCode(code: number): void {
  if (!Number.isInteger(code) || code < 200 || code > 699) {
    throw new RangeError(`answer code must be a final status 200-699 (got ${String(code)})`);
  }
}

function sdp(address: string): string {
  return [
    'v=0',
    `o=sipfleet-demo 1 1 IN IP4 ${address}`,
    's=-',
    `c=IN IP4 ${address}`,
    't=0 0',
    'm=audio 6000 RTP/AVP 0',
    'a=rtpmap:0 PCMU/8000',
    '',
  ].join('\r\n');
}

export class DemoMediaServer implements TransactionUser {
  readonly counters: DemoMediaServerCounters = {
    invites: 0,
    answered: 0,
    rejected: 0,
    cancelled: 0,
    acks: 0,
    byes: 0,
    options: 0,
    messages: 0,
    parseErrors: 0,
    dropped: 0,
  };
  readonly transactions: TransactionLayer;
  /** Ringing INVITEs: their To tag and the timer that will send their final. */
  private readonly ringing = new Map<
    ServerTransaction,
    { tag: string; timer: NodeJS.Timeout | undefined }
  >();
  private readonly answerCode: number;

  private constructor(
    readonly transport: TransportLayer,
    private readonly opts: DemoMediaServerOptions,
  ) {
    this.answerCode = opts.answerCode ?? 200;
    this.transactions = new TransactionLayer({
      sender: transport,
      user: this,
      timers: opts.timers,
    });
    const endpoint = new SipEndpoint({
      sender: transport,
      transactions: this.transactions,
      observer: { parseError: () => this.counters.parseErrors++ },
    });
    transport.onMessage = (data, remote) => endpoint.receive(data, remote);
    transport.onDropped = () => this.counters.dropped++;
  }

  /** Listens on `port` for every protocol in `protocols`; rejects when a socket cannot bind. */
  static async start(opts: DemoMediaServerOptions): Promise<DemoMediaServer> {
    checkAnswerCode(opts.answerCode ?? 200);
    const address = opts.address ?? '127.0.0.1';
    const protocols = opts.protocols ?? ['udp', 'tcp'];
    const transport = await TransportLayer.listen(
      protocols.map((protocol) => ({ protocol, address, port: opts.port })),
    );
    return new DemoMediaServer(transport, opts);
  }

  get port(): number {
    return this.opts.port;
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
          createResponse(req, 200, undefined, { toTag: newTag(), headers: [['Allow', ALLOW]] }),
        );
      case 'MESSAGE':
        this.counters.messages++;
        return tx.respond(createResponse(req, 200, undefined, { toTag: newTag() }));
      default:
        // RFC 3261 8.2.1: a method we do not support gets 405 with Allow.
        return tx.respond(
          createResponse(req, 405, undefined, { toTag: newTag(), headers: [['Allow', ALLOW]] }),
        );
    }
  }

  private onInvite(req: SipRequest, tx: ServerTransaction, remote: RemoteInfo): void {
    this.counters.invites++;
    const reInvite = req.to.tag !== undefined;
    const tag = req.to.tag ?? newTag(); // a re-INVITE keeps its dialog's tag
    const headers = this.dialogHeaders(req, remote);
    const code = reInvite ? 200 : this.answerCode;
    const final = (): void => {
      this.ringing.delete(tx);
      if (code >= 300) {
        this.counters.rejected++;
        tx.respond(createResponse(req, code, undefined, { toTag: tag }));
        return;
      }
      this.counters.answered++;
      tx.respond(
        createResponse(req, code, undefined, {
          toTag: tag,
          headers,
          body: sdp(remote.local.address),
          contentType: 'application/sdp',
        }),
      );
    };
    tx.respond(createResponse(req, 180, undefined, { toTag: tag, headers }));
    const ringMs = reInvite ? 0 : (this.opts.ringMs ?? 0);
    if (ringMs <= 0) return final();
    this.ringing.set(tx, { tag, timer: setTimeout(final, ringMs) });
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

  /** Stops ringing calls without answering them, ends every transaction and closes the sockets. */
  async close(): Promise<void> {
    for (const ring of this.ringing.values()) clearTimeout(ring.timer);
    this.ringing.clear();
    this.transactions.close();
    await this.transport.close();
  }
}
