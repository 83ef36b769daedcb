import type { Server } from 'node:http';
import type { FleetMembership } from '@sipfleet/dispatcher';
import { ProxyCore } from '@sipfleet/proxy';
import { redactRedisUrl } from '@sipfleet/redis';
import { SipEndpoint } from '@sipfleet/transaction';
import { TransportLayer } from '@sipfleet/transport';
import type { SipResolver, TransportProtocol } from '@sipfleet/transport';
import type { Logger } from 'pino';
import { startAdminServer } from '../admin-server.js';
import type { EdgeConfig } from '../config.js';
import { ConsoleApp } from '../console/console.js';
import { openResolver } from '../dns.js';
import { EdgeMetrics } from '../metrics.js';
import { warmDestinations } from './dispatcher-dns.js';
import { destinationRows } from './gauges.js';
import { Handoff } from './handoff/handoff.js';
import { MaintenanceCheck } from './maintenance.js';
import { OverloadMonitor, overloadAdmission } from './overload.js';
import { pipeline } from './pipeline.js';
import { receiveObserver } from './receive.js';
import { openSecfilter } from './secfilter.js';
import type { EdgeSecfilter } from './secfilter.js';
import { chooseRoute } from './routes/index.js';
import { startMembership } from './membership.js';
import { readTlsMaterial } from '../tls-files.js';
import { openSharedState } from './shared-state.js';
import type { SharedState } from './shared-state.js';

/**
 * The transports DNS may pick for a next hop: the listeners' ones, and TLS, which the transport
 * layer sends without a TLS listener; never ws/wss, reached only over a connection the browser
 * opened (RFC 7118 §5.2), which `transport=ws|wss` URIs still name.
 */
function sendProtocols(listen: readonly { protocol: TransportProtocol }[]): TransportProtocol[] {
  const streams = listen.map((l) => l.protocol).filter((p) => p !== 'ws' && p !== 'wss');
  return [...new Set<TransportProtocol>([...streams, 'tls'])];
}

/** The mirrors (htables, keepalive, dispatcher, secfilter) whose copy may be stale, by name. */
function notInStep(shared: SharedState): string[] {
  return shared.mirrors.filter((m) => !m.ready).map((m) => m.name);
}

/**
 * One edge process: transports → parser → transaction layer → proxy core with the routing hooks,
 * plus the admin port. Stateless apart from in-flight transactions.
 */
export class Edge {
  private draining = false;
  /** Set by close(): the Redis connection going down is ours, not an outage. */
  closing = false;

  private constructor(
    private readonly config: EdgeConfig,
    private readonly log: Logger,
    private readonly local: {
      transport: TransportLayer;
      /** The receive path: parse, received/rport, stateless answers, the transaction layer. */
      endpoint: SipEndpoint;
      metrics: EdgeMetrics;
      admin: { server: Server; port: number };
      /** Overload signal: sheds new calls in the pipeline; `laggedWithin()` for timeout checks. */
      overload: OverloadMonitor;
      /** RFC 3263 next hops and its cache; `stopWarming` ends the dispatcher's ds_dns_mode work. */
      dns: { resolver: SipResolver; stopWarming: () => void };
    },
    private readonly fleet: {
      shared: SharedState | undefined;
      secfilter: EdgeSecfilter | undefined;
      membership: FleetMembership | undefined;
      handoff: Handoff | undefined;
    },
  ) {}

  get adminPort(): number {
    return this.local.admin.port;
  }

