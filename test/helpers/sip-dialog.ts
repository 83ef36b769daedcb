// A minimal UAC for cross-edge tests: INVITE through one edge, then ACK and BYE through any
// other edge, following the dialog's route set (RFC 3261 12.1.2, 12.2.1.1). sipp always sends a
// call's messages to one address, which is exactly what these tests must not do.
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';

export interface Dialog {
  callId: string;
  status: number;
  /** Route set for in-dialog requests: the 2xx's Record-Route values, reversed. */
  routes: string[];
  remoteTarget: string;
  fromTag: string;
  toTag: string;
  cseq: number;
}

/** An INVITE that rang (180) and has no final response yet: what `cancel()` needs. */
export interface Ringing {
  readonly edgePort: number;
  readonly user: string;
  /** The INVITE's Request-URI (and its CANCEL's). */
  readonly requestUri: string;
  readonly branch: string;
  readonly callId: string;
  readonly fromTag: string;
}

export class DialogClient {
  private constructor(
    private readonly socket: Socket,
    readonly port: number,
  ) {}

  static async open(): Promise<DialogClient> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    // One 'message' listener per exchange in flight (transact), and callers run many at once.
    socket.setMaxListeners(0);
    return new DialogClient(socket, socket.address().port);
  }

  close(): void {
    this.socket.close();
  }

  /**
   * Sends a request and resolves with the text of the first response to it (its branch and CSeq
   * method) whose status is at least `atStatus` (a final one by default). With `retransmitMs` the
   * request is sent again at that interval until then (a plain Timer E).
   */
  private transact(
    text: string,
    edgePort: number,
    branch: string,
    opts: { timeoutMs?: number; atStatus?: number; retransmitMs?: number } = {},
  ): Promise<string> {
    const method = text.slice(0, text.indexOf(' '));
    return new Promise((resolve, reject) => {
      const send = () => this.socket.send(text, edgePort, '127.0.0.1');
      const again =
        opts.retransmitMs === undefined ? undefined : setInterval(send, opts.retransmitMs);
      const done = () => {
        clearTimeout(timer);
        clearInterval(again);
        this.socket.off('message', onMessage);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no response to ${method} from :${edgePort}`));
      }, opts.timeoutMs ?? 5000);
      const onMessage = (data: Buffer) => {
        const msg = data.toString('latin1');
        if (!msg.includes(`branch=${branch}`)) return;
        if (/^CSeq:\s*\d+\s+(\S+)/im.exec(msg)?.[1] !== method) return;
        const status = Number(/^SIP\/2\.0 (\d{3})/.exec(msg)?.[1] ?? 0);
        if (status < (opts.atStatus ?? 200)) return;
        done();
        resolve(msg);
      };
      this.socket.on('message', onMessage);
      send();
    });
  }

  private newInvite(
    edgePort: number,
    user: string,
    requestUri = `sip:${user}@127.0.0.1:${edgePort}`,
  ): Ringing {
    const id = randomBytes(6).toString('hex');
    return {
      edgePort,
      user,
      requestUri,
      branch: `z9hG4bK${id}`,
      callId: `dlg-${id}`,
      fromTag: id,
    };
  }

  /** An initial request of `invite`'s transaction: the INVITE itself, or its CANCEL. */
  private initial(method: string, invite: Ringing): string {
    return (
      `${method} ${invite.requestUri} SIP/2.0\r\n${this.via(invite.branch)}\r\n` +
      `From: <sip:alice@127.0.0.1>;tag=${invite.fromTag}\r\nTo: <sip:${invite.user}@127.0.0.1>\r\n` +
      `Call-ID: ${invite.callId}\r\nCSeq: 1 ${method}\r\nContact: <sip:alice@127.0.0.1:${this.port}>\r\n` +
      `Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n`
    );
  }

  /** INVITE via `edgePort`; resolves once it rings (180), for a `cancel()` later. */
  async ringing(edgePort: number, user = 'bob'): Promise<Ringing> {
    const invite = this.newInvite(edgePort, user);
    await this.transact(this.initial('INVITE', invite), edgePort, invite.branch, {
      atStatus: 180,
    });
    return invite;
  }

  /**
   * CANCEL of a ringing INVITE (RFC 3261 9.1: its branch, R-URI, Call-ID, From, To and CSeq
   * number) via `edgePort`, sent again every 500 ms until a final response; resolves with its
   * status.
   */
  async cancel(invite: Ringing, edgePort: number, timeoutMs = 20_000): Promise<number> {
    const res = await this.transact(this.initial('CANCEL', invite), edgePort, invite.branch, {
      timeoutMs,
      retransmitMs: 500,
    });
    return Number(/^SIP\/2\.0 (\d{3})/.exec(res)?.[1]);
  }

  private via(branch: string): string {
    return `Via: SIP/2.0/UDP 127.0.0.1:${this.port};branch=${branch};rport`;
  }

  /**
   * INVITE via `edgePort`; resolves once a final response arrives (a 2xx is not ACKed yet).
   * @param requestUri @default `sip:<user>@127.0.0.1:<edgePort>`
   */
  async invite(edgePort: number, user = 'bob', requestUri?: string): Promise<Dialog> {
    const invite = this.newInvite(edgePort, user, requestUri);
    const { branch } = invite;
    const dialog = { callId: invite.callId, fromTag: invite.fromTag, cseq: 1 };
    const res = await this.transact(this.initial('INVITE', invite), edgePort, branch);
    const status = Number(/^SIP\/2\.0 (\d{3})/.exec(res)?.[1]);
    const headers = (name: string) =>
      [...res.matchAll(new RegExp(`^${name}:\\s*(.+)$`, 'gim'))].flatMap((m) =>
        (m[1] ?? '').split(/,(?=\s*<)/).map((v) => v.trim()),
      );
    const contact = /<([^>]+)>/.exec(headers('contact')[0] ?? '')?.[1] ?? '';
    const toTag = /;tag=([^;\s>]+)/.exec(headers('to')[0] ?? '')?.[1] ?? '';
    if (status >= 300) {
      // Non-2xx: ACK hop by hop on the same branch (RFC 3261 17.1.1.3).
      this.socket.send(
        `ACK ${invite.requestUri} SIP/2.0\r\n${this.via(branch)}\r\n` +
          `From: <sip:alice@127.0.0.1>;tag=${dialog.fromTag}\r\nTo: <sip:${user}@127.0.0.1>;tag=${toTag}\r\n` +
          `Call-ID: ${dialog.callId}\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`,
        edgePort,
        '127.0.0.1',
      );
    }
    return {
      ...dialog,
      status,
      routes: headers('record-route').reverse(),
      remoteTarget: contact,
      toTag,
    };
  }

  private inDialog(dialog: Dialog, method: string, cseq: number, branch: string): string {
    return (
      `${method} ${dialog.remoteTarget} SIP/2.0\r\n${this.via(branch)}\r\n` +
      dialog.routes.map((r) => `Route: ${r}\r\n`).join('') +
      `From: <sip:alice@127.0.0.1>;tag=${dialog.fromTag}\r\nTo: <sip:bob@127.0.0.1>;tag=${dialog.toTag}\r\n` +
      `Call-ID: ${dialog.callId}\r\nCSeq: ${cseq} ${method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`
    );
  }

  /** The 2xx ACK, through `edgePort` (any edge of the fleet). */
  ack(dialog: Dialog, edgePort: number): void {
    const branch = `z9hG4bK${randomBytes(6).toString('hex')}`;
    this.socket.send(this.inDialog(dialog, 'ACK', 1, branch), edgePort, '127.0.0.1');
  }

  /** BYE through `edgePort`; resolves with the final status. */
  async bye(dialog: Dialog, edgePort: number): Promise<number> {
    const branch = `z9hG4bK${randomBytes(6).toString('hex')}`;
    dialog.cseq += 1;
    const res = await this.transact(
      this.inDialog(dialog, 'BYE', dialog.cseq, branch),
      edgePort,
      branch,
    );
    return Number(/^SIP\/2\.0 (\d{3})/.exec(res)?.[1]);
  }
}
