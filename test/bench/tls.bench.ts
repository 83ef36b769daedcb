// Calls over TLS next to UDP and TCP through one edge, and what a TLS handshake costs it. Every
// call is INVITE/180/200/ACK/BYE/200, record-routed, to a sipp UAS over UDP; the caller side
// changes. sipp (built without TLS here) drives UDP and TCP; a node:tls caller (one call at a time
// per connection) drives TLS, and TCP once more so the two stream rows share a load generator.
// Closed loop: CONNECTIONS calls in flight, CALLS calls; calls/s is what the machine sustained
// with the generators on the same 2 cores, CPU per call is the edge process's own (utime+stime).
// Run: `node --import tsx test/bench/tls.bench.ts` (or `npm run bench -- tls`).
import { setTimeout as sleep } from 'node:timers/promises';
import type tls from 'node:tls';
import { connectStream } from '@sipfleet/test-helpers/stream-ua';
import type { StreamConnection } from '@sipfleet/test-helpers/stream-ua';
import { callLoop, measured, Owner, sippCalls } from './ramp.js';
import type { Row } from './ramp.js';
import { printCallRows, secureEdge } from './secure-edge.js';

const CALLS = Number(process.env.BENCH_TLS_CALLS ?? 3000);
const CONNECTIONS = Number(process.env.BENCH_TLS_CONNECTIONS ?? 20);
const HANDSHAKES = Number(process.env.BENCH_TLS_HANDSHAKES ?? 1000);

async function streamCalls(
  owner: Owner,
  pid: number,
  port: number,
  transport: 'tcp' | 'tls',
  options?: tls.ConnectionOptions,
): Promise<Row> {
  const conns: StreamConnection[] = [];
  for (let i = 0; i < CONNECTIONS; i++) conns.push(await connectStream(owner, port, options));
  const left = { n: CALLS };
  const { result, seconds, cpuMs } = await measured(pid, () =>
    Promise.all(conns.map((c) => callLoop(c, port, transport, left))),
  );
  for (const c of conns) c.close();
  const failed = result.reduce((a, b) => a + b, 0);
  return {
    caller: `${transport} (node, ${CONNECTIONS} connections)`,
    calls: CALLS,
    failed,
    seconds,
    cpuMs,
  };
}

/** HANDSHAKES new connections, 10 at a time, each closed once set up. */
async function handshakes(
  owner: Owner,
  pid: number,
  port: number,
  options?: tls.ConnectionOptions,
) {
  let left = HANDSHAKES;
  const worker = async () => {
    while (left > 0) {
      left--;
      (await connectStream(owner, port, options)).close();
    }
  };
  return measured(pid, () => Promise.all(Array.from({ length: 10 }, worker)));
}

async function main(): Promise<void> {
  const owner = new Owner();
  try {
    const { ca, edge, port: tlsPort, pid } = await secureEdge(owner, 'tls');
    const tlsOptions = { ca: ca.cert, servername: 'localhost' };
    console.log(
      `## Calls by caller transport: ${CALLS} calls, ${CONNECTIONS} in flight, callee over UDP\n`,
    );
    const rows: Row[] = [];
    rows.push(await sippCalls(owner, pid, edge.port, 'udp', CALLS, CONNECTIONS));
    rows.push(await sippCalls(owner, pid, edge.port, 'tcp', CALLS, CONNECTIONS));
    rows.push(await streamCalls(owner, pid, edge.port, 'tcp'));
    rows.push(await streamCalls(owner, pid, tlsPort, 'tls', tlsOptions));
    printCallRows(rows);
    await sleep(500); // let the last calls' connections close before the handshake runs
    console.log(
      `\n## Connection set-up: ${HANDSHAKES} new connections, 10 at a time, closed at once\n`,
    );
    console.log('| connection | per second | edge CPU per connection |');
    console.log('| --- | --- | --- |');
    for (const [name, port, options] of [
      ['tcp', edge.port, undefined],
      ['tls (ECDSA P-256, TLS 1.3)', tlsPort, tlsOptions],
    ] as const) {
      const h = await handshakes(owner, pid, port, options);
      console.log(
        `| ${name} | ${(HANDSHAKES / h.seconds).toFixed(0)} | ${(h.cpuMs / HANDSHAKES).toFixed(3)} ms |`,
      );
    }
  } finally {
    await owner.close();
  }
}

await main();
