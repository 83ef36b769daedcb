// RFC 4475 section 3, all 49 torture messages, sent to a real edge over UDP and over TCP: what the edge
// answers (its stateless answers and the proxy's), what it forwards to the next hop, and what it drops.
// The messages are the parser corpus (packages/sip/test/fixtures/rfc4475), byte for byte.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import type { Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { readFileSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import type { Socket as TcpSocket } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createResponse, parseMessage, SipParseError, SipRequest } from '@sipfleet/sip';
import { startEdge } from '@sipfleet/test-helpers/edge';
import type { EdgeHandle } from '@sipfleet/test-helpers/edge';
import { freePort } from '@sipfleet/test-helpers/ports';
import type { CleanupOwner } from '@sipfleet/test-helpers/processes';

const corpus = join(import.meta.dirname, '../../packages/sip/test/fixtures/rfc4475');
const messages = ['valid', 'invalid', 'semantics'].flatMap((dir) =>
  readdirSync(join(corpus, dir))
    .filter((f) => f.endsWith('.sip'))
    .map((f) => ({ name: f.slice(0, -4), raw: readFileSync(join(corpus, dir, f)) })),
);

/**
 * - a status: the edge answers with it (the To tag is checked on every answer the edge makes itself)
 * - 'forwarded': relayed to the next hop, whose answer (480 "Forwarded") comes back through the edge
 * - 'dropped': nothing comes back (responses whose top Via is not ours, section 16.7 step 3)
 * - 'closed': the stream framing fails (Content-Length missing or contradictory, RFC 3261 section 18.3):
 *   the connection is closed without an answer
 * - 'waits': the declared body has not all come; a stream waits for it
 */
type Outcome = number | 'forwarded' | 'dropped' | 'closed' | 'waits';

/** RFC 4475 section by section; `[udp, tcp]` where the transports differ. */
const OUTCOMES: Record<string, Outcome | [Outcome, Outcome]> = {
  // 3.1.1 valid messages: processed. wsinv has a To tag: in-dialog, it follows its Route to
  // services.example.com, a name that does not resolve (RFC 2606), and that branch's 503 goes
  // upstream as 500 (RFC 3261 section 16.7 step 6).
  wsinv: 500,
  intmeth: 'forwarded',
  esc01: 'forwarded',
  escnull: 'forwarded',
  esc02: 'forwarded',
  lwsdisp: 'forwarded',
  longreq: 'forwarded',
  dblreq: 'forwarded',
  semiuri: 'forwarded',
  transports: 'forwarded',
  mpart01: 'forwarded',
  unreason: 'dropped',
  noreason: 'dropped',
  // 3.1.2 invalid messages
  badinv01: 400,
  clerr: [400, 'waits'],
  scalar02: 400,
  scalarlg: 'dropped',
  quotbal: 400,
  ltgtruri: 400,
  lwsruri: 400,
  lwsstart: 400,
  trws: 400,
  escruri: 400,
  // 3.1.2.11/12: a bad Date or Contact is for the UAS or registrar to refuse; a proxy relays it
  baddate: 'forwarded',
  regbadct: 'forwarded',
  badaspec: 400,
  baddn: 400,
  badvers: 505,
  mismatch01: 400,
  mismatch02: 400,
  bigcode: 'dropped',
  ncl: [400, 'closed'],
  // 3.2 transaction layer
  badbranch: 'forwarded',
  // 3.3 application layer
  insuf: 400,
  unkscm: 416,
  novelsc: 416,
  unksm2: 'forwarded',
  bext01: 420,
  invut: 'forwarded',
  regaut01: 'forwarded',
  multi01: 400,
  mcl01: [400, 'closed'],
  bcast: 'dropped',
  zeromf: 483,
  cparam01: 'forwarded',
  cparam02: 'forwarded',
  regescrt: 'forwarded',
  sdp01: 'forwarded',
  // 3.4: RFC 2543 syntax; without Content-Length it cannot be framed on a stream
  inv2543: ['forwarded', 'closed'],
};

/**
 * Answered by the proxy core through a server transaction (section 16.3 checks, a branch's failure),
 * not by the receive path's stateless answers.
 */
