// The stack fuzzer: generated and mutated messages (./messages.ts) through the real receive path of
// an edge (SipEndpoint: parse, received/rport, stateless answers), its transaction layer and the
// proxy core, relaying to in-memory UASes built on the same layers, over an InMemoryNetwork on a
// ManualClock, as the edge wires them (services/sipfleet/src/edge/edge.ts). The transaction timers
// keep their RFC values (Timers D/J/L/M 32 s, not the edge's 5 s wait): more live at once. Invariants:
//   - nothing is thrown out of a receive path, a timer or the network, and the endpoints never
//     report a failure that is not a parse error (what the edge logs as a bug);
//   - no unhandled rejection or uncaught exception;
//   - once the input stops and the clock has passed every timer, no transaction is left anywhere
//     and no timer is pending;
//   - the heap after GC stays bounded: the last tenth of the run is not far above the first, and
//     after the drain it is back near where it started.
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { defaultRoute, ProxyCore } from '@sipfleet/proxy';
import type { RoutingHooks } from '@sipfleet/proxy';
import {
  createAckForNon2xx,
  createCancel,
  createResponse,
  parseMessage,
  SipErrorCode,
  SipParseError,
  SipRequest,
} from '@sipfleet/sip';
import { ManualClock, SipEndpoint, TransactionLayer } from '@sipfleet/transaction';
import type { ServerTransaction } from '@sipfleet/transaction';
import { InMemoryNetwork } from '@sipfleet/transport';
import type { InMemoryEndpoint, RemoteInfo } from '@sipfleet/transport';
import { pino } from 'pino';
import type { Mutation } from '../../packages/sip/test/arbitraries.js';
import {
  action,
  DEAD_ADDRESS,
  PROXY,
  PROXY_ALIAS,
  requestText,
  SEEDS,
  UAS_ADDRESSES,
  uasScripts,
} from './messages.js';
import type { Action, FollowUp, Source } from './messages.js';

export interface FuzzOptions {
  /** Messages to deliver to the receive paths. */
  count: number;
  /** fast-check seed (int32); the run is a function of it, apart from the product's random tags and branches. */
  seed: number;
  /** Simulated time between two messages, in ms. @default 10 */
  stepMs?: number;
  /** Where messages that broke an invariant are written. @default a directory under os.tmpdir() */
  outDir?: string;
  /**
   * Heap growth allowed between the first and the last tenth of the run (maxima of the heap after
   * GC in each), and between the start and the end of the drain. @default 32 MiB
   */
  heapGrowthBytes?: number;
  /**
   * What the UASes answer, `[delay ms, status]` steps, one script drawn per request. A script
   * without a final response leaves the UAS's transaction waiting forever: the tests use that to
   * check the leak check. @default uasScripts (./messages.ts)
   */
  scripts?: readonly (readonly (readonly [number, number])[])[];
  /** Called about every 2% of the run. */
  progress?: (p: Progress) => void;
}

export interface Progress {
  messages: number;
  seconds: number;
  heapAfterGc: number;
  live: { server: number; client: number };
}

export interface FuzzReport {
  seed: number;
  messages: number;
  seconds: number;
  perSecond: number;
  /** Messages by kind of action that produced them. */
  kinds: Record<string, number>;
  /** Throws out of a receive path, a timer or the network; bug reports from the endpoints. */
  escapes: number;
  /** Error lines the proxy logged, by message ('routing hook failed' is the fuzz hooks' own). */
  errorLogs: Record<string, number>;
  /** The proxy's observer: requests taken, branches relayed, own answers, hook errors, responses for itself. */
  proxy: World['proxyEvents'];
  /** Stateless answers from the endpoint, and messages it dropped as unparseable. */
  answered: number;
  dropped: number;
  /** Live transactions after the drain, proxy and UASes together. */
  leaked: { server: number; client: number };
  timersLeft: number;
  /** Highest live transaction count seen while the input ran. */
  peakLive: number;
  peakRss: number;
  peakHeap: number;
  /** Heap after GC: at the start, maxima in the first and last tenth, after the drain. */
  heap: { start: number; firstTenth: number; lastTenth: number; afterDrain: number };
  violations: string[];
  outDir: string;
}

