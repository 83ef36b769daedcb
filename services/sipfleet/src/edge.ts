import type { Server } from 'node:http';
import { defaultRoute, ProxyCore } from '@sipfleet/proxy';
import type { RoutingHooks } from '@sipfleet/proxy';
import { createResponse, parseMessage, SipParseError, SipRequest } from '@sipfleet/sip';
import { applyReceived, responseTarget, TransportLayer } from '@sipfleet/transport';
import type { RemoteInfo, TransportProtocol } from '@sipfleet/transport';
import type { Logger } from 'pino';
import { startAdminServer } from './admin-server.js';
import type { EdgeConfig } from './config.js';
import { EdgeMetrics } from './metrics.js';
import { loadRoutingModule } from './routing-module.js';

/**
 * One edge process: transports → parser → transaction layer → proxy core with the routing hooks,
 * plus the admin port. Stateless apart from in-flight transactions.
 */
export class Edge {
  private draining = false;

  private constructor(
    readonly config: EdgeConfig,
    readonly log: Logger,
    readonly transport: TransportLayer,
    readonly core: ProxyCore,
    readonly metrics: EdgeMetrics,
    private readonly admin: { server: Server; port: number },
  ) {}

  get adminPort(): number {
    return this.admin.port;
  }

  static async start(config: EdgeConfig, log: Logger): Promise<Edge> {
    const userHooks =
      config.routing.module === undefined
        ? defaultRoute(
            config.routing.destination === undefined
              ? {}
              : { destination: config.routing.destination },
          )
        : await loadRoutingModule(config.routing.module);
    const transport = await TransportLayer.listen(config.listen, {
      tcpIdleTimeoutMs: config.transport.tcpIdleTimeoutMs,
      maxMessageBytes: config.transport.maxMessageBytes,
    });
    try {
      const sentBy: Partial<Record<TransportProtocol, { host: string; port: number }>> = {};
      for (const socket of transport.sockets)
        sentBy[socket.protocol] ??= transport.sentBy(socket.protocol);
      // The metrics and the drain check need objects made after them; they read them through this.
      const late: { core?: ProxyCore; edge?: Edge } = {};
      const metrics = new EdgeMetrics(
        config.nodeId,
        () => late.core?.transactions.counts ?? { server: 0, client: 0 },
      );
      const core = new ProxyCore({
        sender: transport,
        hooks: withDrain(userHooks, () => late.edge?.draining ?? false, metrics),
        options: {
          ...(config.advertise === undefined ? {} : { advertised: config.advertise }),
          aliases: config.aliases,
          timers: { frTimerMs: config.timers.frTimerMs, frInvTimerMs: config.timers.frInvTimerMs },
          maxForwards: config.maxForwards,
          sentBy,
        },
        log,
        observer: metrics,
        transactionTimers: { T1: config.timers.T1, T2: config.timers.T2, T4: config.timers.T4 },
      });
      late.core = core;
      core.transactions.onRetransmission = (kind) => metrics.retransmissions.inc({ kind });
      const admin = await startAdminServer(
        config.admin.address,
        config.admin.port,
        metrics.registry,
        {
          notReadyReasons: () => (late.edge?.draining ? ['draining'] : []),
        },
      );
      const edge = new Edge(config, log, transport, core, metrics, admin);
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
        },
        'edge started',
      );
      return edge;
    } catch (err) {
      await transport.close();
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
    this.core.transactions.close();
    await this.transport.close();
    await new Promise<void>((resolve) => this.admin.server.close(() => resolve()));
    this.log.info('edge stopped');
  }
}

/** Wraps the request hook: while draining, initial INVITEs get 503 and go nowhere. */
function withDrain(
  hooks: RoutingHooks,
  draining: () => boolean,
  metrics: EdgeMetrics,
): RoutingHooks {
  const request = hooks.request;
  return {
    ...hooks,
    request(ctx) {
      if (draining() && ctx.method === 'INVITE' && !ctx.hasToTag()) {
        metrics.drainRefusals.inc();
        ctx.reply(503, 'Draining', [['Retry-After', '5']]);
        return;
      }
      return request?.(ctx);
    },
  };
}
