import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ProxyObserver, ResponseOrigin, RoutingMetrics } from '@sipfleet/proxy';
import { dnsQueryCounter } from './dns.js';
import type { TransportCounts } from '@sipfleet/transport';
import { CellCounter } from './counter-cells.js';
import type { CounterCell } from './counter-cells.js';
import { registerProcessMetrics } from './process-metrics.js';

/** What the transport layer counts, read when Prometheus scrapes (no work per message here). */
export interface TransportStats {
  counts: TransportCounts;
  tcpConnectionCount: number;
  tlsConnectionCount: number;
  /** Open WebSocket connections (browsers) of `ws` or `wss` listeners. */
  webSocketConnectionCount(protocol: 'ws' | 'wss'): number;
}

export interface DestinationGaugeRow {
  set: number;
  uri: string;
  active: boolean;
  /** Call-load counter, when the set is routed with algorithm 10. */
  load?: number;
}

const ORIGINS: readonly ResponseOrigin[] = ['relayed', 'local', 'stateless', 'transaction'];
const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', '6xx'] as const;

/** One registry per process; every metric name is listed in docs/metrics.md (a test keeps them in step). */
export class EdgeMetrics implements ProxyObserver {
  readonly registry = new Registry();
  private readonly requests: CellCounter<'method'>;
  private readonly latency: Histogram;
  private readonly hookErrors: Counter<'hook'>;
  readonly parseErrors: Counter<'action'>;
  readonly droppedFrames: Counter<'reason'>;
  readonly retransmissions: Counter<'kind'>;
  readonly drainRefusals: Counter;
  readonly maintenanceRefusals: Counter;
  readonly redisUp: Gauge;
  readonly dispatcherSelections: CellCounter<'set' | 'alg' | 'result'>;
  readonly dispatcherFailovers: Counter<'set'>;
  readonly dispatcherRefusals: Counter<'set' | 'reason'>;
  readonly dispatcherMarks: Counter<'set' | 'result'>;
  readonly dispatcherCallLoadDeferred: Counter<'op'>;
  readonly dispatcherCallLoadReplayed: Counter;
  readonly dispatcherCallLoadDropped: Counter<'op'>;
  readonly overloadShed: Counter<'reason'>;
  readonly registrations: Counter<'set' | 'result'>;
  readonly overloaded: Gauge;
  readonly overloadShedFraction: Gauge;
  readonly eventLoopDelay: Histogram;
  readonly dnsQueries: Counter<'type' | 'result'>;
  private readonly dnsFailovers: Counter<'cause'>;
  readonly handoffSent: Counter<'message'>;
  readonly handoffReceived: Counter<'message'>;
  readonly handoffRejected: Counter<'reason'>;
  readonly handoffOwnerGone: Counter<'message'>;
  readonly handoffOwners: Gauge;
  readonly handoffOwnersEvicted: Counter;
  readonly handoffPeers: Gauge;
  private readonly byMethod = new Map<string, CounterCell>();
  private otherMethods: CounterCell | undefined;
  /** Cells by origin, then class index (status / 100 - 1): no label lookup per response. */
  private readonly byOrigin: Record<ResponseOrigin, CounterCell[]>;