/** `global.gc`, also when node was started without --expose-gc (the test runner). */
function gcFunction(): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed !== undefined) return exposed;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

const sipUri = (address: string): string => `sip:${address}:5060`;

function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** mulberry32: the UASes' choices, reproducible from the seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/**
 * The routing program: by Call-ID, the default route (with the UAS as outbound proxy, so in-dialog
 * requests go there too), a parallel fork to two UASes, a relay to a dead address that fails over on
 * 408/5xx, or an async hook. Every next hop is an IP literal: no DNS.
 */
function routing(): RoutingHooks {
  const [a, b, c] = UAS_ADDRESSES.map(sipUri) as [string, string, string];
  const plain = defaultRoute({ destination: a });
  return {
    async request(ctx) {
      switch (hash(ctx.callId) % 4) {
        case 0:
          ctx.setDestination(a);
          return plain.request?.(ctx);
        case 1:
          ctx.recordRoute({ fork: '1' });
          ctx.setDestination(a);
          ctx.appendBranch(b, b);
          ctx.relay();
          return;
        case 2:
          ctx.setDestination(sipUri(DEAD_ADDRESS));
          ctx.setTimers({ frTimerMs: 2_000, frInvTimerMs: 5_000 });
          ctx.relay();
          return;
        default:
          await Promise.resolve();
          ctx.setDestination(b);
          ctx.relay();
      }
    },
    failure(ctx) {
      if (ctx.isCanceled() || ctx.vars.has('failover') || !ctx.checkStatus('5[0-9][0-9]|408'))
        return;
      ctx.vars.set('failover', true);
      ctx.setDestination(c);
      ctx.relay();
    },
    reply(ctx) {
      if (ctx.status === 183 && hash(ctx.destination) % 2 === 0) ctx.drop();
    },
  };
}

/** The last `size` items pushed. */
class Ring<T> {
  readonly #items: T[] = [];
  #next = 0;
  constructor(readonly size: number) {}
  push(item: T): void {
    if (this.#items.length < this.size) this.#items.push(item);
    else this.#items[this.#next] = item;
    this.#next = (this.#next + 1) % this.size;
  }
  /** Half the picks go to the last 4 items pushed: those are the ones most likely still live. */
  pick(n: number): T | undefined {
    const length = this.#items.length;
    if (length === 0) return undefined;
    const back = n % 2 === 0 ? (n >> 1) % Math.min(4, length) : (n >> 1) % length;
    return this.#items[(this.#next - 1 - back + 2 * length) % length];
  }
}

interface Delivery {
  data: Buffer;
  remote: RemoteInfo;
}

/** A UAS on the real transaction layer and receive path, answering each request by a drawn script. */
class Uas {
  readonly endpoint: InMemoryEndpoint;
  readonly layer: TransactionLayer;

  constructor(
    readonly world: World,
    readonly address: string,
    random: () => number,
  ) {
    const { clock } = world;
    this.endpoint = world.net.endpoint(address, 5060);
    this.layer = new TransactionLayer({
      sender: this.endpoint,
      clock,
      trying: 'after200ms',
      user: {
        onRequest: (req, tx) => {
          if (tx !== null) this.answer(req, tx, random());
        },
        onCancel: (_cancel, inviteTx) => {
          if (inviteTx.finalStatus === undefined)
            inviteTx.respond(createResponse(inviteTx.request, 487, undefined, { toTag: 'uas' }));
        },
        onStrayResponse: () => undefined,
      },
    });
    const receivePath = new SipEndpoint({
      sender: this.endpoint,
      transactions: this.layer,
      observer: world.observer(`uas ${address}`),
    });
    this.endpoint.onMessage = (data, remote) => {
      // requests only (a stateless answer from the proxy lands here too); as the proxy sees us
      if (!isResponse(data))
        world.relayed.push({
          data,
          remote: { ...remote, address, port: 5060, local: { ...PROXY } },
        });
      world.deliver(`uas ${address}`, receivePath, data, remote);
    };
  }

