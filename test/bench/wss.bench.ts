// Calls over WSS next to UDP through one edge (issue 14): the same record-routed call (INVITE, 200,
// ACK, BYE, 200) to a sipp UAS on UDP, offered by sipp over UDP, then by "browsers" over WSS: a
// Node load generator holding BENCH_WSS_CLIENTS WebSocket connections (the `ws` package, the
// `sip` subprotocol, `.invalid` Via and Contact as browsers send them). Per step: calls/s
// achieved with zero failures and the edge's CPU per call. The load generator runs on the same
// cores as the edge (as sipp does in the other benches). Run:
// `node --import tsx test/bench/wss.bench.ts` (or `npm run bench wss`).
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseMessage } from '@sipfleet/sip';
import type { SipResponse } from '@sipfleet/sip';
import { makeCa } from '@sipfleet/test-helpers/certs';
import { startEdge } from '@sipfleet/test-helpers/edge';
import { freePort } from '@sipfleet/test-helpers/ports';
import { startSipp } from '@sipfleet/test-helpers/sipp';
import WebSocket from 'ws';
import { cpuTicks, Owner, ramp, STEP_SECONDS } from './ramp.js';

const RATES = (process.env.BENCH_WSS_RATES ?? '250,500,750,1000,1250,1500').split(',').map(Number);
const CLIENTS = Number(process.env.BENCH_WSS_CLIENTS ?? 50);
/** A call without its final answers within this long counts as failed. */
const CALL_TIMEOUT_MS = 10_000;

interface WsStep {
  rate: number;
  ok: number;
  failed: number;
  achieved: number;
  cpu: number;
}

/** One call's state: which response it waits for. */
interface Call {
  conn: WebSocket;
  callId: string;
  fromTag: string;
  done: (ok: boolean) => void;
  timer: NodeJS.Timeout;
}

const SDP =
  'v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n' +
  'c=IN IP4 0.0.0.0\r\na=rtpmap:111 opus/48000/2\r\n';

/** A browser-like UAC over WebSocket connections; calls are spread over them round-robin. */
class WsCaller {
  private readonly calls = new Map<string, Call>();
  private next = 0;
  private counter = 0;
  private readonly host = `${randomBytes(4).toString('hex')}.invalid`;

  private constructor(
    private readonly conns: WebSocket[],
    private readonly edge: string,
  ) {
    for (const conn of conns) conn.on('message', (data: Buffer) => this.onMessage(conn, data));
  }

  static async connect(url: string, edge: string, count: number): Promise<WsCaller> {
    const conns = await Promise.all(
      Array.from(
        { length: count },
        () =>
          new Promise<WebSocket>((resolve, reject) => {
            const ws = new WebSocket(url, ['sip'], { rejectUnauthorized: false });
            ws.once('open', () => resolve(ws));
            ws.once('error', reject);
          }),
      ),
    );
    return new WsCaller(conns, edge);
  }

  close(): void {
    for (const conn of this.conns) conn.terminate();
  }

  /** Resolves true once the call was answered, acknowledged and hung up with a 200. */
  call(): Promise<boolean> {
    const conn = this.conns[this.next++ % this.conns.length] as WebSocket;
    const n = ++this.counter;
    const callId = `wsbench-${n}-${this.host}`;
    const fromTag = `f${n}`;
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(false), CALL_TIMEOUT_MS);
      const finish = (ok: boolean) => {
        clearTimeout(timer);
        this.calls.delete(callId);
        resolve(ok);
      };
      this.calls.set(callId, { conn, callId, fromTag, done: finish, timer });
      conn.send(
        `INVITE sip:bench@${this.edge} SIP/2.0\r\n` +
          `Via: SIP/2.0/WSS ${this.host};branch=z9hG4bK${n}i\r\n` +
          'Max-Forwards: 70\r\n' +
          `From: <sip:alice@example.com>;tag=${fromTag}\r\n` +
          `To: <sip:bench@${this.edge}>\r\n` +
          `Call-ID: ${callId}\r\nCSeq: 1 INVITE\r\n` +
          `Contact: <sip:alice@${this.host};transport=ws>\r\n` +
          `Content-Type: application/sdp\r\nContent-Length: ${SDP.length}\r\n\r\n${SDP}`,
      );
    });
  }

  private onMessage(conn: WebSocket, data: Buffer): void {
    let res: SipResponse;
    try {
      const msg = parseMessage(data);
      if (!('status' in msg)) return; // no requests come to the caller in this call flow
      res = msg;
    } catch {
      return;
    }
    const call = this.calls.get(res.callId);
    if (call === undefined || res.status < 200) return;
    const method = res.cseq.method;
    if (res.status >= 300) {
      call.done(false);
      return;
    }
    if (method === 'BYE') {
      call.done(true);
      return;
    }
    // 2xx to the INVITE: ACK and BYE along the route set (RFC 3261 12.1.2: Record-Route reversed).
    const routes = res
      .getHeaders('record-route')
      .flatMap((h) => h.split(','))
      .reverse()
      .map((r) => `Route: ${r.trim()}\r\n`)
      .join('');
    const target = res.contacts[0]?.uri.toString() ?? `sip:bench@${this.edge}`;
    const dialog =
      `From: <sip:alice@example.com>;tag=${call.fromTag}\r\n` +
      `To: ${res.getHeader('to') ?? ''}\r\nCall-ID: ${call.callId}\r\nMax-Forwards: 70\r\n${routes}`;
    conn.send(
      `ACK ${target} SIP/2.0\r\nVia: SIP/2.0/WSS ${this.host};branch=z9hG4bK${call.callId}a\r\n` +
        `${dialog}CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n`,
    );
    conn.send(
      `BYE ${target} SIP/2.0\r\nVia: SIP/2.0/WSS ${this.host};branch=z9hG4bK${call.callId}b\r\n` +
        `${dialog}CSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n`,
    );
  }
}

