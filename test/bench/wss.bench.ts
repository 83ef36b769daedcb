// Calls over WSS next to UDP through one edge (issue 14). Every call is INVITE/180/200/ACK/BYE/200,
// record-routed (double Record-Route: WSS on one side, UDP on the other), to a sipp UAS over UDP;
// the caller side changes. sipp drives UDP; "browsers" drive WSS: a Node caller holding
// CONNECTIONS WebSocket connections (the `ws` package, the `sip` subprotocol), one call at a time
// on each. Closed loop, as tls.bench.ts: CONNECTIONS calls in flight, CALLS calls; calls/s is what
// the machine sustained with the generators on the same 2 cores, CPU per call is the edge
// process's own (utime+stime). Run: `node --import tsx test/bench/wss.bench.ts` (or
// `npm run bench -- wss`).
import { StreamConnection } from '@sipfleet/test-helpers/stream-ua';
import WebSocket, { createWebSocketStream } from 'ws';
import { callLoop, measured, Owner, sippCalls } from './ramp.js';
import type { Row } from './ramp.js';
import { printCallRows, secureEdge } from './secure-edge.js';

const CALLS = Number(process.env.BENCH_WSS_CALLS ?? 3000);
const CONNECTIONS = Number(process.env.BENCH_WSS_CONNECTIONS ?? 20);

/** A browser's WebSocket to the edge, as a stream of SIP messages (one WebSocket message each). */
async function connectWss(owner: Owner, port: number, ca: Buffer): Promise<StreamConnection> {
  const ws = new WebSocket(`wss://127.0.0.1:${port}`, ['sip'], { ca });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  owner.after(() => ws.terminate());
  return new StreamConnection(createWebSocketStream(ws));
}

async function wssCalls(owner: Owner, pid: number, port: number, ca: Buffer): Promise<Row> {
  const conns: StreamConnection[] = [];
  for (let i = 0; i < CONNECTIONS; i++) conns.push(await connectWss(owner, port, ca));
  const left = { n: CALLS };
  const { result, seconds, cpuMs } = await measured(pid, () =>
    Promise.all(conns.map((c) => callLoop(c, port, 'wss', left))),
  );
  for (const c of conns) c.close();
  return {
    caller: `wss (node ws, ${CONNECTIONS} connections)`,
    calls: CALLS,
    failed: result.reduce((a, b) => a + b, 0),
    seconds,
    cpuMs,
  };
}

async function main(): Promise<void> {
  const owner = new Owner();
  try {
    const { ca, edge, port: wssPort, pid } = await secureEdge(owner, 'wss');
    console.log(
      `## Calls by caller transport: ${CALLS} calls, ${CONNECTIONS} in flight, callee over UDP\n`,
    );
    const rows = [
      await sippCalls(owner, pid, edge.port, 'udp', CALLS, CONNECTIONS),
      await wssCalls(owner, pid, wssPort, ca.cert),
    ];
    printCallRows(rows);
  } finally {
    await owner.close();
  }
}

await main();