  private answer(req: SipRequest, tx: ServerTransaction, draw: number): void {
    const scripts = this.world.scripts;
    const script = scripts[draw % scripts.length] ?? [];
    const toTag = `u${draw.toString(36)}`;
    for (const [delay, status] of script) {
      this.world.clock.setTimeout(() => {
        if (tx.finalStatus !== undefined) return;
        const res = createResponse(req, status, undefined, { toTag });
        if (status < 300) res.setHeader('Contact', `<sip:uas@${this.address}>`);
        for (const rr of req.getHeaders('record-route')) res.appendHeader('Record-Route', rr);
        tx.respond(res);
      }, delay);
    }
  }
}

/** The stack under test and the fuzzer's bookkeeping around it. */
class World {
  readonly net = new InMemoryNetwork();
  readonly clock = new ManualClock(0);
  readonly proxy: ProxyCore;
  readonly endpoint: SipEndpoint;
  readonly uases: Uas[];
  /** INVITEs the fuzzer sent intact, for CANCEL, ACK, retransmissions and BYE. */
  readonly sent = new Ring<Delivery>(512);
  /** Requests the UASes received from the proxy: their responses match live client transactions. */
  readonly relayed = new Ring<Delivery>(512);
  readonly errorLogs: Record<string, number> = {};
  /** What the proxy reported through its observer (what the edge turns into metrics). */
  readonly proxyEvents = {
    requests: 0,
    /** CANCELs that found their INVITE's transaction (the layer answers the others 481 itself). */
    cancels: 0,
    relayed: 0,
    answered: 0,
    hookErrors: 0,
    noUpstreamVia: 0,
  };
  escapes = 0;
  answered = 0;
  dropped = 0;
  readonly violations: string[] = [];
  /** The bytes being handled, for the reproduction file of whatever goes wrong. */
  current: Buffer | undefined;
  #saved = 0;

  constructor(
    readonly seed: number,
    readonly outDir: string,
    readonly scripts: NonNullable<FuzzOptions['scripts']>,
  ) {
    const proxyEndpoint = this.net.endpoint(PROXY.address, PROXY.port);
    const errorLogs = this.errorLogs;
    const log = pino(
      { level: 'error' },
      {
        write(line: string) {
          const msg = (JSON.parse(line) as { msg?: string }).msg ?? '?';
          errorLogs[msg] = (errorLogs[msg] ?? 0) + 1;
        },
      },
    );
    this.proxy = new ProxyCore({
      sender: proxyEndpoint,
      hooks: routing(),
      options: {
        aliases: [PROXY_ALIAS],
        sentBy: { udp: proxyEndpoint.sentBy(), tcp: proxyEndpoint.sentBy() },
      },
      log,
      clock: this.clock,
      observer: {
        requestReceived: (method) => {
          this.proxyEvents.requests++;
          if (method === 'CANCEL') this.proxyEvents.cancels++;
        },
        responseSent: () => this.proxyEvents.answered++,
        relayLatency: () => this.proxyEvents.relayed++,
        hookError: () => this.proxyEvents.hookErrors++,
        responseDropped: () => this.proxyEvents.noUpstreamVia++,
      },
    });
    this.endpoint = new SipEndpoint({
      sender: proxyEndpoint,
      transactions: this.proxy.transactions,
      observer: this.observer('proxy'),
    });
    proxyEndpoint.onMessage = (data, remote) => this.deliver('proxy', this.endpoint, data, remote);
    const random = prng(seed);
    this.uases = UAS_ADDRESSES.map((address) => new Uas(this, address, random));
  }

