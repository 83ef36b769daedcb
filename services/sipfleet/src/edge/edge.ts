import type { Server } from 'node:http';
import { ProxyCore } from '@sipfleet/proxy';
import { redactRedisUrl } from '@sipfleet/redis';
import { SipEndpoint } from '@sipfleet/transaction';
import { TransportLayer } from '@sipfleet/transport';
import type { TransportProtocol } from '@sipfleet/transport';
import type { Logger } from 'pino';
import { startAdminServer } from '../admin-server.js';
import type { EdgeConfig } from '../config.js';
import { EdgeMetrics } from '../metrics.js';
import { destinationRows } from './gauges.js';
import { MaintenanceCheck } from './maintenance.js';
import { pipeline } from './pipeline.js';
import { receiveObserver } from './receive.js';
import { chooseRoute } from './routes/index.js';
import { openSharedState } from './shared-state.js';
import type { SharedState } from './shared-state.js';

/**
 * One edge process: transports → parser → transaction layer → proxy core with the routing hooks,
 * plus the admin port. Stateless apart from in-flight transactions.
 */
export class Edge {
  private draining = false;
  /** Set by close(): the Redis connection going down is ours, not an outage. */
  closing = false;

  private constructor(
    readonly config: EdgeConfig,
    readonly log: Logger,
    readonly transport: TransportLayer,
    readonly core: ProxyCore,
    private readonly endpoint: SipEndpoint,
    readonly metrics: EdgeMetrics,
    private readonly admin: { server: Server; port: number },
    private readonly shared: SharedState | undefined,
  ) {}

  get adminPort(): number {
    return this.admin.port;
  }

  static async start(config: EdgeConfig, log: Logger): Promise<Edge> {
    const shared = await openSharedState(config, log);
    let transport: TransportLayer | undefined;
    try {
      // The metrics and the pipeline need objects made after them; they read them through this.
      const late: { endpoint?: SipEndpoint; edge?: Edge } = {};
      const metrics = new EdgeMetrics(
        config.nodeId,
        () => late.endpoint?.counts ?? { server: 0, client: 0 },
        () => destinationRows(shared?.dispatcher?.view, config),
      );
      const route = await chooseRoute(config, shared, metrics, log);
      transport = await TransportLayer.listen(config.listen, {
        tcpIdleTimeoutMs: config.transport.tcpIdleTimeoutMs,
        maxMessageBytes: config.transport.maxMessageBytes,
      });
      const sentBy: Partial<Record<TransportProtocol, { host: string; port: number }>> = {};
      for (const socket of transport.sockets) {
        sentBy[socket.protocol] ??= transport.sentBy(socket.protocol);
      }
      const maintenance =
        shared !== undefined && config.maintenance.enabled
          ? new MaintenanceCheck(shared.htables, config.maintenance, config.nodeId, () =>
              metrics.maintenanceRefusals.inc(),
            )
          : undefined;
      const core = new ProxyCore({
        sender: transport,
        hooks: pipeline(route, {
          draining: () => late.edge?.draining ?? false,
          maintenance,
          registration: shared?.registration,
          metrics,
        }),
        options: {
          ...(config.advertise === undefined ? {} : { advertised: config.advertise }),
          aliases: config.aliases,
          timers: { frTimerMs: config.timers.frTimerMs, frInvTimerMs: config.timers.frInvTimerMs },
          maxForwards: config.maxForwards,
          sentBy,
        },
        log,
        observer: metrics,
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
        const redisState = () => metrics.redisUp.set(shared.htables.ready ? 1 : 0);
        redisState();
        shared.htables.on('up', () => {
          log.info('redis up: caches in sync');
          redisState();
        });
        shared.htables.on('down', () => {
          if (!late.edge?.closing) log.warn('redis down: routing on cached state');
          redisState();
        });
      }
      const admin = await startAdminServer(
        config.admin.address,
        config.admin.port,
        metrics.registry,
        {
          notReadyReasons: () => [
            ...(late.edge?.draining ? ['draining'] : []),
            ...(shared !== undefined && !shared.htables.ready ? ['redis unavailable'] : []),
          ],
        },
      );
      const edge = new Edge(config, log, transport, core, endpoint, metrics, admin, shared);
      late.edge = edge;
      transport.onMessage = (data, remote) => endpoint.receive(data, remote);
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
      await transport?.close();
      await shared?.close();
      throw err;
    }
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
      const { server, client } = this.endpoint.counts;
      if (server === 0 && client === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await this.close();
  }

  async close(): Promise<void> {
    this.closing = true;
    this.endpoint.close();
    await this.transport.close();
    await new Promise<void>((resolve) => this.admin.server.close(() => resolve()));
    await this.shared?.close();
    this.log.info('edge stopped');
  }
}