/** Offers `rate` calls/s for STEP_SECONDS over WSS; the edge's CPU over the step. */
async function wssStep(caller: WsCaller, rate: number, pid: number): Promise<WsStep> {
  const ticks0 = cpuTicks([pid]);
  const t0 = performance.now();
  const total = rate * STEP_SECONDS;
  const calls: Promise<boolean>[] = [];
  // Calls start in 10 ms slices, as sipp paces its rate.
  for (let sent = 0; sent < total;) {
    const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate) + 1);
    for (; sent < due; sent++) calls.push(caller.call());
    await sleep(10);
  }
  const results = await Promise.all(calls);
  const seconds = (performance.now() - t0) / 1000;
  const ok = results.filter(Boolean).length;
  return {
    rate,
    ok,
    failed: results.length - ok,
    achieved: ok / seconds,
    cpu: ((cpuTicks([pid]) - ticks0) / 100 / seconds) * 100,
  };
}

/** Edge CPU milliseconds per call at `cpu` percent for `achieved` calls/s. */
function cpuMsPerCall(cpu: number, achieved: number): string {
  return achieved > 0 ? ((cpu * 10) / achieved).toFixed(2) : 'n/a';
}

async function main(): Promise<void> {
  const owner = new Owner();
  try {
    const cert = makeCa(owner).issue('localhost', ['DNS:localhost', 'IP:127.0.0.1']);
    const uasPort = await freePort();
    await startSipp({ scenario: 'uas-call', localPort: uasPort, owner, autoAnswer: true });
    const udpPort = await freePort();
    const wssPort = await freePort();
    const edge = await startEdge(owner, {
      listen: [
        { protocol: 'udp', address: '127.0.0.1', port: udpPort },
        {
          protocol: 'wss',
          address: '127.0.0.1',
          port: wssPort,
          tls: { certFile: cert.certFile, keyFile: cert.keyFile },
        },
      ],
      routing: { destination: `sip:127.0.0.1:${uasPort}` },
      log: { level: 'error' },
    });
    const pid = edge.process.pid as number;
    console.log(
      `## Calls over WSS next to UDP: one edge, a sipp UAS on UDP, ${STEP_SECONDS} s per step\n`,
    );
    console.log('```');
    const udp = await ramp('udp', udpPort, () => [pid], RATES);
    await sleep(6000);
    const caller = await WsCaller.connect(
      `wss://127.0.0.1:${wssPort}`,
      `127.0.0.1:${wssPort}`,
      CLIENTS,
    );
    owner.after(() => caller.close());
    const wss: WsStep[] = [];
    for (const rate of RATES) {
      const step = await wssStep(caller, rate, pid);
      wss.push(step);
      console.log(
        `wss       offered ${String(rate).padStart(5)}/s  ok ${String(step.ok).padStart(6)}` +
          `  failed ${String(step.failed).padStart(5)}  achieved ${step.achieved.toFixed(0).padStart(5)}/s` +
          `  cpu ${step.cpu.toFixed(0)}%  (${CLIENTS} connections)`,
      );
      if (step.failed > 0) break;
      await sleep(6000); // let finished transactions expire between steps
    }
    console.log('```\n');
    console.log(
      '| transport | offered calls/s | achieved | failed | edge CPU | edge CPU ms per call |',
    );
    console.log(
      '| --------- | --------------- | -------- | ------ | -------- | -------------------- |',
    );
    for (const s of udp) {
      console.log(
        `| udp | ${s.rate} | ${s.achieved.toFixed(0)} | ${s.stats.failed} | ${s.cpu.toFixed(0)}% | ${cpuMsPerCall(s.cpu, s.achieved)} |`,
      );
    }
    for (const s of wss) {
      console.log(
        `| wss | ${s.rate} | ${s.achieved.toFixed(0)} | ${s.failed} | ${s.cpu.toFixed(0)}% | ${cpuMsPerCall(s.cpu, s.achieved)} |`,
      );
    }
  } finally {
    await owner.close();
  }
}

await main();