  /**
   * What the edge's receive observer would log as a bug is an escape here. So is a request from the
   * proxy that a UAS's parser refuses for anything but its limits (the proxy adds a Via and a
   * Record-Route): the proxy only relays what it parsed, so it sent something it made malformed.
   */
  observer(where: string): ConstructorParameters<typeof SipEndpoint>[0]['observer'] {
    return {
      parseError: (verdict, err) => {
        if (where === 'proxy') {
          if (verdict === 'answered') this.answered++;
          else this.dropped++;
        }
        if (!(err instanceof SipParseError)) this.escape(`${where}: non-parse error`, err);
        else if (
          where !== 'proxy' &&
          err.code !== SipErrorCode.LIMIT &&
          this.current !== undefined &&
          !isResponse(this.current)
        )
          this.escape(`${where}: the proxy sent a request its parser refuses`, err);
      },
      processingFailed: (err) => this.escape(`${where}: processing failed`, err),
    };
  }

  deliver(where: string, endpoint: SipEndpoint, data: Buffer, remote: RemoteInfo): void {
    const outer = this.current;
    this.current = data;
    try {
      endpoint.receive(data, remote);
    } catch (err) {
      this.escape(`${where}: thrown out of receive`, err);
    }
    this.current = outer;
  }

  escape(what: string, err: unknown): void {
    this.escapes++;
    const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
    if (this.#saved >= 20) return;
    const n = ++this.#saved;
    mkdirSync(this.outDir, { recursive: true });
    const base = join(this.outDir, `escape-${this.seed}-${n}`);
    if (this.current !== undefined) writeFileSync(`${base}.sip`, this.current);
    writeFileSync(`${base}.txt`, `${what}\n${detail}\n`);
    this.violations.push(`${what}: ${detail.split('\n')[0] ?? ''} (${base}.*)`);
  }

  /** Moves simulated time (timers fire) and delivers what was sent meanwhile. */
  step(ms: number): void {
    const end = this.clock.now() + ms;
    for (;;) {
      this.current = undefined;
      try {
        // A timer that throws stops advance() at its due time; go on from there.
        this.clock.advance(end - this.clock.now());
        break;
      } catch (err) {
        this.escape('timer callback threw', err);
      }
    }
    try {
      this.net.flush();
    } catch (err) {
      this.escape('network flush threw', err);
    }
  }

  get live(): { server: number; client: number } {
    let server = 0;
    let client = 0;
    for (const c of [this.proxy.transactions.counts, ...this.uases.map((u) => u.layer.counts)]) {
      server += c.server;
      client += c.client;
    }
    return { server, client };
  }

  /**
   * The messages one action stands for. Building a follow-up with the product's own builders
   * (createResponse, createCancel) from a message the stack accepted must work: a throw there is a
   * message the stack takes in but cannot answer, an escape like the others.
   */
  concrete(a: Action): Delivery[] {
    try {
      return this.materialize(a);
    } catch (err) {
      this.escape('building a follow-up of a message the stack accepted threw', err);
      return [];
    }
  }

  private materialize(a: Action): Delivery[] {
    switch (a.kind) {
      case 'request': {
        const data = apply(Buffer.from(requestText(a.fields), 'latin1'), a.mutations);
        const remote = remoteOf(a.from);
        if (a.fields.method === 'INVITE' && a.mutations.length === 0)
          this.sent.push({ data, remote });
        return [{ data, remote }];
      }
      case 'response':
        return [
          { data: apply(Buffer.from(a.text, 'latin1'), a.mutations), remote: remoteOf(a.from) },
        ];
      case 'seed':
        return [{ data: apply(SEEDS[a.seed] as Buffer, a.mutations), remote: remoteOf(a.from) }];
      case 'bytes':
        return [{ data: Buffer.from(a.bytes), remote: remoteOf(a.from) }];
      case 'follow-up': {
        const sent = this.sent.pick(a.pick);
        this.current = sent?.data;
        const invite = sent === undefined ? undefined : parseMessage(sent.data);
        if (sent === undefined || !(invite instanceof SipRequest)) return this.fallback(a);
        return [
          {
            data: apply(followUp(invite, a.what, a.toTag, sent.data), a.mutations),
            remote: sent.remote,
          },
        ];
      }
      case 'answer': {
        const relayed = this.relayed.pick(a.pick);
        this.current = relayed?.data;
        const req = relayed === undefined ? undefined : parseOrUndefined(relayed.data);
        if (relayed === undefined || !(req instanceof SipRequest) || req.method === 'ACK')
          return this.fallback(a);
        return a.statuses.map((status) => {
          const res = createResponse(req, status, undefined, { toTag: a.toTag });
          if (status >= 200 && status < 300)
            res.setHeader('Contact', `<sip:uas@${relayed.remote.address}>`);
          return { data: apply(res.toBuffer(), a.mutations), remote: relayed.remote };
        });
      }
    }
  }

  /** Nothing live to refer to yet: a seed message instead. */
  private fallback(a: { pick: number; mutations: Mutation[] }): Delivery[] {
    return [
      {
        data: apply(SEEDS[a.pick % SEEDS.length] as Buffer, a.mutations),
        remote: remoteOf({ protocol: 'udp', address: '192.0.2.1', port: 5060, connectionId: null }),
      },
    ];
  }
}

const SIP_VERSION = Buffer.from('SIP/');

function isResponse(data: Buffer): boolean {
  return data.subarray(0, 4).equals(SIP_VERSION);
}

/** A relayed request the UAS refused was reported when it arrived (see World.observer). */
function parseOrUndefined(data: Buffer): ReturnType<typeof parseMessage> | undefined {
  try {
    return parseMessage(data);
  } catch (err) {
    if (err instanceof SipParseError) return undefined;
    throw err;
  }
}

function apply(data: Buffer, mutations: Mutation[]): Buffer {
  return mutations.reduce((b, m) => m(b), data);
}

function remoteOf(s: Source): RemoteInfo {
  const remote: RemoteInfo = {
    protocol: s.protocol,
    address: s.address,
    port: s.port,
    family: s.address.includes(':') ? 'IPv6' : 'IPv4',
    local: { ...PROXY },
  };
  if (s.protocol === 'tcp' && s.connectionId !== null) remote.connectionId = s.connectionId;
  return remote;
}

/** RFC 3261 section 9.1 CANCEL, 17.1.1.3 ACK, a 2xx ACK and a BYE in the dialog, or the same bytes. */
function followUp(invite: SipRequest, what: FollowUp, toTag: string, bytes: Buffer): Buffer {
  switch (what) {
    case 'retransmit':
      return bytes;
    case 'cancel':
      return createCancel(invite).toBuffer();
    case 'ack':
      return createAckForNon2xx(
        invite,
        createResponse(invite, 487, undefined, { toTag }),
      ).toBuffer();
    default: {
      const req = createAckForNon2xx(invite, createResponse(invite, 200, undefined, { toTag }));
      req.removeFirstValue('via');
      req.prependHeader('Via', `SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK${what}${toTag}`);
      req.prependHeader('Route', `<sip:${PROXY.address}:${PROXY.port};lr>`);
      req.setUri(`sip:uas@${UAS_ADDRESSES[0]}`);
      if (what === 'bye') {
        const text = req
          .toString()
          .replace(/^ACK /, 'BYE ')
          .replace(/^CSeq: (\d+) ACK/m, (_m, n: string) => `CSeq: ${Number(n) + 1} BYE`);
        return Buffer.from(text, 'latin1');
      }
      return req.toBuffer();
    }
  }
}

/**
 * Runs `count` messages through the stack, then drains it and checks the invariants. Resolves with
 * the figures and the violations; the caller decides what a violation does to its exit code.
 */
export async function fuzz(opts: FuzzOptions): Promise<FuzzReport> {
  const stepMs = opts.stepMs ?? 10;
  const growth = opts.heapGrowthBytes ?? 32 * 1024 * 1024;
  const outDir = opts.outDir ?? join(tmpdir(), `sipfleet-fuzz-${opts.seed}`);
  const gc = gcFunction();
  const world = new World(opts.seed, outDir, opts.scripts ?? uasScripts);
  const onRejection = (err: unknown): void => {
    world.violations.push(`unhandled rejection: ${String(err)}`);
  };
  const onException = (err: unknown): void => {
    world.violations.push(`uncaught exception: ${String(err)}`);
  };
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);

