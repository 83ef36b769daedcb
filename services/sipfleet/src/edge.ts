import type { Server } from 'node:http';
import { readFileSync } from 'node:fs';
import {
  DS_ALG,
  DispatcherFleet,
  DispatcherView,
  isActive,
  SipfleetDispatcherError,
} from '@sipfleet/dispatcher';
import { Htables } from '@sipfleet/htable';
import { KeepaliveMonitor } from '@sipfleet/keepalive';
import { defaultRoute, ProxyCore } from '@sipfleet/proxy';
import type { RoutingHooks } from '@sipfleet/proxy';
import { createResponse, parseMessage, SipParseError, SipRequest } from '@sipfleet/sip';
import { applyReceived, responseTarget, TransportLayer } from '@sipfleet/transport';
import type { RemoteInfo, TransportProtocol } from '@sipfleet/transport';
import { createRedisConnection } from '@sipfleet/redis';
import type { RedisConnection } from '@sipfleet/redis';
import type { Logger } from 'pino';
import { startAdminServer } from './admin-server.js';
import { ConfigError } from './config.js';
import type { EdgeConfig } from './config.js';
import { MAINTENANCE_TABLE, MaintenanceCheck } from './maintenance.js';
import { dispatcherRoute } from './dispatcher-route.js';
import { RegistrationKeepalive } from './registration-keepalive.js';
import { EdgeMetrics } from './metrics.js';
import type { DestinationGaugeRow } from './metrics.js';
import { loadRoutingModule } from './routing-module.js';

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
      const late: { core?: ProxyCore; edge?: Edge } = {};
      const dispatcher = shared?.dispatcher;
      const metrics = new EdgeMetrics(
        config.nodeId,
        () => late.core?.transactions.counts ?? { server: 0, client: 0 },
        () => destinationRows(dispatcher?.view, config),
      );
      const routing = config.routing;
      let userHooks: RoutingHooks;
      if (routing.module !== undefined) {
        userHooks = await loadRoutingModule(routing.module, {
          nodeId: config.nodeId,
          log,
          htables: shared?.htables,
          keepalive: shared?.keepalive,
          dispatcher,
          metrics: metrics.forRoutingModules(),
        });
      } else if (routing.dispatcher !== undefined && dispatcher !== undefined) {
        userHooks = dispatcherRoute(routing.dispatcher, dispatcher.view, dispatcher.fleet, metrics);
      } else {
        userHooks = defaultRoute(
          routing.destination === undefined ? {} : { destination: routing.destination },
        );
      }
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
        hooks: pipeline(userHooks, {
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
      late.core = core;
      core.transactions.onRetransmission = (kind) => metrics.retransmissions.inc({ kind });
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
      const edge = new Edge(config, log, transport, core, metrics, admin, shared);
      late.edge = edge;
      transport.onMessage = (data, remote) => edge.onMessage(data, remote);
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
          redis: config.redis.url === undefined ? 'none' : redactUrl(config.redis.url),
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

  /** Parse, then hand to the transaction layer. Nothing a peer sends may throw past this point. */
  private onMessage(data: Buffer, remote: RemoteInfo): void {
    let msg;
    try {
      msg = parseMessage(data);
    } catch (err) {
      this.onParseError(err, remote);
      return;
    }
    try {
      if (msg instanceof SipRequest) applyReceived(msg, remote);
      this.core.receive(msg, remote);
    } catch (err) {
      // A header that only fails when a later step parses it lazily ends up here.
      if (err instanceof SipParseError) this.onParseError(err, remote);
      else
        this.log.error(
          { err, remote: `${remote.address}:${remote.port}` },
          'message processing failed',
        );
    }
  }

  private onParseError(err: unknown, remote: RemoteInfo): void {
    if (!(err instanceof SipParseError)) {
      this.metrics.parseErrors.inc({ action: 'dropped' });
      this.log.error({ err }, 'parser threw a non-parse error');
      return;
    }
    const req = err.request;
    if (req !== undefined && req.method !== 'ACK') {
      try {
        const via = req.topVia;
        if (via !== undefined) {
          const res = createResponse(
            req,
            err.status,
            err.message.slice(0, 100).replace(/[\r\n]/g, ' '),
          );
          this.transport.send(responseTarget(via, remote), res.toBuffer());
          this.metrics.parseErrors.inc({ action: 'answered' });
          this.metrics.responseSent(err.status);
          return;
        }
      } catch {
        // fall through: could not form a response after all
      }
    }
    this.metrics.parseErrors.inc({ action: 'dropped' });
    this.log.debug(
      { code: err.code, remote: `${remote.address}:${remote.port}` },
      'malformed message dropped',
    );
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
      const { server, client } = this.core.transactions.counts;
      if (server === 0 && client === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await this.close();
  }

  async close(): Promise<void> {
    this.closing = true;
    this.core.transactions.close();
    await this.transport.close();
    await new Promise<void>((resolve) => this.admin.server.close(() => resolve()));
    await this.shared?.close();
    this.log.info('edge stopped');
  }
}

interface PipelineSteps {
  draining: () => boolean;
  maintenance: MaintenanceCheck | undefined;
  registration: RegistrationKeepalive | undefined;
  metrics: EdgeMetrics;
}

/**
 * The fixed steps before the routing program's request hook (docs/architecture.md, "life of one
 * INVITE", step 5): drain refusal, the maintenance check, REGISTERs of register-mode
 * destinations; everything else is the user's (or the default) route.
 */
function pipeline(hooks: RoutingHooks, steps: PipelineSteps): RoutingHooks {
  const request = hooks.request;
  return {
    ...hooks,
    request(ctx) {
      if (steps.draining() && ctx.method === 'INVITE' && !ctx.hasToTag()) {
        steps.metrics.drainRefusals.inc();
        ctx.reply(503, 'Draining', [['Retry-After', '5']]);
        return;
      }
      if (steps.maintenance?.refuse(ctx)) return;
      const registered = steps.registration?.match(ctx);
      if (registered !== undefined) return steps.registration?.register(ctx, registered);
      return request?.(ctx);
    },
  };
}

interface SharedState {
  htables: Htables;
  /** The keepalive module's states (`isAlive(uri)`, no round trip). */
  keepalive: KeepaliveMonitor;
  dispatcher: { view: DispatcherView; fleet: DispatcherFleet } | undefined;
  registration: RegistrationKeepalive | undefined;
  close(): Promise<void>;
}

/** Redis, the htable caches and, when configured, the dispatcher view of the fleet's sets. */
async function openSharedState(config: EdgeConfig, log: Logger): Promise<SharedState | undefined> {
  const url = config.redis.url;
  if (url === undefined) return undefined;
  let conn: RedisConnection;
  try {
    conn = createRedisConnection({
      redis: url,
      keyPrefix: config.redis.prefix,
      connectionName: `sipfleet-edge-${config.nodeId}`,
    });
  } catch (err) {
    throw new ConfigError(`redis.url: ${(err as Error).message}`);
  }
  const definitions = config.htables.some((t) => t.name === MAINTENANCE_TABLE)
    ? config.htables
    : [{ name: MAINTENANCE_TABLE }, ...config.htables];
  let htables: Htables | undefined;
  let view: DispatcherView | undefined;
  let keepalive: KeepaliveMonitor | undefined;
  try {
    htables = await Htables.open(conn, definitions, {
      onError: (err) => log.warn({ err }, 'htable background refresh failed; will retry'),
    });
    keepalive = await KeepaliveMonitor.open(conn, {
      onError: (err) => log.warn({ err }, 'keepalive background work failed; will retry'),
    });
    let dispatcher: SharedState['dispatcher'];
    if (
      config.routing.dispatcher !== undefined ||
      config.dispatcher.listFile !== undefined ||
      config.dispatcher.registerSets.length > 0
    ) {
      const fleet = new DispatcherFleet(conn);
      view = await DispatcherView.open(conn, {
        onError: (err) => log.warn({ err }, 'dispatcher background work failed; will retry'),
        initExpireSeconds: config.dispatcher.initExpireSeconds,
        expireSeconds: config.dispatcher.expireSeconds,
        reconcileIntervalMs: config.dispatcher.reconcileIntervalMs,
      });
      const listFile = config.dispatcher.listFile;
      if (listFile !== undefined && view.listVersion === 0) {
        let text: string;
        try {
          text = readFileSync(listFile, 'utf8');
        } catch (err) {
          throw new ConfigError(
            `dispatcher.listFile: cannot read ${listFile}: ${(err as Error).message}`,
          );
        }
        const loaded = await fleet.load(text).catch((err: unknown) => {
          if (err instanceof SipfleetDispatcherError) {
            throw new ConfigError(`dispatcher.listFile: ${listFile}: ${err.message}`);
          }
          throw err;
        });
        log.info({ listFile, version: loaded.version }, 'dispatcher list loaded into Redis');
      }
      dispatcher = { view, fleet };
    }
    const ht = htables;
    const ka = keepalive;
    return {
      htables: ht,
      keepalive: ka,
      dispatcher,
      registration:
        dispatcher !== undefined && config.dispatcher.registerSets.length > 0
          ? new RegistrationKeepalive(
              conn,
              dispatcher.view,
              dispatcher.fleet,
              config.dispatcher.registerSets,
            )
          : undefined,
      async close() {
        await dispatcher?.view.close();
        await ka.close();
        await ht.close();
        await conn.close();
      },
    };
  } catch (err) {
    await view?.close();
    await keepalive?.close();
    await htables?.close();
    await conn.close();
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(
      `redis.url: cannot open the shared state at ${redactUrl(url)}: ${(err as Error).message}`,
    );
  }
}

/** Rows for the destination gauges: state from the snapshot, load from Redis for algorithm 10. */
async function destinationRows(
  view: DispatcherView | undefined,
  config: EdgeConfig,
): Promise<DestinationGaugeRow[]> {
  if (view === undefined) return [];
  const rows: DestinationGaugeRow[] = [];
  const routed = config.routing.dispatcher;
  for (const set of view.snapshot.sets.values()) {
    let loads: ReadonlyMap<string, number> | undefined;
    if (routed?.set === set.id && routed.algorithm === DS_ALG.CALL_LOAD) {
      loads = await view.callLoad.loads(set.id).catch(() => undefined);
    }
    for (const d of set.destinations) {
      const key = (d.attrs.duid ?? d.uri).toLowerCase();
      const load = loads?.get(key) ?? (loads === undefined ? undefined : 0);
      rows.push({
        set: set.id,
        uri: d.uri,
        active: isActive(d),
        ...(load === undefined ? {} : { load }),
      });
    }
  }
  return rows;
}

/** A Redis URL without its password, for logs and errors. */
function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}
