// The prober: OPTIONS keepalives for dispatcher and keepalive-module destinations, spread over
// any number of prober processes with BullMQ, results applied to the fleet's state in Redis.
//
// BullMQ design (queue `ping` under the `<prefix>:{probe}` prefix, one hash tag = one Cluster slot):
// - Each dispatcher set is cut into shards of at most `shardSize` destinations (by a hash of the
//   URI, so a shard keeps its members when others come and go). One job scheduler per shard
//   (`ds:<setid>:<shard>/<shards>`, `every` = ping interval) creates one job per interval; the job
//   pings the shard and records the results. 2,000 destinations at 50 per shard are 40 jobs per
//   interval, not 2,000: BullMQ's per-job cost (~10 commands) is paid per shard.
// - Every scheduler gets a stable offset inside the interval (hash of its id), so the shards'
//   pings are spread over the interval instead of bursting at its start.
// - Job ids are BullMQ's deterministic `repeat:<scheduler>:<millis>`: however many probers run,
//   each iteration exists once and is processed by exactly one worker; a restart finds the
//   schedulers in Redis and neither loses nor doubles them (reconcile only writes differences).
// - BullMQ schedules iteration N+1 when a worker takes iteration N, so when a prober dies its
//   next iterations are already queued and the surviving probers take them on time. Its
//   unfinished job is found stalled (lock lost after lockDuration) and re-run; a re-run that is
//   late by more than half an interval is skipped (counted as stale), so no destination is pinged
//   twice in one interval.
// - Keepalive-module destinations get `ka:<shard>/<shards>` schedulers at the keepalive interval
//   (`ka:<ms>:<shard>/<shards>` for destinations added with their own interval);
//   register-mode sets get one `reg:<setid>` scheduler that expires registrations.
// - Any prober reconciles the schedulers at start and after list changes (dispatcher `reload`,
//   keepalive `ka-add`/`ka-remove`); concurrent reconciles converge on the same set.

import {
  DispatcherView,
  shouldProbe,
  probeResult,
  type DispatcherFleet,
  type Transition,
} from '@sipfleet/dispatcher';
import { EventBus, type RedisConnection, toRedisError } from '@sipfleet/redis';
import { Queue, Worker, type Job } from 'bullmq';
import { bullConnection, type BullConnection } from './bullmq-connection.js';
import { KEEPALIVE_CHANNEL, parseKeepaliveEvent, type KeepaliveBusEvents } from './events.js';
import { KeepaliveStore, type KeepaliveDestination } from './keepalive.js';
import type { Pinger, PingResult } from './pinger.js';
import { expireRegistrations } from './registration.js';
import { isAcceptedReply } from './reply-codes.js';
import { decodeState, keepaliveScripts, uriField } from './scripts.js';
import {
  DEFAULT_KEEPALIVE_FROM,
  resolveProberSettings,
  type ProberSettings,
  type ResolvedProberSettings,
} from './settings.js';

/** The BullMQ queue name under `keys.probeQueue()`. */
export const PROBE_QUEUE = 'ping';

/** What a job carries. */
export type ProbeJobData =
  | { readonly k: 'ds'; readonly setid: number; readonly shard: number; readonly shards: number }
  | {
      readonly k: 'ka';
      readonly shard: number;
      readonly shards: number;
      /** The interval of the destinations this job pings (absent: the keepalive default). */
      readonly every?: number;
    }
  | { readonly k: 'reg'; readonly setid: number }
  | { readonly k: 'now'; readonly setid: number | null; readonly uri: string };

export interface KeepaliveModuleOptions {
  /** keepalive ping_interval, ms. @default 30000 */
  readonly pingIntervalMs?: number;
  /** keepalive ping_from. @default 'sip:keepalive@kamailio' */
  readonly from?: string;
}

