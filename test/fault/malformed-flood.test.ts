// Issue 18: hostile input leaks nothing. A real edge gets 5,000 OPTIONS and 500 INVITEs whose Route
// header does not parse, from one UDP socket at a bounded rate (a window of unanswered requests):
// every one is answered `400 Bad Route` (RFC 3261 §16.3 step 1: the proxy answers a request it
// cannot forward), the edge's live server transactions return to 0 once the (shortened) timers have
// run, and its resident memory after the flood stays within a bound of what it was before.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import net from 'node:net';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startEdge } from '@sipfleet/test-helpers/edge';
import type { EdgeHandle } from '@sipfleet/test-helpers/edge';

const OPTIONS = 5000;
/** Every INVITE_EVERY-th request is an INVITE (500 of them), the rest OPTIONS. */
const INVITE_EVERY = 11;
const TOTAL = OPTIONS + Math.floor(OPTIONS / (INVITE_EVERY - 1));
/** Requests sent and not yet answered, at most: the rate is what the edge answers, bounded. */
const WINDOW = 100;
/** Resident memory the flood may add to the edge (a bound on memory, not on time). */
const RSS_BOUND_BYTES = 64 * 1024 * 1024;

async function waitFor(what: string, check: () => Promise<boolean>, deadlineMs: number) {
  const until = Date.now() + deadlineMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`malformed flood: no ${what} within ${deadlineMs} ms`);
    await sleep(50);
  }
}

test('5,000 OPTIONS and 500 INVITEs with a Route that does not parse: each answered 400 Bad Route, no transaction or memory left behind', async (t) => {
  // T1 50 ms: an unACKed INVITE 400 would end by Timer H within 64*T1 = 3.2 s; Timers J and I last
  // waitMs.
  const edge: EdgeHandle = await startEdge(t, {
    timers: { T1: 50, T2: 400, T4: 500, waitMs: 200 },
    // What is under test is the answer to a bad Route; on a busy host the flood may also trip
    // overload shedding (503 to an INVITE), which test/fault/overload.test.ts covers.
    overload: { enabled: false },
  });
  const socket = createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024 });
  t.after(() => socket.close());
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const local = socket.address().port;
  const run = randomBytes(4).toString('hex');

  const head = (method: string, n: number, toTag = '') =>
    `${method} sip:user${n}@example.com SIP/2.0\r\n` +
    `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bK${run}-${n};rport\r\n` +
    // The Route has no closing `>`: the request parses, its Route does not.
    'Route: <sip:10.0.0.2;lr\r\n' +
    `From: <sip:flood@127.0.0.1>;tag=${run}\r\n` +
    `To: <sip:user${n}@example.com>${toTag}\r\n` +
    `Call-ID: flood-${run}-${n}\r\n` +
    `CSeq: 1 ${method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`;
  const isInvite = (n: number) => n % INVITE_EVERY === 0;

  const rssBefore = await edge.metric('process_resident_memory_bytes');
  assert.ok(rssBefore > 0, 'the edge exports process_resident_memory_bytes');

  const answered = new Set<number>();
  const others: string[] = [];
  let sent = 0;
  let wake: (() => void) | undefined;
  socket.on('message', (data) => {
    const text = data.toString('latin1');
    const n = Number(/^Call-ID: flood-[0-9a-f]+-(\d+)\r$/m.exec(text)?.[1] ?? -1);
    const statusLine = text.slice(0, text.indexOf('\r\n'));
    if (statusLine === 'SIP/2.0 100 Trying') return; // the INVITE server transaction's own 100
    if (statusLine !== 'SIP/2.0 400 Bad Route' || n < 0) {
      others.push(statusLine);
    } else if (!answered.has(n)) {
      answered.add(n);
      if (isInvite(n)) {
        // RFC 3261 §17.1.1.3: the non-2xx final of an INVITE is ACKed (same branch, its To tag).
        const toTag = /^To:[^\r]*?(;tag=[^;\r]+)/m.exec(text)?.[1] ?? '';
        socket.send(head('ACK', n, toTag), edge.port, '127.0.0.1');
      }
    }
    wake?.();
  });

  /** Resolves true on the next answer, false if none comes within `ms` (a lost datagram). */
  const nextAnswer = (ms: number) =>
    new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  while (sent < TOTAL && others.length === 0) {
    if (sent - answered.size >= WINDOW) {
      if (!(await nextAnswer(5000))) break; // stalled: the count below says how many are missing
      continue;
    }
    socket.send(head(isInvite(sent) ? 'INVITE' : 'OPTIONS', sent), edge.port, '127.0.0.1');
    sent++;
  }
  while (answered.size < sent && others.length === 0 && (await nextAnswer(5000)));
  assert.deepEqual(others.slice(0, 5), [], 'every answer is 400 Bad Route');
  assert.equal(sent, TOTAL);
  assert.equal(answered.size, TOTAL, `${TOTAL} requests sent, each answered`);
  console.log(
    `malformed flood: ${TOTAL} requests (${OPTIONS} OPTIONS), ${answered.size} answered 400 Bad Route`,
  );

  // Every server transaction ends once Timers J / I (waitMs) have run. (The series must exist:
  // metric() reads an absent one as 0.)
  assert.match(
    (await edge.admin('/metrics')).body,
    /^sipfleet_active_transactions\{[^}]*side="server"[^}]*\} /m,
  );
  await waitFor(
    'return of live server transactions to 0',
    async () => (await edge.metric('sipfleet_active_transactions', { side: 'server' })) === 0,
    15_000,
  );
  const rssAfter = await edge.metric('process_resident_memory_bytes');
  console.log(
    `malformed flood: edge RSS ${(rssBefore / 2 ** 20).toFixed(1)} MB before, ${(rssAfter / 2 ** 20).toFixed(1)} MB after`,
  );
  assert.ok(
    rssAfter - rssBefore <= RSS_BOUND_BYTES,
    `edge RSS grew by ${rssAfter - rssBefore} bytes (bound ${RSS_BOUND_BYTES})`,
  );
});

test('the edge closes a TCP connection over transport.maxConnectionsPerSource and one trickling a message past tcpMessageTimeoutMs, and counts both', async (t) => {
  const edge = await startEdge(t, {
    transport: { maxConnectionsPerSource: 2, tcpMessageTimeoutMs: 300 },
  });
  const connect = async (): Promise<{ socket: net.Socket; closed: Promise<void> }> => {
    const socket = net.connect({ port: edge.port, host: '127.0.0.1' });
    t.after(() => socket.destroy());
    socket.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    return { socket, closed };
  };
  const dropped = (reason: string) =>
    edge.metric('sipfleet_transport_dropped_total', { reason: `SIPFLEET_ERR_TRANSPORT_${reason}` });

  const first = await connect();
  await connect();
  // The listener accepts in order: the edge holds both before it sees the third.
  const third = await connect();
  await third.closed;
  assert.equal(await dropped('CONNECTIONS_PER_SOURCE'), 1);
  // The first connection starts a message and never finishes it.
  first.socket.write('OPTIONS sip:edge@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1');
  await first.closed;
  assert.equal(await dropped('MESSAGE_TIMEOUT'), 1);
});