  const kinds: Record<string, number> = {};
  const samples: { at: number; heap: number }[] = [];
  let peakRss = 0;
  let peakHeap = 0;
  let peakLive = 0;
  const measure = (): void => {
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed);
    const live = world.live;
    peakLive = Math.max(peakLive, live.server + live.client);
  };
  const heapAfterGc = (): number => {
    gc();
    return process.memoryUsage().heapUsed;
  };

  const started = performance.now();
  const startHeap = heapAfterGc();
  const sampleEvery = Math.max(1, Math.floor(opts.count / 50));
  let nextSample = sampleEvery;
  let messages = 0;
  let actions = 0;
  try {
    while (messages < opts.count) {
      // One fast-check sample per batch, seeded from the run's seed and the position.
      const batch = fc.sample(action, { seed: (opts.seed + messages) | 0, numRuns: 256 });
      for (const a of batch) {
        if (messages >= opts.count) break;
        for (const { data, remote } of world.concrete(a).slice(0, opts.count - messages)) {
          world.deliver('proxy', world.endpoint, data, remote);
          kinds[a.kind] = (kinds[a.kind] ?? 0) + 1;
          messages++;
          world.step(stepMs);
        }
        // Let promise callbacks (next-hop resolution, the async hook) run, as the event loop would.
        if (++actions % 8 === 0) {
          await tick();
          world.step(0);
        }
        if (messages >= nextSample) {
          nextSample += sampleEvery;
          measure();
          samples.push({ at: messages, heap: heapAfterGc() });
          opts.progress?.({
            messages,
            seconds: (performance.now() - started) / 1000,
            heapAfterGc: samples.at(-1)?.heap ?? 0,
            live: world.live,
          });
        }
      }
      // The network's packet log is for tests' assertions; here it would only grow.
      world.net.log.length = 0;
      measure();
    }
    const seconds = (performance.now() - started) / 1000;

    // Drain: past fr_inv_timer (120 s), Timer C's CANCEL and 64*T1, the wait timer and the UAS delays.
    for (let t = 0; t < 300_000; t += 1_000) {
      world.step(1_000);
      await tick();
    }
    world.step(0);
    const leaked = world.live;
    const timersLeft = world.clock.pending;
    const afterDrain = heapAfterGc();
    const tenth = Math.max(1, Math.floor(opts.count / 10));
    const maxHeap = (from: number, to: number): number =>
      Math.max(0, ...samples.filter((s) => s.at > from && s.at <= to).map((s) => s.heap));
    const heap = {
      start: startHeap,
      firstTenth: maxHeap(0, tenth),
      lastTenth: maxHeap(opts.count - tenth, opts.count),
      afterDrain,
    };
    const violations = world.violations;
    if (leaked.server + leaked.client > 0)
      violations.push(`transactions left after the drain: ${JSON.stringify(leaked)}`);
    if (timersLeft > 0) violations.push(`timers left after the drain: ${timersLeft}`);
    if (heap.firstTenth > 0 && heap.lastTenth > heap.firstTenth + growth)
      violations.push(
        `heap grew from ${mib(heap.firstTenth)} (first tenth) to ${mib(heap.lastTenth)} (last tenth)`,
      );
    if (heap.afterDrain > heap.start + growth)
      violations.push(
        `heap after the drain ${mib(heap.afterDrain)}, at the start ${mib(heap.start)}`,
      );
    return {
      seed: opts.seed,
      messages,
      seconds,
      perSecond: messages / seconds,
      kinds,
      escapes: world.escapes,
      errorLogs: world.errorLogs,
      proxy: world.proxyEvents,
      answered: world.answered,
      dropped: world.dropped,
      leaked,
      timersLeft,
      peakLive,
      peakRss,
      peakHeap,
      heap,
      violations,
      outDir,
    };
  } finally {
    world.endpoint.close();
    for (const uas of world.uases) uas.layer.close();
    process.off('unhandledRejection', onRejection);
    process.off('uncaughtException', onException);
  }
}

export function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
