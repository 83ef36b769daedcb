// Parse / proxy-touch / serialise throughput for a typical INVITE with SDP and a 200 OK, the CPU time and
// the heap each message allocates. Prints figures; asserts nothing.
// Run: node --import tsx packages/sip/bench/parse.bench.ts
import { Session } from 'node:inspector';
import { performance } from 'node:perf_hooks';
import { parseMessage } from '../src/index.js';
import { INVITE, OK200 } from '../test/helpers.js';

const DURATION_MS = 1500;
const session = new Session();
session.connect();

/** inspector.Session.post, whose callback runs synchronously on the main thread. */
function post(method: string, params: object = {}): unknown {
  let result: unknown;
  let error: Error | null = null;
  session.post(method, params, (err, res) => {
    error = err;
    result = res;
  });
  if (error !== null) throw error as Error;
  return result;
}

interface SamplingNode {
  selfSize: number;
  children: SamplingNode[];
}

/**
 * Bytes allocated per call, garbage included: V8's sampling heap profiler at a 64-byte interval, told to
 * keep the samples of objects the GC has freed since (heapUsed deltas are too coarse for this).
 */
function allocated(fn: () => unknown): number {
  const N = 20_000;
  post('HeapProfiler.startSampling', {
    samplingInterval: 64,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  for (let k = 0; k < N; k++) fn();
  const { profile } = post('HeapProfiler.stopSampling') as { profile: { head: SamplingNode } };
  let total = 0;
  const walk = (node: SamplingNode): void => {
    total += node.selfSize;
    for (const child of node.children) walk(child);
  };
  walk(profile.head);
  return total / N;
}

function measure(label: string, fn: () => unknown): void {
  for (let k = 0; k < 20_000; k++) fn(); // warm-up: let the JIT settle
  let n = 0;
  const start = performance.now();
  const cpu = process.cpuUsage();
  let now = start;
  while (now - start < DURATION_MS) {
    for (let k = 0; k < 1000; k++) fn();
    n += 1000;
    now = performance.now();
  }
  const rate = (n / (now - start)) * 1000;
  // CPU time (this process, GC threads included) is steadier than wall clock on a shared box
  const used = process.cpuUsage(cpu);
  const cpuUs = (used.user + used.system) / n;
  const bytes = allocated(fn);
  console.log(
    `${label.padEnd(40)} ${Math.round(rate).toLocaleString('en-US').padStart(10)} msg/s` +
      `  ${cpuUs.toFixed(2).padStart(6)} µs CPU/msg` +
      (bytes === undefined
        ? ''
        : `  ${Math.round(bytes).toLocaleString('en-US').padStart(6)} B/msg`),
  );
}

/**
 * What the edge does on every relayed message (RFC 3261 section 16.6 / 16.7): a request has its routing
 * headers read, Max-Forwards decremented, Record-Route and Via prepended; a response has its Via popped.
 */
function proxyTouch(data: Buffer): Buffer {
  const m = parseMessage(data);
  void m.topVia?.branch;
  void m.callId;
  void m.cseq.seq;
  void m.from.tag;
  void m.to.tag;
  if (m.maxForwards !== undefined) {
    void m.routes.length;
    m.setHeader('Max-Forwards', String(m.maxForwards - 1));
    m.prependHeader('Record-Route', '<sip:edge1.example.net;lr>');
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
measure('INVITE parse + clone', () => parseMessage(invite).clone());
