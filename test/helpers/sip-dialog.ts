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

export class DialogClient {
  private constructor(
    private readonly socket: Socket,
    readonly port: number,
  ) {}

  static async open(): Promise<DialogClient> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    return new DialogClient(socket, socket.address().port);
  }

  close(): void {
    this.socket.close();
  }

  /** Sends a request and resolves with the first final response's text. */
  private transact(
    text: string,
    edgePort: number,
    branch: string,
    timeoutMs = 5000,
  ): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.socket.off('message', onMessage);
        reject(
          new Error(`no final response to ${text.slice(0, text.indexOf(' '))} from :${edgePort}`),
        );
      }, timeoutMs);
      const onMessage = (data: Buffer) => {
        const msg = data.toString('latin1');
        if (!msg.includes(`branch=${branch}`)) return;
        const status = Number(/^SIP\/2\.0 (\d{3})/.exec(msg)?.[1] ?? 0);
        if (status < 200) return;
        clearTimeout(timer);
        this.socket.off('message', onMessage);
        resolve(msg);
      };
      this.socket.on('message', onMessage);
      this.socket.send(text, edgePort, '127.0.0.1');
    });
  }

  private via(branch: string): string {
    return `Via: SIP/2.0/UDP 127.0.0.1:${this.port};branch=${branch};rport`;
  }

  /**
   * INVITE via `edgePort`; resolves once a final response arrives (a 2xx is not ACKed yet).
   * @param requestUri @default `sip:<user>@127.0.0.1:<edgePort>`
   */
  async invite(
    edgePort: number,
    user = 'bob',
    requestUri = `sip:${user}@127.0.0.1:${edgePort}`,
  ): Promise<Dialog> {
    const id = randomBytes(6).toString('hex');
    const branch = `z9hG4bK${id}`;
    const dialog = { callId: `dlg-${id}`, fromTag: id, cseq: 1 };
    const text =
      `INVITE ${requestUri} SIP/2.0\r\n${this.via(branch)}\r\n` +
      `From: <sip:alice@127.0.0.1>;tag=${dialog.fromTag}\r\nTo: <sip:${user}@127.0.0.1>\r\n` +
      `Call-ID: ${dialog.callId}\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@127.0.0.1:${this.port}>\r\n` +
      `Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n`;
    const res = await this.transact(text, edgePort, branch);
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
        `ACK ${requestUri} SIP/2.0\r\n${this.via(branch)}\r\n` +
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