  constructor(
    nodeId: string,
    activeTransactions: () => { server: number; client: number },
    destinations: () => Promise<DestinationGaugeRow[]> = () => Promise.resolve([]),
    transport: () => TransportStats | undefined = () => undefined,
  ) {
    this.registry.setDefaultLabels({ node: nodeId });
    registerProcessMetrics(this.registry);
    this.requests = new CellCounter({
      name: 'sipfleet_sip_requests_total',
      help: 'SIP requests received, by method',
      labelNames: ['method'],
      registers: [this.registry],
    });
    const responses = new CellCounter({
      name: 'sipfleet_sip_responses_total',
      help: 'Every SIP response the edge sent, by class (1xx..6xx) and origin (relayed, local, stateless, transaction)',
      labelNames: ['class', 'origin'],
      registers: [this.registry],
    });
    const byOrigin: Partial<Record<ResponseOrigin, CounterCell[]>> = {};
    for (const origin of ORIGINS) {
      // Every series exists from the start, at 0, so rate() and sums see no gaps.
      byOrigin[origin] = CLASSES.map((c) => responses.cell({ class: c, origin }));
    }
    this.byOrigin = byOrigin as Record<ResponseOrigin, CounterCell[]>;
    this.latency = new Histogram({
      name: 'sipfleet_relay_latency_seconds',
      help: 'Time from a request arriving to its branch being relayed',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [this.registry],
    });
    this.hookErrors = new Counter({
      name: 'sipfleet_routing_hook_errors_total',
      help: 'Routing hooks that threw or rejected, by hook',
      labelNames: ['hook'],
      registers: [this.registry],
    });
    this.parseErrors = new Counter({
      name: 'sipfleet_sip_parse_errors_total',
      help: 'Malformed SIP messages, by what was done (answered 400 or dropped)',
      labelNames: ['action'],
      registers: [this.registry],
    });
    this.droppedFrames = new Counter({
      name: 'sipfleet_transport_dropped_total',
      help: 'Messages and TCP connections the transport dropped (framing errors, oversize, per-source limit, message timeout), by reason',
      labelNames: ['reason'],
      registers: [this.registry],
    });
    this.retransmissions = new Counter({
      name: 'sipfleet_sip_retransmissions_total',
      help: 'Retransmissions sent (request) or absorbed and answered (response)',
      labelNames: ['kind'],
      registers: [this.registry],
    });
    this.drainRefusals = new Counter({
      name: 'sipfleet_drain_refusals_total',
      help: 'New INVITEs refused with 503 while the edge drains',
      registers: [this.registry],
    });
    this.maintenanceRefusals = new Counter({
      name: 'sipfleet_maintenance_refusals_total',
      help: 'Initial requests refused because the fleet or this node is in maintenance',
      registers: [this.registry],
    });
    this.redisUp = new Gauge({
      name: 'sipfleet_redis_up',
      help: '1 while Redis is reachable and the caches are in sync, else 0 (routing goes on from the caches)',
      registers: [this.registry],
    });
    this.dispatcherSelections = new CellCounter({
      name: 'sipfleet_dispatcher_selections_total',
      help: 'Dispatcher selections by set, algorithm and result (ok or the failure reason)',
      labelNames: ['set', 'alg', 'result'],
      registers: [this.registry],
    });
    this.dispatcherFailovers = new Counter({
      name: 'sipfleet_dispatcher_failovers_total',
      help: 'Calls moved to the next destination after a 5xx, 408 or timeout',
      labelNames: ['set'],
      registers: [this.registry],
    });
    this.dispatcherRefusals = new Counter({
      name: 'sipfleet_dispatcher_refusals_total',
      help: 'Calls refused by the dispatcher route (no destination left, all at maxload)',
      labelNames: ['set', 'reason'],
      registers: [this.registry],
    });
    this.dispatcherMarks = new Counter({
      name: 'sipfleet_dispatcher_marks_total',
      help: 'Failures that could mark a destination down from the call path, by what was done: marked, lagged (own event-loop lag), below-threshold, last-active',
      labelNames: ['set', 'result'],
      registers: [this.registry],
    });
    this.dispatcherCallLoadDeferred = new Counter({
      name: 'sipfleet_dispatcher_call_load_deferred_total',
      help: 'Call-load releases, confirms and assigns (edge-picked slots) that could not reach Redis and were queued for the reconnect',
      labelNames: ['op'],
      registers: [this.registry],
    });
    this.dispatcherCallLoadReplayed = new Counter({
      name: 'sipfleet_dispatcher_call_load_replayed_total',
      help: 'Call-load releases of the last moments sent again after a Redis reconnect or the loss of a Cluster node (writes a failover may have lost)',
      registers: [this.registry],
    });
    this.dispatcherCallLoadDropped = new Counter({
      name: 'sipfleet_dispatcher_call_load_dropped_total',
      help: 'Queued call-load releases and confirms dropped because the queue was full (those slots end by expiry)',
      labelNames: ['op'],
      registers: [this.registry],
    });
    this.registrations = new Counter({
      name: 'sipfleet_registrations_total',
      help: 'REGISTERs of register-mode sets: per Contact added, updated, refreshed, removed, down; per REGISTER refused (403), invalid (400), error (500)',
      labelNames: ['set', 'result'],
      registers: [this.registry],
    });
    this.overloadShed = new Counter({
      name: 'sipfleet_overload_shed_total',
      help: 'New initial requests shed with 503 + Retry-After, by reason (load, transactions)',
      labelNames: ['reason'],
      registers: [this.registry],
    });
    // Both series exist from the start, so rate() and alerts see a 0 before the first shed.
    for (const reason of ['load', 'transactions']) this.overloadShed.inc({ reason }, 0);
    this.overloaded = new Gauge({
      name: 'sipfleet_overloaded',
      help: '1 while the edge is overloaded (event loop saturated or late), else 0',
      registers: [this.registry],
    });
    this.overloadShedFraction = new Gauge({
      name: 'sipfleet_overload_shed_fraction',
      help: 'Share of new calls being shed under load (RFC 7339 loss-based), 0..1',
      registers: [this.registry],
    });
    this.eventLoopDelay = new Histogram({
      name: 'sipfleet_event_loop_delay_seconds',
      help: 'How late the overload monitor sampling timer fired, one observation per sample',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [this.registry],
    });
    this.dnsQueries = dnsQueryCounter(this.registry);
    this.dnsFailovers = new Counter({
      name: 'sipfleet_dns_failovers_total',
      help: 'Branches sent on to the next DNS target of their next hop (use_dns_failover), by cause (transport-error, timeout, 503)',
      labelNames: ['cause'],
      registers: [this.registry],
    });
    this.handoffSent = new Counter({
      name: 'sipfleet_handoff_sent_total',
      help: 'Messages handed to the edge holding their transaction (INVITE retransmission, CANCEL, ACK), by method',
      labelNames: ['message'],
      registers: [this.registry],
    });
    this.handoffReceived = new Counter({
      name: 'sipfleet_handoff_received_total',
      help: 'Messages another edge handed to this one (authenticated), by method',
      labelNames: ['message'],
      registers: [this.registry],
    });
    this.handoffRejected = new Counter({
      name: 'sipfleet_handoff_rejected_total',
      help: 'Datagrams on the hand-off socket refused, by reason (malformed, signature, stale, replay)',
      labelNames: ['reason'],
      registers: [this.registry],
    });
    this.handoffOwnerGone = new Counter({
      name: 'sipfleet_handoff_owner_gone_total',
      help: 'Messages whose transaction was held by an edge no longer in the fleet, answered here as unknown, by method',
      labelNames: ['message'],
      registers: [this.registry],
    });
    this.handoffOwners = new Gauge({
      name: 'sipfleet_handoff_owners',
      help: 'Transactions other edges announced and this edge remembers (swept every fleet.heartbeatMs)',
      registers: [this.registry],
    });
    this.handoffOwnersEvicted = new Counter({
      name: 'sipfleet_handoff_owners_evicted_total',
      help: 'Announced transactions forgotten before their lifetime because handoff.maxOwners was reached',
      registers: [this.registry],
    });
    this.handoffPeers = new Gauge({
      name: 'sipfleet_handoff_peers',
      help: 'Other live edges this edge can hand messages to (re-read every fleet.heartbeatMs)',
      registers: [this.registry],
    });
    this.registerDestinationGauges(destinations);
    this.registerTransportMetrics(transport);
    new Gauge({
      name: 'sipfleet_active_transactions',
      help: 'Live SIP transactions, by side',
      labelNames: ['side'],
      registers: [this.registry],
      collect() {
        const counts = activeTransactions();
        this.set({ side: 'server' }, counts.server);
        this.set({ side: 'client' }, counts.client);
      },
    });
  }