/** Counters and timings a service turns into metrics. */
export interface ProberObserver {
  /** A scheduled job started this late (ms after its planned time). */
  onScheduleLag?(lagMs: number): void;
  /** A job was skipped: 'stale' (a stalled re-run past its slot), 'inactive' (ping-active off). */
  onSkipped?(reason: 'stale' | 'inactive', data: ProbeJobData): void;
  /** A destination changed state (dispatcher or keepalive module). */
  onTransition?(kind: 'ds' | 'ka', setid: number | null, uri: string, t: Transition): void;
  /** A job failed (Redis down, ...): retried at the next interval. */
  onJobError?(err: Error, data: ProbeJobData | undefined): void;
}

export interface ProberOptions {
  /** The fail-fast connection (state, latency, switch); BullMQ makes its own from conn.target. */
  readonly conn: RedisConnection;
  readonly fleet: DispatcherFleet;
  readonly pinger: Pinger;
  readonly settings?: ProberSettings;
  readonly keepalive?: KeepaliveModuleOptions;
  /** Sets kept alive by REGISTER instead of pings (see registration.ts). @default [] */
  readonly registerSets?: readonly number[];
  /** Jobs one prober runs at once (each is one shard of pings). @default 64 */
  readonly concurrency?: number;
  readonly observer?: ProberObserver;
  /** Background failures (view re-reads, reconcile, worker errors). @default ignore */
  readonly onError?: (err: Error) => void;
  /** Start the worker (false: only plan schedules, e.g. a control process). @default true */
  readonly work?: boolean;
}

export class Prober {
  readonly settings: ResolvedProberSettings;
  readonly queue: Queue<ProbeJobData>;
  private worker: Worker<ProbeJobData> | undefined;
  private readonly ka: KeepaliveStore;
  private kaTargets: KeepaliveDestination[] = [];
  private readonly kaIntervalMs: number;
  private readonly kaFrom: string;
  private readonly registerSets: ReadonlySet<number>;
  private readonly observer: ProberObserver;
  private readonly onError: (err: Error) => void;
  private reconcileTimer: NodeJS.Timeout | undefined;
  private reconcileRunning: Promise<void> | undefined;
  private reconcileAgain = false;
  private unsubscribeKa: (() => Promise<void>) | undefined;
  private closed = false;

  private constructor(
    private readonly opts: ProberOptions,
    readonly view: DispatcherView,
    private readonly bus: EventBus<KeepaliveBusEvents>,
    private readonly bull: BullConnection,
  ) {
    this.settings = resolveProberSettings(opts.settings);
    this.ka = new KeepaliveStore(opts.conn, {
      probingThreshold: this.settings.probingThreshold,
      inactiveThreshold: this.settings.inactiveThreshold,
    });
    this.kaIntervalMs = opts.keepalive?.pingIntervalMs ?? 30_000;
    this.kaFrom = opts.keepalive?.from ?? DEFAULT_KEEPALIVE_FROM;
    this.registerSets = new Set(opts.registerSets ?? []);
    this.observer = opts.observer ?? {};
    this.onError = opts.onError ?? (() => undefined);
    this.queue = new Queue<ProbeJobData>(PROBE_QUEUE, {
      connection: bull.connection,
      prefix: opts.conn.keys.probeQueue(),
    });
    this.queue.on('error', (err) => this.onError(err));
  }

  /** Opens the dispatcher view, plans the schedules and starts working. */
  static async start(opts: ProberOptions): Promise<Prober> {
    resolveProberSettings(opts.settings); // typed errors before any I/O
    const onError = opts.onError ?? (() => undefined);
    const view = await DispatcherView.open(opts.conn, { reconcileIntervalMs: 0, onError });
    const bus = new EventBus<KeepaliveBusEvents>(opts.conn, { onError });
    const bull = bullConnection(opts.conn.target);
    const prober = new Prober(opts, view, bus, bull);
    try {
      view.on('reload', () => prober.scheduleReconcile());
      prober.unsubscribeKa = await bus.subscribe(
        KEEPALIVE_CHANNEL,
        (e) => {
          if (e.type === 'ka-add' || e.type === 'ka-remove') prober.scheduleReconcile();
        },
        parseKeepaliveEvent,
      );
      await prober.reconcile();
      if (opts.work !== false) prober.startWorker();
    } catch (err) {
      await prober.close();
      throw err;
    }
    return prober;
  }

