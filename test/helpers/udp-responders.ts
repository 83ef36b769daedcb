// Many tiny SIP responders in one process, for prober tests and benchmarks: each is one UDP socket
// on 127.0.0.1 that answers every request with a configurable status (200, 480, 503, ...) or stays
// silent, switchable at run time, and records when each request arrived (to count pings per
// interval and measure gaps). Requests are parsed with the project's parser; anything that does
// not parse is counted and dropped.
import { createSocket, type Socket } from 'node:dgram';
import { createResponse, newTag, parseMessage, SipRequest } from '@sipfleet/sip';

/** A status to answer with, or 'silent' (no answer: the prober times out). */
export type ResponderMode = number | 'silent';

export interface Responder {
  readonly index: number;
  readonly port: number;
  /** `sip:127.0.0.1:<port>` */
  readonly uri: string;
  mode: ResponderMode;
  /** Date.now() of every request received (not retransmissions: one entry per new branch). */
  readonly pings: number[];
  /** Retransmissions seen (same branch again). */
  retransmissions: number;
  /** The Request-URI of the last request received (a proxy sees whom it was meant for). */
  lastRequestUri: string | undefined;
  /** Where the last request came from (the sender's socket). */
  lastSource: { address: string; port: number } | undefined;
}

export interface UdpRespondersOptions {
  /** Initial mode of every responder. @default 200 */
  mode?: ResponderMode;
  /** Keep at most this many timestamps per responder (the oldest go). @default 10000 */
  maxPings?: number;
}

export class UdpResponders {
  readonly responders: Responder[] = [];
  malformed = 0;
  private readonly sockets: Socket[] = [];
  private readonly seen = new Map<number, Set<string>>();

  private constructor(private readonly maxPings: number) {}

  /** Binds `count` sockets on 127.0.0.1 (kernel-chosen ports). */
  static async start(count: number, opts: UdpRespondersOptions = {}): Promise<UdpResponders> {
    const set = new UdpResponders(opts.maxPings ?? 10_000);
    try {
      for (let i = 0; i < count; i++) await set.add(opts.mode ?? 200);
    } catch (err) {
      await set.close();
      throw err;
    }
    return set;
  }

  private async add(mode: ResponderMode): Promise<void> {
    const socket = createSocket('udp4');
    const index = this.responders.length;
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, '127.0.0.1', () => {
        socket.off('error', reject);
        resolve();
      });
    });
    socket.on('error', () => undefined);
    const port = socket.address().port;
    const responder: Responder = {
      index,
      port,
      uri: `sip:127.0.0.1:${port}`,
      mode,
      pings: [],
      retransmissions: 0,
      lastRequestUri: undefined,
      lastSource: undefined,
    };
    const branches = new Set<string>();
    this.seen.set(index, branches);
    socket.on('message', (data, rinfo) => {
      let req;
      try {
        req = parseMessage(data);
      } catch {
        this.malformed++;
        return;
      }
      if (!(req instanceof SipRequest)) return;
      const branch = req.topVia?.branch ?? '';
      if (branches.has(branch)) {
        responder.retransmissions++;
      } else {
        branches.add(branch);
        if (branches.size > 4096) branches.clear();
        responder.pings.push(Date.now());
        responder.lastRequestUri = req.uri;
        responder.lastSource = { address: rinfo.address, port: rinfo.port };
        if (responder.pings.length > this.maxPings) responder.pings.shift();
      }
      if (responder.mode === 'silent' || req.method === 'ACK') return;
      const res = createResponse(req, responder.mode, undefined, { toTag: newTag() });
      socket.send(res.toBuffer(), rinfo.port, rinfo.address);
    });
    this.sockets.push(socket);
    this.responders.push(responder);
  }

  get(index: number): Responder {
    const r = this.responders[index];
    if (!r) throw new Error(`no responder ${index}`);
    return r;
  }

  /** Switches one responder (or all) to answer with another status, or to stay silent. */
  setMode(index: number | 'all', mode: ResponderMode): void {
    for (const r of index === 'all' ? this.responders : [this.get(index)]) r.mode = mode;
  }

  /** Total requests (new branches) received by all responders. */
  get totalPings(): number {
    return this.responders.reduce((n, r) => n + r.pings.length, 0);
  }

  async close(): Promise<void> {
    await Promise.all(
      this.sockets.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))),
    );
    this.sockets.length = 0;
  }
}