  static async start(config: EdgeConfig, log: Logger): Promise<Edge> {
    // Never waits for Redis: the ports open now, the mirrors catch up (and /readyz says so).
    const shared = openSharedState(config, log);
    let transport: TransportLayer | undefined;
    let secfilter: EdgeSecfilter | undefined;
    let overload: OverloadMonitor | undefined;
    let dns: { resolver: SipResolver; stopWarming: () => void } | undefined;
    let handoff: Handoff | undefined;
    try {
      // The metrics and the pipeline need objects made after them; they read them through this.
      const late: {
        endpoint?: SipEndpoint;
        edge?: Edge;
        membership?: FleetMembership;
        transport?: TransportLayer;
      } = {};
      const metrics = new EdgeMetrics(
        config.nodeId,
        () => late.endpoint?.counts ?? { server: 0, client: 0 },
        () => destinationRows(shared?.dispatcher?.view, config),
        () => late.transport,
      );
      const tlsMaterial = readTlsMaterial(config);
      for (const warning of tlsMaterial.warnings) log.warn(warning);
      overload = new OverloadMonitor(
        config.overload,
        () => late.endpoint?.counts ?? { server: 0, client: 0 },
        (sample) => {
          metrics.overloaded.set(sample.overloaded ? 1 : 0);
          metrics.overloadShedFraction.set(sample.shedFraction);
          metrics.eventLoopDelay.observe(sample.delayMs / 1000);
        },
      );
      const route = await chooseRoute(config, shared, metrics, log, overload);
      secfilter = openSecfilter(config, metrics, log);
      // On its own connection, but a mirror like the others: in /readyz and sipfleet_redis_up.
      if (secfilter?.mirror) shared?.mirrors.push(secfilter.mirror);
      transport = await TransportLayer.listen(tlsMaterial.listen, {
        tlsClient: tlsMaterial.client,
        tcpIdleTimeoutMs: config.transport.tcpIdleTimeoutMs,
        tcpMessageTimeoutMs: config.transport.tcpMessageTimeoutMs,
        maxConnectionsPerSource: config.transport.maxConnectionsPerSource,
        maxMessageBytes: config.transport.maxMessageBytes,
        wsKeepaliveIntervalMs: config.transport.wsKeepaliveIntervalMs,
        udpEngine: config.transport.udpEngine,
      });
      late.transport = transport;
      const sentBy: Partial<Record<TransportProtocol, { host: string; port: number }>> = {};
      for (const socket of transport.sockets) {
        sentBy[socket.protocol] ??= transport.sentBy(socket.protocol);
      }
      const resolver = openResolver(config.dns, {
        protocols: sendProtocols(config.listen),
        addresses: config.listen.map((l) => l.address),
        log,
        queries: metrics.dnsQueries,
      });
      const view = shared?.dispatcher?.view;
      dns = {
        resolver,
        stopWarming:
          view === undefined
            ? () => undefined
            : warmDestinations(view, resolver, config.dispatcher),
      };
      const maintenance =
        shared !== undefined && config.maintenance.enabled
          ? new MaintenanceCheck(shared.htables, config.maintenance, config.nodeId, () =>
              metrics.maintenanceRefusals.inc(),
            )
          : undefined;
      if (shared !== undefined && config.handoff.enabled) {
        const { timers } = config;
        handoff = await Handoff.open(config.handoff.listen, {
          conn: shared.conn,
          secret: Buffer.from(config.handoff.secret ?? '', 'utf8'),
          maxSkewMs: config.handoff.maxSkewMs,
          maxOwners: config.handoff.maxOwners,
          // The longest a server transaction lives: fr_timer without a provisional, then (INVITE)
          // fr_inv_timer, then Timer H or J (64*T1) absorbing retransmissions.
          ttl: {
            inviteMs: timers.frTimerMs + timers.frInvTimerMs + 64 * timers.T1,
            nonInviteMs: timers.frTimerMs + 64 * timers.T1,
          },
          refreshMs: config.fleet.heartbeatMs,
          metrics,
          log,
        });
      }
      const core = new ProxyCore({
        sender: transport,
        flows: transport,
        hooks: pipeline(route, {
          draining: () => late.edge?.draining ?? false,
          maintenance,
          registration: shared?.registration,
          secfilter: secfilter?.step,
          metrics,
        }),
        options: {
          ...(config.advertise === undefined ? {} : { advertised: config.advertise }),
          aliases: config.aliases,
          timers: { frTimerMs: config.timers.frTimerMs, frInvTimerMs: config.timers.frInvTimerMs },
          maxForwards: config.maxForwards,
          dnsFailover: config.dns.failover,
          udpMtu: config.transport.udpMtu,
          sentBy,
          listeners: transport.sockets,
        },
        log,
        observer: metrics,
        admit: overloadAdmission(overload, metrics),
        resolver,
        ...(handoff === undefined ? {} : { unmatched: handoff.unmatched }),
        transactionTimers: {
          T1: config.timers.T1,
          T2: config.timers.T2,
          T4: config.timers.T4,
          wait: config.timers.waitMs,
        },
      });
      const endpoint = new SipEndpoint({
        sender: transport,
        transactions: core.transactions,
        observer: receiveObserver(metrics, log),
        limits: {
          maxHeaders: config.transport.maxHeaders,
          maxHeaderLineBytes: config.transport.maxHeaderLineBytes,
          maxRequestUriBytes: config.transport.maxRequestUriBytes,
          maxVias: config.transport.maxVias,
          maxBodyBytes: config.transport.maxBodyBytes,
        },
      });
      late.endpoint = endpoint;
      if (shared !== undefined) {
        // One line per transition of the whole (every mirror in step or not), not per mirror.
        let inStep = false;
        const redisState = () => {
          const now = shared.mirrors.every((m) => m.ready);
          metrics.redisUp.set(now ? 1 : 0);
          if (now === inStep) return;
          inStep = now;
          if (now) log.info('redis up: caches in sync');
          else if (!late.edge?.closing)
            log.warn(
              { mirrors: notInStep(shared) },
              'redis down or caches out of step: routing on cached state',
            );
        };
        for (const mirror of shared.mirrors) {
          mirror.on('up', redisState);
          mirror.on('down', redisState);
        }
        // The mirrors ran while the ports opened: catch up with a transition already past.
        redisState();
      }
      const admin = await startAdminServer(
        config.admin.address,
        config.admin.port,
        metrics.registry,
        {
          notReadyReasons: () => [
            ...(late.edge?.draining ? ['draining'] : []),
            ...(shared === undefined
              ? []
              : [
                  ...(shared.conn.ready ? [] : ['redis unavailable']),
                  ...notInStep(shared).map((name) => `${name} not in step`),
                  ...(late.membership?.joined === false ? ['fleet membership not joined'] : []),
                ]),
          ],
        },
        {
          ...(config.admin.token === undefined ? {} : { token: config.admin.token }),
          apps: [
            new ConsoleApp({
              nodeId: config.nodeId,
              tokenConfigured: config.admin.token !== undefined,
              redis: shared && { conn: shared.conn, htables: shared.htables },
              listFile: config.dispatcher.listFile,
            }),
          ],
        },
      );
      const membership =
        shared === undefined
          ? undefined
          : startMembership(
              config,
              shared.conn,
              () => ({
                callsInFlight: endpoint.counts.server,
                maintenance: late.edge?.draining ? 'draining' : (maintenance?.state ?? null),
              }),
              {
                log,
                callLoad: shared.dispatcher?.view.callLoad,
                sip: transport.sockets.map((s) => `${s.protocol}:${s.address}:${s.port}`),
                admin: `${config.admin.address}:${admin.port}`,
                ...(handoff === undefined ? {} : { handoff: handoff.address }),
              },
            );
      late.membership = membership;
      if (membership !== undefined) handoff?.attach(membership.instance, endpoint);
      const edge = new Edge(
        config,
        log,
        { transport, endpoint, metrics, admin, overload, dns },
        { shared, secfilter, membership, handoff },
      );
      late.edge = edge;
      const filter = secfilter;
      transport.onMessage =
        filter === undefined
          ? (data, remote) => endpoint.receive(data, remote)
          : (data, remote) => {
              if (filter.admit(data, remote)) endpoint.receive(data, remote);
            };
      transport.onHandshakeFailed = (remote, err) => {
        log.debug(
          { remote: `${remote.address}:${remote.port}`, err: err.message },
          'tls handshake failed',
        );
      };
      transport.onDropped = (reason, remote) => {
        metrics.droppedFrames.inc({ reason });
        log.debug(
          { reason, remote: `${remote.address}:${remote.port}` },
          'transport dropped a message',
        );
      };
      log.info(
        {
          listen: transport.sockets.map((s) => `${s.protocol}:${s.address}:${s.port}`),
          admin: `${config.admin.address}:${admin.port}`,
          redis: config.redis.url === undefined ? 'none' : redactRedisUrl(config.redis.url),
        },
        'edge started',
      );
      return edge;
    } catch (err) {
      overload?.close();
      dns?.stopWarming();
      dns?.resolver.close();
      await handoff?.close();
      await transport?.close();
      await secfilter?.close();
      await shared?.close();
      throw err;
    }
  }