  private startWorker(): void {
    const interval = this.settings.pingIntervalMs;
    // The lock only matters for re-running a dead prober's unfinished job (skipped when stale);
    // the next iterations are queued already. Short enough to heal a lost schedule quickly.
    const lockDuration = Math.min(30_000, Math.max(2_000, 2 * interval));
    this.worker = new Worker<ProbeJobData>(PROBE_QUEUE, (job) => this.process(job), {
      connection: this.bull.connection,
      prefix: this.opts.conn.keys.probeQueue(),
      concurrency: this.opts.concurrency ?? 64,
      lockDuration,
      stalledInterval: lockDuration,
      maxStalledCount: 1,
      drainDelay: 1,
    });
    this.worker.on('error', (err) => this.onError(err));
    this.worker.on('failed', (job, err) => this.observer.onJobError?.(err, job?.data));
  }

  /** Re-plans soon (debounced: a burst of list changes costs one reconcile). */
  scheduleReconcile(): void {
    if (this.closed || this.reconcileTimer !== undefined) return;
    this.reconcileTimer = setTimeout(
      () => {
        this.reconcileTimer = undefined;
        this.reconcile().catch((err: unknown) => this.onError(toRedisError(err)));
      },
      100 + Math.floor(Math.random() * 100),
    );
    this.reconcileTimer.unref();
  }

  /** The schedulers the current lists call for. */
  private desired(): Map<string, { every: number; data: ProbeJobData }> {
    const out = new Map<string, { every: number; data: ProbeJobData }>();
    const interval = this.settings.pingIntervalMs;
    for (const set of this.view.snapshot.sets.values()) {
      if (this.registerSets.has(set.id)) {
        out.set(`reg:${set.id}`, { every: interval, data: { k: 'reg', setid: set.id } });
        continue;
      }
      const shards = Math.max(1, Math.ceil(set.destinations.length / this.settings.shardSize));
      for (let shard = 0; shard < shards; shard++) {
        out.set(`ds:${set.id}:${shard}/${shards}`, {
          every: interval,
          data: { k: 'ds', setid: set.id, shard, shards },
        });
      }
    }
    // One group of schedulers per interval (Kamailio's per-destination ping_interval); the
    // default interval keeps the plain `ka:<shard>/<shards>` ids.
    const byInterval = new Map<number, number>();
    for (const t of this.kaTargets) {
      const every = this.kaInterval(t);
      byInterval.set(every, (byInterval.get(every) ?? 0) + 1);
    }
    for (const [every, count] of byInterval) {
      const shards = Math.max(1, Math.ceil(count / this.settings.shardSize));
      const own = every !== this.kaIntervalMs;
      for (let shard = 0; shard < shards; shard++) {
        out.set(own ? `ka:${every}:${shard}/${shards}` : `ka:${shard}/${shards}`, {
          every,
          data: own ? { k: 'ka', shard, shards, every } : { k: 'ka', shard, shards },
        });
      }
    }
    return out;
  }

  /**
   * Brings the queue's job schedulers in line with the lists: adds missing ones, removes extra
   * ones, leaves equal ones alone (their next iteration stays as planned).
   */
  reconcile(): Promise<void> {
    if (this.reconcileRunning) {
      this.reconcileAgain = true;
      return this.reconcileRunning;
    }
    const run = async (): Promise<void> => {
      try {
        do {
          this.reconcileAgain = false;
          this.kaTargets = await this.ka.list();
          const desired = this.desired();
          const existing = await this.queue.getJobSchedulers(0, -1);
          const have = new Map(existing.map((s) => [s.key, s]));
          for (const key of have.keys()) {
            if (!desired.has(key)) await this.queue.removeJobScheduler(key);
          }
          for (const [id, want] of desired) {
            const offset = offsetOf(id, want.every);
            const cur = have.get(id);
            if (cur && Number(cur.every) === want.every && Number(cur.offset) === offset) continue;
            await this.queue.upsertJobScheduler(
              id,
              { every: want.every, offset },
              {
                name: want.data.k,
                data: want.data,
                opts: { removeOnComplete: true, removeOnFail: { count: 100 } },
              },
            );
          }
        } while (this.reconcileAgain && !this.closed);
      } finally {
        this.reconcileRunning = undefined;
      }
    };
    this.reconcileRunning = run();
    return this.reconcileRunning;
  }

