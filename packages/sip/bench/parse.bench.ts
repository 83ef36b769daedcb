// Parse / proxy-touch / serialise throughput for a typical INVITE with SDP and a 200 OK.
// Run: node --import tsx packages/sip/bench/parse.bench.ts   (prints figures; asserts nothing)
import { performance } from 'node:perf_hooks';
import { parseMessage } from '../src/index.js';
import { INVITE, OK200 } from '../test/helpers.js';

const DURATION_MS = 1500;

function measure(label: string, fn: () => void): void {
  for (let k = 0; k < 20_000; k++) fn(); // warm-up: let the JIT settle
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < DURATION_MS) {
    for (let k = 0; k < 1000; k++) fn();
    n += 1000;
    now = performance.now();
  }
  const rate = (n / (now - start)) * 1000;
  console.log(`${label.padEnd(44)} ${Math.round(rate).toLocaleString('en-US').padStart(12)} msg/s`);
}

/** What the edge does on every relayed message (RFC 3261 section 16.6 / 16.7). */
function proxyTouch(data: Buffer): Buffer {
  const m = parseMessage(data);
  void m.topVia?.branch;
  void m.callId;
  void m.cseq.seq;
  void m.to.tag;
  if (m.maxForwards !== undefined) {
    m.setHeader('Max-Forwards', String(m.maxForwards - 1));
    m.prependHeader('Via', 'SIP/2.0/UDP edge1.example.net:5060;branch=z9hG4bK1f2e3d4c5b6a7980');
  } else {
    m.removeFirstValue('via'); // a response climbing back: pop our Via
  }
  return m.toBuffer();
}

const invite = Buffer.from(INVITE, 'latin1');
const ok = Buffer.from(OK200, 'latin1');
console.log(`INVITE ${invite.length} bytes, 200 OK ${ok.length} bytes, node ${process.version}`);
measure('INVITE parse only', () => parseMessage(invite));
measure('INVITE parse + touch + toBuffer', () => proxyTouch(invite));
measure('200 OK parse only', () => parseMessage(ok));
measure('200 OK parse + touch + toBuffer', () => proxyTouch(ok));
measure('INVITE parse + toBuffer (untouched)', () => parseMessage(invite).toBuffer());