const PROXY_ANSWERS = new Set(['wsinv', 'bext01', 'zeromf']);

/** The Call-ID as written (the answer's is copied from it), or undefined when there is not exactly one. */
function callIdOf(raw: Buffer): string | undefined {
  const text = raw.toString('latin1');
  const head = text.slice(0, text.search(/\r?\n\r?\n/));
  const found = [...head.matchAll(/^(?:call-id|i)[ \t]*:[ \t]*(.*?)\r?$/gim)];
  return found.length === 1 ? found[0]?.[1] : undefined;
}

/** Whether the message's To header reads (when it does not, the answer has none to copy). */
function readableTo(raw: Buffer): boolean {
  try {
    return parseMessage(raw).to !== undefined;
  } catch (err) {
    if (!(err instanceof SipParseError) || err.request === undefined) return false;
    try {
      return err.request.to !== undefined;
    } catch {
      return false;
    }
  }
}

/**
 * Our side: one address whose port is 5060, the port a Via without one means (RFC 3261 section
 * 18.2.2), so that answers aimed at the messages' Vias (after `received`) reach us. A loopback address
 * of its own keeps it clear of anything else on 5060.
 */
const CLIENT_ADDRESS = `127.45.${(process.pid >> 8) & 0xff}.${(process.pid & 0xff) | 1}`;