  private kaInterval(t: KeepaliveDestination): number {
    return t.intervalMs ?? this.kaIntervalMs;
  }

  /** "Probe now" for one destination (setid null: a keepalive-module destination). */
  async probeNow(setid: number | null, uri: string): Promise<void> {
    await this.queue.add(
      'now',
      { k: 'now', setid, uri },
      { removeOnComplete: true, removeOnFail: { count: 100 } },
    );
  }

  /** One job: ping a shard (or one destination) and record the outcomes. */
  async process(job: Job<ProbeJobData>): Promise<void> {
    const data = job.data;
    // Scheduler iterations are `repeat:<scheduler>:<planned millis>` (BullMQ's deterministic ids).
    const planned = job.repeatJobKey !== undefined ? /:(\d+)$/.exec(job.id ?? '')?.[1] : undefined;
    if (planned !== undefined) {
      const lag = Math.max(0, (job.processedOn ?? Date.now()) - Number(planned));
      const every =
        data.k === 'ka' ? (data.every ?? this.kaIntervalMs) : this.settings.pingIntervalMs;
      if (lag > every / 2) {
        this.observer.onSkipped?.('stale', data);
        return;
      }
      this.observer.onScheduleLag?.(lag);
    }
    if (data.k === 'reg') {
      for (const { uri, transition } of await expireRegistrations(
        this.opts.conn,
        this.opts.fleet,
        data.setid,
      )) {
        this.observer.onTransition?.('ds', data.setid, uri, transition);
      }
      return;
    }
    if ((await this.opts.conn.call('GET', this.opts.conn.keys.dsPingActive())) === '0') {
      this.observer.onSkipped?.('inactive', data);
      return;
    }
    if (data.k === 'ka' || (data.k === 'now' && data.setid === null)) {
      const targets =
        data.k === 'ka'
          ? this.kaTargets.filter(
              (t) =>
                this.kaInterval(t) === (data.every ?? this.kaIntervalMs) &&
                shardOf(uriField(t.uri), data.shards) === data.shard,
            )
          : this.kaTargets.filter((t) => uriField(t.uri) === uriField(data.uri));
      await this.recordKeepalive(
        await Promise.all(
          targets.map((t) => this.opts.pinger.ping({ uri: t.uri, from: t.from ?? this.kaFrom })),
        ),
      );
      return;
    }
    const setid = data.setid;
    if (setid === null) return;
    const set = this.view.snapshot.sets.get(setid);
    if (set === undefined) return;
    const mode = this.settings.probingMode;
    const targets = set.destinations.filter((d) =>
      data.k === 'now'
        ? uriField(d.uri) === uriField(data.uri)
        : shardOf(uriField(d.uri), data.shards) === data.shard && shouldProbe(d.flags, mode),
    );
    if (targets.length === 0) return;
    const results = await Promise.all(
      targets.map((d) => {
        // ds_outbound_proxy for every ping, unless the destination names its own `obproxy`;
        // the socket: its `ping_socket` attribute, else `socket` (Kamailio's order).
        const proxy = d.attrs.obproxy ?? this.settings.outboundProxy;
        const socket = d.attrs.extra.get('ping_socket') ?? d.attrs.socket;
        return this.opts.pinger.ping({
          uri: d.uri,
          from: d.attrs.pingFrom ?? this.settings.from,
          ...(proxy !== undefined ? { obproxy: proxy } : {}),
          ...(socket !== undefined ? { socket } : {}),
        });
      }),
    );
    await this.recordDispatcher(setid, results);
  }

  private accepted(r: PingResult): boolean {
    return (
      r.outcome === 'reply' &&
      r.status !== undefined &&
      isAcceptedReply(r.status, this.settings.replyCodes)
    );
  }