  /**
   * SIGHUP: re-reads the TLS certificates, keys and CAs. New connections get them; connections
   * already open, and the calls on them, go on with the old ones. A file that cannot be read or
   * does not fit leaves everything as it was (one log line); returns whether the new files apply.
   */
  reloadTls(): boolean {
    let material;
    try {
      material = readTlsMaterial(this.config);
    } catch (err) {
      this.log.error(
        `tls reload failed, keeping the certificates in use: ${(err as Error).message}`,
      );
      return false;
    }
    for (const warning of material.warnings) this.log.warn(warning);
    this.local.transport.reloadTls(material.listen, material.client);
    this.log.info('tls certificates reloaded');
    return true;
  }

  /**
   * SIGTERM: refuse new INVITEs with 503 (in-dialog requests go on), wait for the transaction
   * table to empty or the drain timeout, then close.
   */
  async drain(): Promise<void> {
    this.draining = true;
    this.log.info('draining');
    const deadline = Date.now() + this.config.shutdown.drainTimeoutMs;
    while (Date.now() < deadline) {
      const { server, client } = this.local.endpoint.counts;
      if (server === 0 && client === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await this.close();
  }

  async close(): Promise<void> {
    this.closing = true;
    const { transport, endpoint, admin, overload, dns } = this.local;
    overload.close();
    dns.stopWarming();
    dns.resolver.close();
    endpoint.close();
    await transport.close();
    await new Promise<void>((resolve) => admin.server.close(() => resolve()));
    await this.fleet.membership?.stop();
    await this.fleet.handoff?.close();
    await this.fleet.secfilter?.close();
    await this.fleet.shared?.close();
    this.log.info('edge stopped');
  }
}
