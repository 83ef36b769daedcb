import { performance } from 'node:perf_hooks';
import type { EventLoopUtilization } from 'node:perf_hooks';
import type { EdgeConfig } from '../config.js';
import { createResponse } from '@sipfleet/sip';
import type { SipRequest, SipResponse } from '@sipfleet/sip';
import type { EdgeMetrics } from '../metrics.js';

export type OverloadSettings = EdgeConfig['overload'];

/** Why a new initial request was shed (the `reason` label of `sipfleet_overload_shed_total`). */
export type ShedReason = 'load' | 'transactions';

/** One sample of the loop, handed to the metrics. */
export interface OverloadSample {
  /** How late the sampling timer fired, ms (event-loop delay). */
  delayMs: number;
  /** Event-loop utilisation over the sample, 0..1. */
  utilization: number;
  /** Both averaged over about `windowMs` (exponentially weighted): what the shedding follows. */
  averageDelayMs: number;
  averageUtilization: number;
  overloaded: boolean;
  /** Share of new initial requests being shed, 0..1. */
  shedFraction: number;
}

/**
 * Knows when this edge is overloaded, from what a saturated Node.js process shows: the event loop
 * busy all the time (utilisation) and timers firing late (delay, which is what turns 2 s no-reply
 * timers into false destination failures). One unref'd timer samples both every
 * `sampleIntervalMs`; shedding follows their averages over about `windowMs`, so one stall (a
 * garbage collection, the process descheduled on a busy host) does not refuse calls.
 *
 * Shedding follows RFC 7339's loss-based algorithm applied at the edge itself: each sample whose
 * averages are over a threshold raises the share of new calls refused by `step`, each calm one
 * lowers it by half a step, so the edge sheds what it cannot carry and keeps serving the rest.
 * `overloaded` has hysteresis: it goes on as soon as an average is over its threshold and off
 * only when nothing is shed any more and neither average was over for `recoveryMs`.
 *
 * Apart from that, a hard cap on live transactions (read through a callback) sheds every new
 * initial request while the table is full: that bounds memory whatever the loop measures.
 */
export class OverloadMonitor {
  private readonly timer: NodeJS.Timeout;
  private readonly methods: ReadonlySet<string>;
  private lastTick = performance.now();
  private lastElu: EventLoopUtilization = performance.eventLoopUtilization();
  /** When a sample last showed the loop delayed or saturated. */
  private lastHotAt = Number.NEGATIVE_INFINITY;
  /** When the averages were last over a threshold (hysteresis). */
  private lastOverAt = Number.NEGATIVE_INFINITY;
  private averageDelayMs = 0;
  private averageUtilization = 0;
  /** Weight of one sample in the averages. */
  private readonly alpha: number;
  private fraction = 0;
  /** Loss-based shedding without randomness: shed whenever the running share reaches 1. */
  private credit = 0;
  private state = false;

  constructor(
    private readonly settings: OverloadSettings,
    private readonly transactions: () => { server: number; client: number },
    private readonly observe: (sample: OverloadSample) => void = () => undefined,
  ) {
    this.methods = new Set(settings.methods);
    this.alpha = Math.min(1, settings.sampleIntervalMs / settings.windowMs);
    this.timer = setInterval(() => this.sample(), settings.sampleIntervalMs);
    this.timer.unref();
  }

  /** True while the edge sheds load (with hysteresis, see the class comment). */
  get overloaded(): boolean {
    return this.state;
  }

  /** Share of new initial requests of the shed methods refused right now, 0..1. */
  get shedFraction(): number {
    return this.fraction;
  }

  /** RFC 3261 §21.5.4: how long a client should leave this edge alone after a 503. */
  get retryAfterSeconds(): number {
    return this.settings.retryAfterSeconds;
  }

  /**
   * True if the event loop was delayed past `eventLoopDelayMs` or saturated past `utilization` at
   * any time within the last `ms`, or is delayed right now (the sampling timer is overdue). A
   * timeout in that window is no evidence against a destination: a late loop fires its timers
   * late, and a saturated one reads its socket late, so the kernel drops replies that did come.
   */
  laggedWithin(ms: number): boolean {
    const now = performance.now();
    const overdue = now - this.lastTick - this.settings.sampleIntervalMs;
    return overdue > this.settings.eventLoopDelayMs || now - this.lastHotAt <= ms;
  }

  /**
   * Whether to shed this new initial request (no To tag; not ACK or CANCEL, which belong to a
   * transaction already there) and why; undefined lets it through.
   */
  shed(method: string): ShedReason | undefined {
    if (!this.settings.enabled) return undefined;
    const { server, client } = this.transactions();
    if (server + client >= this.settings.maxTransactions) return 'transactions';
    if (this.fraction === 0 || !this.methods.has(method)) return undefined;
    this.credit += this.fraction;
    if (this.credit < 1) return undefined;
    this.credit -= 1;
    return 'load';
  }

  close(): void {
    clearInterval(this.timer);
  }

  private sample(): void {
    const now = performance.now();
    const delayMs = Math.max(0, now - this.lastTick - this.settings.sampleIntervalMs);
    this.lastTick = now;
    const elu = performance.eventLoopUtilization();
    const utilization = performance.eventLoopUtilization(elu, this.lastElu).utilization;
    this.lastElu = elu;
    const { step, eventLoopDelayMs, utilization: busy } = this.settings;
    if (delayMs > eventLoopDelayMs || utilization > busy) this.lastHotAt = now;
    this.averageDelayMs += this.alpha * (delayMs - this.averageDelayMs);
    this.averageUtilization += this.alpha * (utilization - this.averageUtilization);
    if (this.averageDelayMs > eventLoopDelayMs || this.averageUtilization > busy) {
      this.lastOverAt = now;
      this.fraction = Math.min(1, this.fraction + step);
      this.state = true;
    } else {
      this.fraction = Math.max(0, this.fraction - step / 2);
      if (this.fraction === 0) {
        this.credit = 0;
        if (now - this.lastOverAt >= this.settings.recoveryMs) this.state = false;
      }
    }
    this.observe({
      delayMs,
      utilization,
      averageDelayMs: this.averageDelayMs,
      averageUtilization: this.averageUtilization,
      overloaded: this.state,
      shedFraction: this.fraction,
    });
  }
}

/**
 * Overload: new initial requests are shed with 503 and Retry-After (RFC 3261 §21.5.4: the server
 * is temporarily unable to process the request, the client may retry after the time given) while
 * the monitor says so; in-dialog requests, ACK and CANCEL go on, so calls in progress finish.
 * The transaction layer asks this before it makes a transaction, and sends the 503 statelessly
 * (Kamailio's `sl_send_reply`): a shed request holds no memory, gets no 100 Trying and needs no
 * ACK handling, so a flood of any size cannot fill the transaction table.
 */
export function overloadAdmission(
  overload: OverloadMonitor,
  metrics: EdgeMetrics,
): (req: SipRequest) => SipResponse | undefined {
  return (req) => {
    let initial: boolean;
    try {
      initial = req.to.tag === undefined;
    } catch {
      return undefined; // an unreadable To: the proxy answers it 400
    }
    if (!initial) return undefined;
    const reason = overload.shed(req.method);
    if (reason === undefined) return undefined;
    metrics.overloadShed.inc({ reason });
    const res = createResponse(req, 503, 'Service Unavailable');
    res.appendHeader('Retry-After', String(overload.retryAfterSeconds));
    return res;
  };
}
