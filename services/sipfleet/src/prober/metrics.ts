// The prober's metrics, one registry per process (names listed in packages/keepalive/README.md).
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { PingResult } from '@sipfleet/keepalive';
import { dnsQueryCounter } from '../dns.js';
import { registerProcessMetrics } from '../process-metrics.js';

export class ProberMetrics {
  readonly registry = new Registry();
  readonly pingsSent: Counter<'protocol'>;
  readonly replies: Counter<'code'>;
  readonly failures: Counter<'outcome'>;
  readonly rtt: Histogram;
  readonly transitions: Counter<'kind' | 'to'>;
  readonly scheduleLag: Histogram;
  readonly skipped: Counter<'reason'>;
  readonly jobErrors: Counter;
  readonly malformed: Counter;
  readonly redisUp: Gauge;
  readonly dnsQueries: Counter<'type' | 'result'>;

  constructor(nodeId: string) {
    this.registry.setDefaultLabels({ node: nodeId });
    registerProcessMetrics(this.registry);
    const registers = [this.registry];
    this.dnsQueries = dnsQueryCounter(this.registry);
    this.pingsSent = new Counter({
      name: 'sipfleet_prober_pings_total',
      help: 'Keepalive requests sent, by transport',
      labelNames: ['protocol'],
      registers,
    });
    this.replies = new Counter({
      name: 'sipfleet_prober_replies_total',
      help: 'Final replies to keepalives, by status code',
      labelNames: ['code'],
      registers,
    });
    this.failures = new Counter({
      name: 'sipfleet_prober_failures_total',
      help: 'Keepalives without a reply: timeout, transport-error, bad-uri',
      labelNames: ['outcome'],
      registers,
    });
    this.rtt = new Histogram({
      name: 'sipfleet_prober_rtt_seconds',
      help: 'Keepalive round-trip time (send to final reply)',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.transitions = new Counter({
      name: 'sipfleet_prober_transitions_total',
      help: 'Destination state changes this prober made (kind ds|ka, to up|down|state)',
      labelNames: ['kind', 'to'],
      registers,
    });
    this.scheduleLag = new Histogram({
      name: 'sipfleet_prober_schedule_lag_seconds',
      help: 'How late a scheduled batch of pings started',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.skipped = new Counter({
      name: 'sipfleet_prober_skipped_jobs_total',
      help: 'Batches not pinged: stale (a re-run past its slot) or inactive (ping-active off)',
      labelNames: ['reason'],
      registers,
    });
    this.jobErrors = new Counter({
      name: 'sipfleet_prober_job_errors_total',
      help: 'Batches that failed (Redis unreachable, ...); the next interval tries again',
      registers,
    });
    this.malformed = new Counter({
      name: 'sipfleet_prober_malformed_total',
      help: 'Datagrams or frames on the prober socket that were not SIP',
      registers,
    });
    this.redisUp = new Gauge({
      name: 'sipfleet_redis_up',
      help: '1 while Redis is reachable, else 0',
      registers,
    });
  }

  result(r: PingResult): void {
    if (r.outcome === 'reply' && r.status !== undefined) {
      this.replies.labels(String(r.status)).inc();
      if (r.rttMs !== undefined) this.rtt.observe(r.rttMs / 1000);
    } else {
      this.failures.labels(r.outcome).inc();
    }
  }
}