  /**
   * One round trip reads the states (and records the RTTs); only destinations whose state
   * (flags or counter) must change go through the fleet store's compare-and-set, which
   * publishes dst-up / dst-down exactly once per transition.
   */
  private async recordDispatcher(setid: number, results: readonly PingResult[]): Promise<void> {
    const id = String(setid);
    const args: (string | number)[] = [this.settings.latencyEstimatorAlpha];
    for (const r of results) {
      // A timeout is Kamailio's 408 (the TIMEOUT count); other failures leave the statistics.
      const sample =
        r.outcome === 'reply' && r.rttMs !== undefined
          ? r.rttMs.toFixed(3)
          : r.outcome === 'timeout'
            ? 't'
            : '';
      args.push(uriField(r.uri), sample);
    }
    const [, ...states] = await keepaliveScripts(this.opts.conn).run(
      'probe-record',
      [this.opts.conn.keys.dsLatency(id), this.opts.conn.keys.dsState(id)],
      args,
    );
    const thresholds = {
      probingThreshold: this.settings.probingThreshold,
      inactiveThreshold: this.settings.inactiveThreshold,
    };
    const mode = this.settings.probingMode;
    for (let i = 0; i < results.length; i++) {
      const r = results[i];
      const current = decodeState(states[i]);
      if (r === undefined || current === undefined) continue; // removed meanwhile
      const ok = this.accepted(r);
      const t = probeResult(current, ok, mode, thresholds);
      if (t.next.flags === current.flags && t.next.count === current.count) continue;
      try {
        const applied = await this.opts.fleet.probeResult(setid, r.uri, ok, mode);
        if (applied.changed) this.observer.onTransition?.('ds', setid, uriField(r.uri), applied);
      } catch (err) {
        this.onError(err instanceof Error ? err : toRedisError(err));
      }
    }
  }

  private async recordKeepalive(results: readonly PingResult[]): Promise<void> {
    if (results.length === 0) return;
    const fields = results.map((r) => uriField(r.uri));
    const states = await this.opts.conn.call('HMGET', this.opts.conn.keys.kaState(), ...fields);
    for (let i = 0; i < results.length; i++) {
      const r = results[i];
      if (r === undefined) continue;
      const known = Array.isArray(states) && typeof states[i] === 'string' ? String(states[i]) : '';
      const t = await this.ka.probeResult(r.uri, this.accepted(r), known);
      if (t?.changed) this.observer.onTransition?.('ka', null, uriField(r.uri), t);
    }
  }

  /** Closes the worker (waits for running jobs), the queue, the view and BullMQ's connections. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.reconcileTimer);
    await this.worker?.close().catch((err: unknown) => this.onError(toRedisError(err)));
    await this.reconcileRunning?.catch(() => undefined);
    await this.queue.close().catch((err: unknown) => this.onError(toRedisError(err)));
    await this.unsubscribeKa?.().catch(() => undefined);
    await this.bus.close();
    await this.view.close();
    await this.bull.close();
  }
}

/**
 * "Probe now" from outside a prober (the CLI, a routing hook): queues one job that the next free
 * prober runs at once. setid null: a keepalive-module destination.
 */
export async function requestProbe(
  conn: RedisConnection,
  setid: number | null,
  uri: string,
): Promise<void> {
  const bull = bullConnection(conn.target, 'sipfleet-ctl');
  const queue = new Queue<ProbeJobData>(PROBE_QUEUE, {
    connection: bull.connection,
    prefix: conn.keys.probeQueue(),
  });
  try {
    await queue.add(
      'now',
      { k: 'now', setid, uri },
      { removeOnComplete: true, removeOnFail: { count: 100 } },
    );
  } finally {
    await queue.close();
    await bull.close();
  }
}

/** FNV-1a 32-bit: which shard a destination falls in (stable across processes and restarts). */
export function shardOf(field: string, shards: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < field.length; i++) {
    h ^= field.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % shards;
}

/** A stable offset in [1, every) for a scheduler, so the shards spread over the interval. */
export function offsetOf(id: string, every: number): number {
  return every <= 1 ? 1 : 1 + shardOf(id, every - 1);
}