/** The next hop: answers every request but ACK with 480 "Forwarded", and remembers Call-IDs. */
async function nextHop(t: CleanupOwner): Promise<{ port: number; seen: Set<string> }> {
  const port = await freePort();
  const socket = createSocket('udp4');
  const seen = new Set<string>();
  socket.on('message', (data, rinfo) => {
    const msg = parseMessage(data);
    if (!(msg instanceof SipRequest) || msg.method === 'ACK') return;
    seen.add(msg.callId);
    const res = createResponse(msg, 480, 'Forwarded', { toTag: 'hop' }).toBuffer();
    socket.send(res, rinfo.port, rinfo.address);
  });
  socket.bind(port, '127.0.0.1');
  await once(socket, 'listening');
  t.after(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return { port, seen };
}

/** What we look at in an answer. Read with regular expressions: an answer to a request whose To was
 *  unreadable has no To, and the project's parser (rightly) refuses such a response. */
interface Answer {
  status: number;
  reason: string;
  callId: string | undefined;
  toTag: string | undefined;
  hasTo: boolean;
}

function readAnswer(data: Buffer): Answer {
  const text = data.toString('latin1');
  const head = text.slice(0, text.indexOf('\r\n\r\n'));
  const start = /^SIP\/2\.0 (\d{3}) (.*)$/m.exec(head);
  assert.ok(start, `the edge sends us only responses: ${head.slice(0, 80)}`);
  const to = /^(?:to|t)[ \t]*:(.*)$/im.exec(head)?.[1];
  return {
    status: Number(start[1]),
    reason: start[2] ?? '',
    callId: /^(?:call-id|i)[ \t]*:[ \t]*(.*?)[ \t]*$/im.exec(head)?.[1],
    toTag: to === undefined ? undefined : /;\s*tag\s*=\s*([^;>\s]+)/i.exec(to)?.[1],
    hasTo: to !== undefined,
  };
}

/** Everything that came back; waiters are woken on each. */
class Inbox {
  readonly responses: Answer[] = [];
  closed = false;
  private wake: (() => void) | undefined;

  push(data: Buffer): void {
    this.responses.push(readAnswer(data));
    this.notify();
  }

  notify(): void {
    this.wake?.();
  }

  async until<T>(what: string, check: () => T | undefined): Promise<T> {
    for (;;) {
      const found = check();
      if (found !== undefined) return found;
      if (this.closed) assert.fail(`connection closed while waiting for ${what}`);
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }
}

let probes = 0;
/**
 * OPTIONS with Max-Forwards 0 from our address: the edge answers 483 at once, on the same path, after
 * everything it answers at once to what was sent before (one socket or connection, one event loop).
 */
function probe(protocol: 'UDP' | 'TCP'): { callId: string; bytes: Buffer } {
  const callId = `probe-${++probes}`;
  const text = [
    `OPTIONS sip:probe@127.0.0.1 SIP/2.0`,
    `Via: SIP/2.0/${protocol} ${CLIENT_ADDRESS}:5060;branch=z9hG4bK${callId};rport`,
    'Max-Forwards: 0',
    `From: <sip:probe@${CLIENT_ADDRESS}>;tag=p`,
    'To: <sip:probe@127.0.0.1>',
    `Call-ID: ${callId}`,
    'CSeq: 1 OPTIONS',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  return { callId, bytes: Buffer.from(text, 'latin1') };
}

/** Checks what came back for one message, given how the probe (if any) was answered. */
async function expectOutcome(
  inbox: Inbox,
  name: string,
  raw: Buffer,
  want: Outcome,
  hop: { seen: Set<string> },
  sendProbe: () => string,
): Promise<void> {
  const callId = callIdOf(raw);
  // An answer to this message: same Call-ID, or none at all when the message had no usable one.
  const ours = (r: Answer) =>
    r.status >= 200 && (callId === undefined ? r.callId === undefined : r.callId === callId);
  if (typeof want === 'number') {
    const res = await inbox.until(`${want} for ${name}`, () => inbox.responses.find(ours));
    assert.equal(res.status, want, `${name}: ${res.status} ${res.reason}`);
    // RFC 3261 section 8.2.6.2, for the answers of the receive path; an unreadable To is not copied,
    // so it cannot carry one
    if (!PROXY_ANSWERS.has(name) && (res.hasTo || readableTo(raw))) {
      assert.ok(res.toTag, `${name}: the answer carries a To tag (RFC 3261 section 8.2.6.2)`);
    }
    return;
  }
  if (want === 'forwarded') {
    const res = await inbox.until(`the relayed answer for ${name}`, () =>
      inbox.responses.find(ours),
    );
    assert.equal(`${res.status} ${res.reason}`, '480 Forwarded', name);
    assert.ok(callId !== undefined && hop.seen.has(callId), `${name} reached the next hop`);
    return;
  }
  if (want === 'closed') {
    await inbox.until(`${name}: the connection to close`, () => (inbox.closed ? true : undefined));
    assert.deepEqual(inbox.responses.filter(ours), [], `${name}: closed without an answer`);
    return;
  }
  const probeId = sendProbe();
  await inbox.until(`the probe after ${name}`, () =>
    inbox.responses.find((r) => r.callId === probeId),
  );
  assert.deepEqual(
    inbox.responses.filter(ours).map((r) => r.status),
    [],
    `${name}: nothing came back`,
  );
  if (callId !== undefined) assert.ok(!hop.seen.has(callId), `${name} was not forwarded`);
}

async function setUp(t: CleanupOwner): Promise<{ edge: EdgeHandle; hop: { seen: Set<string> } }> {
  const hop = await nextHop(t);
  const edge = await startEdge(t, {
    // The torture messages are addressed to foreign domains (example.com): this edge relays them,
    // as a proxy configured for it does; the default refusal (no open relay) has its own test.
    routing: { destination: `sip:127.0.0.1:${hop.port}`, allowRelay: true },
    // short-lived transactions: see sameTransaction
    timers: { T1: 50, T2: 400, T4: 200, waitMs: 100 },
  });
  return { edge, hop };
}

/**
 * Many torture messages share a top Via (branch z9hG4bKkdjuw and sent-by): while the first one's server
 * transaction lives, the next is its retransmission (RFC 3261 section 17.2.3) and gets its answer
 * again. Before such a message, wait until the edge holds no transaction.
 */
function sameTransaction(edge: EdgeHandle): (raw: Buffer) => Promise<void> {
  const seen = new Set<string>();
  return async (raw) => {
    const text = raw.toString('latin1');
    const via = /^(?:via|v)[ \t]*:(.*)$/im.exec(text.slice(0, text.search(/\r?\n\r?\n/)))?.[1];
    if (via === undefined) return;
    const key = via.replace(/\s+/g, '');
    if (!seen.has(key)) {
      seen.add(key);
      return;
    }
    while ((await edge.metric('sipfleet_active_transactions')) > 0) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
}

function outcome(name: string, protocol: 'udp' | 'tcp'): Outcome {
  const want = OUTCOMES[name];
  assert.ok(want !== undefined, `no outcome for ${name}`);
  return Array.isArray(want) ? want[protocol === 'udp' ? 0 : 1] : want;
}

describe(
  'RFC 4475: every torture message against a real edge',
  { concurrency: 1, timeout: 180_000 },
  () => {
    test('the table covers the 49 messages of the corpus', () => {
      assert.equal(messages.length, 49);
      assert.deepEqual(messages.map((m) => m.name).sort(), Object.keys(OUTCOMES).sort());
    });

    test('over UDP', async (t) => {
      const { edge, hop } = await setUp(t);
      const socket: UdpSocket = createSocket('udp4');
      socket.bind(5060, CLIENT_ADDRESS);
      await once(socket, 'listening');
      t.after(() => new Promise<void>((resolve) => socket.close(() => resolve())));
      const inbox = new Inbox();
      socket.on('message', (data) => inbox.push(data));
      const send = (bytes: Buffer) => socket.send(bytes, edge.port, '127.0.0.1');
      const settle = sameTransaction(edge);
      for (const { name, raw } of messages) {
        await settle(raw);
        send(raw);
        await expectOutcome(inbox, name, raw, outcome(name, 'udp'), hop, () => {
          const p = probe('UDP');
          send(p.bytes);
          return p.callId;
        });
      }
    });

    test('over TCP, one connection per message', async (t) => {
      const { edge, hop } = await setUp(t);
      const settle = sameTransaction(edge);
      for (const { name, raw } of messages) {
        await settle(raw);
        const want = outcome(name, 'tcp');
        const inbox = new Inbox();
        const conn: TcpSocket = connect(edge.port, '127.0.0.1');
        await once(conn, 'connect');
        t.after(() => void conn.destroy());
        let pending = Buffer.alloc(0);
        conn.on('data', (data: Buffer) => {
          // Our probes and the edge's answers all carry Content-Length: frame on it.
          pending = Buffer.concat([pending, data]);
          for (;;) {
            const end = pending.indexOf('\r\n\r\n');
            if (end < 0) return;
            const length = Number(
              /\r\ncontent-length:\s*(\d+)/i.exec(
                pending.subarray(0, end).toString('latin1'),
              )?.[1] ?? 0,
            );
            if (pending.length < end + 4 + length) return;
            inbox.push(pending.subarray(0, end + 4 + length));
            pending = pending.subarray(end + 4 + length);
          }
        });
        conn.on('close', () => {
          inbox.closed = true;
          inbox.notify();
        });
        conn.write(raw);
        if (want === 'waits') {
          // The edge is still reading the body: a probe on a second connection is answered meanwhile.
          await expectWaiting(edge, conn, inbox, name);
          conn.destroy();
          continue;
        }
        await expectOutcome(inbox, name, raw, want, hop, () => {
          const p = probe('TCP');
          conn.write(p.bytes);
          return p.callId;
        });
        conn.destroy();
      }
    });
  },
);

/** A second connection's probe is answered while the first, with its body still owed, got nothing. */
async function expectWaiting(
  edge: EdgeHandle,
  conn: TcpSocket,
  inbox: Inbox,
  name: string,
): Promise<void> {
  const other = connect(edge.port, '127.0.0.1');
  await once(other, 'connect');
  const p = probe('TCP');
  other.write(p.bytes);
  let got = '';
  for await (const chunk of other) {
    got += (chunk as Buffer).toString('latin1');
    if (got.includes(p.callId) && /\r\n\r\n/.test(got)) break;
  }
  other.destroy();
  assert.match(got, /^SIP\/2\.0 483 /);
  assert.equal(inbox.responses.length, 0, `${name}: no answer before the body came`);
  assert.equal(conn.destroyed || inbox.closed, false, `${name}: the connection stays open`);
}
