// Prints figures, asserts nothing: INVITE (100/180/200) + BYE (200) transaction pairs per second through two
// transaction layers over the in-memory network (parsing and serialising included), and heap per live
// transaction. Run: node --expose-gc --import tsx packages/transaction/bench/transactions.bench.ts
import { createResponse, newBranch, parseMessage } from '@sipfleet/sip';
import type { SipRequest } from '@sipfleet/sip';
import { InMemoryNetwork } from '@sipfleet/transport';
import { ManualClock, TransactionLayer } from '../src/index.js';
import type { ClientTransactionHandlers } from '../src/index.js';

const CALLS = Number(process.env.CALLS ?? 100_000);

function requestText(method: string, callId: string, cseq: number): string {
  return [
    `${method} sip:bob@10.0.0.2 SIP/2.0`,
    `Via: SIP/2.0/UDP 10.0.0.1:5060;branch=${newBranch()}`,
    'Max-Forwards: 70',
    'From: <sip:alice@10.0.0.1>;tag=ftag',
    `To: <sip:bob@10.0.0.2>${method === 'BYE' ? ';tag=b' : ''}`,
    `Call-ID: ${callId}`,
    `CSeq: ${cseq} ${method}`,
    'Contact: <sip:alice@10.0.0.1>',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

function world() {
  const clock = new ManualClock();
  const net = new InMemoryNetwork();
  const a = net.endpoint('10.0.0.1', 5060);
  const b = net.endpoint('10.0.0.2', 5060);
  const server = new TransactionLayer({
    sender: b,
    clock,
    user: {
      onRequest(req, tx) {
        if (tx === null) return;
        if (req.method === 'INVITE')
          tx.respond(createResponse(req, 180, undefined, { toTag: 'b' }));
        tx.respond(createResponse(req, 200, undefined, { toTag: 'b' }));
      },
      onCancel() {},
      onStrayResponse() {},
    },
  });
  const client = new TransactionLayer({
    sender: a,
    clock,
    user: { onRequest() {}, onCancel() {}, onStrayResponse() {} },
  });
  a.onMessage = (data, remote) => client.receive(parseMessage(data), remote);
  b.onMessage = (data, remote) => server.receive(parseMessage(data), remote);
  return { clock, net, a, b, server, client };
}

const finals = { n: 0 };
const handlers: ClientTransactionHandlers = {
  onResponse(res) {
    if (res.status >= 200) finals.n++;
  },
  onTimeout() {},
  onTransportError() {},
};

/** Sends `calls` INVITE+BYE pairs, moving the clock as if they came at `rate` pairs per second. */
function run(calls: number, w: ReturnType<typeof world>, rate: number): void {
  const target = { protocol: 'udp' as const, address: '10.0.0.2', port: 5060 };
  const perMs = rate / 1000;
  for (let i = 0; i < calls; i++) {
    w.client.sendRequest(
      parseMessage(requestText('INVITE', `c${i}`, 1)) as never,
      target,
      handlers,
    );
    w.client.sendRequest(
      parseMessage(requestText('BYE', `c${i}`, 2)) as SipRequest,
      target,
      handlers,
    );
    w.net.flush();
    w.net.log.length = 0; // the network's own record of every packet is not the layer's memory
    if ((i + 1) % perMs < 1) {
      w.clock.advance(1);
      w.net.flush();
    }
  }
}

const RATE = 2500; // the edge's target: 2,500 INVITE + 2,500 BYE per second
run(2000, world(), RATE); // warm-up
const w = world();
finals.n = 0;
const gc = (globalThis as { gc?: () => void }).gc;
gc?.();
const heapBefore = process.memoryUsage().heapUsed;
const start = process.hrtime.bigint();
const cpu = process.cpuUsage();
run(CALLS, w, RATE);
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
// CPU time (GC threads included) is steadier than wall clock on a shared machine
const used = process.cpuUsage(cpu);
const cpuSeconds = (used.user + used.system) / 1e6;
gc?.();
const heapAfter = process.memoryUsage().heapUsed;
const live = w.client.counts.client + w.server.counts.server;
console.log(
  `${CALLS} INVITE+BYE pairs (${(CALLS / RATE).toFixed(0)} s of simulated time at ${RATE}/s) in ` +
    `${seconds.toFixed(2)} s (${cpuSeconds.toFixed(2)} s of CPU): ${Math.round(CALLS / seconds)} pairs/s through ` +
    `client and server layers, parsing included, ${((cpuSeconds / CALLS) * 1e6).toFixed(0)} µs CPU per pair; ` +
    `${finals.n} finals`,
);
console.log(
  `live transactions at the end: ${live} (client ${w.client.counts.client}, server ${w.server.counts.server}); ` +
    `heap ${((heapAfter - heapBefore) / 1048576).toFixed(0)} MiB, ${((heapAfter - heapBefore) / live).toFixed(0)} bytes per live transaction` +
    (gc === undefined ? ' (run with --expose-gc for a steadier figure)' : ''),
);
w.clock.advance(64 * 500 + 1);
w.net.flush();
console.log(
  `after 64*T1 more: client ${JSON.stringify(w.client.counts)}, server ${JSON.stringify(w.server.counts)}, timers ${w.clock.pending}`,
);