  /** Per-transport traffic and connections, read from the transport layer's counters. */
  private registerTransportMetrics(transport: () => TransportStats | undefined): void {
    for (const [direction, name, help] of [
      ['messagesIn', 'received', 'SIP messages received (datagrams, framed stream messages)'],
      ['messagesOut', 'sent', 'SIP messages sent, retransmissions included'],
    ] as const) {
      new Counter({
        name: `sipfleet_transport_messages_${name}_total`,
        help: `${help}, by transport`,
        labelNames: ['transport'],
        registers: [this.registry],
        collect() {
          const stats = transport();
          if (stats === undefined) return;
          this.reset();
          for (const [protocol, n] of Object.entries(stats.counts[direction])) {
            this.inc({ transport: protocol }, n);
          }
        },
      });
    }
    new Gauge({
      name: 'sipfleet_transport_connections',
      help: 'Open connections, both directions, by transport',
      labelNames: ['transport'],
      registers: [this.registry],
      collect() {
        const stats = transport();
        if (stats === undefined) return;
        this.set({ transport: 'tcp' }, stats.tcpConnectionCount);
        this.set({ transport: 'tls' }, stats.tlsConnectionCount);
        this.set({ transport: 'ws' }, stats.webSocketConnectionCount('ws'));
        this.set({ transport: 'wss' }, stats.webSocketConnectionCount('wss'));
      },
    });
    new Counter({
      name: 'sipfleet_tls_handshake_failures_total',
      help: 'TLS handshakes that failed, both directions (unknown or invalid certificate, wrong name, timeout)',
      registers: [this.registry],
      collect() {
        const stats = transport();
        if (stats === undefined) return;
        this.reset();
        this.inc(stats.counts.handshakesFailed);
      },
    });
  }

