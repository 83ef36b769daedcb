// The short run of the stack fuzzer (`npm run fuzz` does 10^6 messages): a fixed seed, so a
// regression shows up the same way every time, and a fresh one, printed, so each run also looks
// somewhere new. Rerun a failure with `npm run fuzz -- --count 7500 --seed <seed>`. Below it, the
// faults the fuzzer found, each pinned as a plain case.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ProxyCore } from '@sipfleet/proxy';
import { ManualClock, SipEndpoint } from '@sipfleet/transaction';
import { InMemoryNetwork } from '@sipfleet/transport';
import { pino } from 'pino';
import { fuzz } from './fuzz.js';

const COUNT = 7_500;

async function run(seed: number): Promise<void> {
  const report = await fuzz({ count: COUNT, seed });
  assert.equal(report.messages, COUNT);
  assert.deepEqual(report.violations, [], `seed ${seed}: messages in ${report.outDir}`);
  assert.equal(report.escapes, 0);
  assert.deepEqual(report.leaked, { server: 0, client: 0 });
  // The run reached every layer: requests relayed by the proxy, stateless answers, drops.
  assert.ok(report.proxy.relayed > COUNT / 10, `relayed ${report.proxy.relayed}`);
  assert.ok(report.answered > 0 && report.dropped > 0);
}

describe('stack fuzzer, short run', () => {
  test(`${COUNT} messages with the fixed seed 20261201`, () => run(20261201));

  const seed = (Math.random() * 0x7fffffff) | 0;
  test(`${COUNT} messages with the fresh seed ${seed}`, () => run(seed));
});

test('the leak check sees a transaction left behind (UASes that never answer)', async () => {
  const report = await fuzz({ count: 300, seed: 1, scripts: [[]] });
  assert.ok(report.leaked.server > 0, JSON.stringify(report.leaked));
  assert.ok(report.violations.some((v) => v.startsWith('transactions left after the drain')));
});

/** The proxy as the edge wires it, relaying everything to 10.0.1.1. */
function proxyStack() {
  const net = new InMemoryNetwork();
  const clock = new ManualClock();
  const sender = net.endpoint('10.0.0.2', 5060);
  const proxy = new ProxyCore({
    sender,
    hooks: {
      request(ctx) {
        ctx.setDestination('sip:10.0.1.1');
        ctx.relay();
      },
    },
    options: { sentBy: { udp: sender.sentBy() } },
    log: pino({ level: 'silent' }),
    clock,
  });
  const parseErrors: unknown[] = [];
  const endpoint = new SipEndpoint({
    sender,
    transactions: proxy.transactions,
    observer: { parseError: (action, err) => parseErrors.push([action, (err as Error).message]) },
  });
  const receive = (lines: string[]): void =>
    endpoint.receive(Buffer.from([...lines, 'Content-Length: 0', '', ''].join('\r\n'), 'latin1'), {
      protocol: 'udp',
      address: '192.0.2.1',
      port: 5060,
      family: 'IPv4',
      local: { address: '10.0.0.2', port: 5060 },
    });
  /** First lines of what went out, to whom. */
  const sent = (): string[] =>
    net.log.map((p) => `${p.to.address} ${p.data.toString('latin1').split('\r\n')[0] ?? ''}`);
  return { net, clock, proxy, endpoint, parseErrors, receive, sent };
}

describe('what the fuzzer found', () => {
  test('a request with a bare CR inside a header field leaves no transaction behind', () => {
    const { clock, proxy, endpoint, parseErrors, receive } = proxyStack();
    // Max-Forwards 0: the proxy itself must answer (483), which the builders cannot do with the CR.
    receive([
      'OPTIONS sip:bob@10.0.1.1 SIP/2.0',
      'Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKcr',
      'Max-Forwards: 0',
      'From: "Al\rice" <sip:alice@example.com>;tag=1',
      'To: <sip:bob@example.com>',
      'Call-ID: cr@fuzz',
      'CSeq: 1 OPTIONS',
    ]);
    clock.advance(64 * 500 + 5_000);
    assert.deepEqual(parseErrors, [['dropped', 'bare CR in a header field']]);
    assert.deepEqual(proxy.transactions.counts, { server: 0, client: 0 });
    endpoint.close();
  });

  test('a last Route that is no URI is not made the Request-URI (RFC 3261 16.4): 400 Bad Route', () => {
    const { net, endpoint, receive, sent } = proxyStack();
    // The Request-URI is the proxy itself, as a strict router before it leaves it: the last Route
    // would become the Request-URI, and its control character would go downstream.
    receive([
      'INVITE sip:10.0.0.2 SIP/2.0',
      'Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKroute',
      'Max-Forwards: 70',
      'From: <sip:alice@example.com>;tag=1',
      'To: <sip:bob@example.com>',
      'Call-ID: route@fuzz',
      'CSeq: 1 INVITE',
      'Route: <sip:10.0.0.2;lr>',
      'Route: <sip:10.\x13.0.2;lr>',
    ]);
    net.flush();
    assert.deepEqual(sent(), ['192.0.2.1 SIP/2.0 100 Trying', '192.0.2.1 SIP/2.0 400 Bad Route']);
    endpoint.close();
  });
});