  /** Destination state and call load, read from the dispatcher view when Prometheus scrapes. */
  private registerDestinationGauges(destinations: () => Promise<DestinationGaugeRow[]>): void {
    // One read per scrape, shared by both gauges (prom-client collects them one after the other).
    let rows: Promise<DestinationGaugeRow[]> | undefined;
    const read = () =>
      (rows ??= destinations().finally(() => setImmediate(() => (rows = undefined))));
    new Gauge({
      name: 'sipfleet_dispatcher_destination_active',
      help: '1 when the destination is active in this edge snapshot, 0 when inactive or disabled',
      labelNames: ['set', 'uri'],
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const d of await read())
          this.set({ set: String(d.set), uri: d.uri }, d.active ? 1 : 0);
      },
    });
    new Gauge({
      name: 'sipfleet_dispatcher_destination_load',
      help: 'Active calls per destination (algorithm 10 call-load counters, fleet-wide)',
      labelNames: ['set', 'uri'],
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const d of await read()) {
          if (d.load !== undefined) this.set({ set: String(d.set), uri: d.uri }, d.load);
        }
      },
    });
  }

  /** The registry as a routing module sees it (RoutingServices.metrics). */
  forRoutingModules(): RoutingMetrics {
    const registers = [this.registry];
    return {
      counter: (name, help, labelNames = []) =>
        new Counter({ name, help, labelNames: [...labelNames], registers }),
      histogram: (name, help, buckets, labelNames = []) =>
        new Histogram({
          name,
          help,
          buckets: [...buckets],
          labelNames: [...labelNames],
          registers,
        }),
    };
  }

  requestReceived(method: string): void {
    let cell = this.byMethod.get(method);
    if (cell === undefined) {
      // Bound the label set (and this map): past 32 methods, extension methods share one label.
      if (this.byMethod.size < 32) {
        cell = this.requests.cell({ method });
        this.byMethod.set(method, cell);
      } else cell = this.otherMethods ??= this.requests.cell({ method: 'other' });
    }
    cell.n++;
  }

  responseSent(status: number, origin: ResponseOrigin): void {
    const cell = this.byOrigin[origin][Math.floor(status / 100) - 1];
    if (cell !== undefined) cell.n++;
  }

  relayLatency(seconds: number): void {
    this.latency.observe(seconds);
  }

  dnsFailover(cause: 'transport-error' | 'timeout' | '503'): void {
    this.dnsFailovers.inc({ cause });
  }

  hookError(hook: string): void {
    this.hookErrors.inc({ hook });
  }
}
