// One `sipfleet prober` process: its own SIP sockets (Pinger), a BullMQ worker sharing the ping
// schedules with every other prober, metrics and health on the admin port, clean shutdown.
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { DispatcherFleet } from '@sipfleet/dispatcher';
import { KeepaliveStore, Pinger, Prober } from '@sipfleet/keepalive';
import { RedisConnection } from '@sipfleet/redis';
import { startAdminServer } from '../admin-server.js';
import { openResolver } from '../dns.js';
import { proberSettings, type ProberConfig } from './config.js';
import { readTlsClient } from '../tls-files.js';
import { ProberMetrics } from './metrics.js';

export class ProberService {
  private constructor(
    readonly config: ProberConfig,
    readonly metrics: ProberMetrics,
    readonly conn: RedisConnection,
    readonly pinger: Pinger,
    readonly prober: Prober,
    readonly admin: { server: Server; port: number },
    private readonly log: Logger,
  ) {}

  static async start(config: ProberConfig, log: Logger): Promise<ProberService> {
    const metrics = new ProberMetrics(config.nodeId);
    const d = config.dispatcher;
    const settings = proberSettings(config);
    const conn = new RedisConnection({
      redis: config.redis.url,
      keyPrefix: config.redis.prefix,
      connectionName: `sipfleet-prober-${config.nodeId}`,
    });
    conn.on('up', () => {
      metrics.redisUp.set(1);
      log.info('redis up');
    });
    conn.on('down', (cause) => {
      metrics.redisUp.set(0);
      log.warn({ err: cause }, 'redis down: pings pause until it is back');
    });
    let pinger: Pinger | undefined;
    let prober: Prober | undefined;
    let admin: Awaited<ReturnType<typeof startAdminServer>>;
    try {
      await conn.waitUntilReady(10_000);
      metrics.redisUp.set(1);
      const fleet = new DispatcherFleet(conn, {
        thresholds: {
          probingThreshold: d.probingThreshold ?? 1,
          inactiveThreshold: d.inactiveThreshold ?? 1,
        },
      });
      const tlsWarnings: string[] = [];
      const tls =
        config.sip.tls === undefined
          ? undefined
          : readTlsClient('sip.tls', config.sip.tls, tlsWarnings);
      for (const warning of tlsWarnings) log.warn(warning);
      pinger = await Pinger.start({
        resolver: openResolver(config.dns, {
          // TLS pings leave from the TCP listener (no TLS listener needed).
          protocols: config.sip.tcp ? ['udp', 'tcp', 'tls'] : ['udp'],
          addresses: [config.sip.address],
          log,
          queries: metrics.dnsQueries,
        }),
        address: config.sip.address,
        port: config.sip.port,
        tcp: config.sip.tcp,
        ...(tls === undefined ? {} : { tls }),
        sockets: config.sip.sockets,
        ...(config.sip.advertise !== undefined
          ? { advertise: { host: config.sip.advertise } }
          : {}),
        timeoutMs: settings.timeoutMs ?? Math.min(5000, settings.pingIntervalMs ?? 10_000),
        ...(settings.method !== undefined ? { method: settings.method } : {}),
      });
      pinger.observer = {
        onSent: (_uri, protocol) => metrics.pingsSent.labels(protocol).inc(),
        onResult: (r) => metrics.result(r),
        onMalformed: () => metrics.malformed.inc(),
      };
      const store = new KeepaliveStore(conn);
      for (const uri of config.keepalive.destinations) await store.add(uri, 'config');
      prober = await Prober.start({
        conn,
        fleet,
        pinger,
        settings,
        keepalive: {
          pingIntervalMs: config.keepalive.pingIntervalMs,
          ...(config.keepalive.from !== undefined ? { from: config.keepalive.from } : {}),
        },
        registerSets: d.registerSets,
        concurrency: config.concurrency,
        onError: (err) => log.warn({ err }, 'prober background error'),
        observer: {
          onScheduleLag: (ms) => metrics.scheduleLag.observe(ms / 1000),
          onSkipped: (reason, data) => {
            metrics.skipped.labels(reason).inc();
            log.debug({ reason, job: data }, 'batch skipped');
          },
          onJobError: (err, data) => {
            metrics.jobErrors.inc();
            log.warn({ err, job: data }, 'batch failed');
          },
          onTransition: (kind, setid, uri, t) => {
            const to = t.wentDown ? 'down' : t.wentUp ? 'up' : 'state';
            metrics.transitions.labels(kind, to).inc();
            log.info(
              { kind, setid, uri, oldFlags: t.oldFlags, newFlags: t.newFlags, to },
              'destination state changed',
            );
          },
        },
      });
      const started = prober;
      admin = await startAdminServer(config.admin.address, config.admin.port, metrics.registry, {
        notReadyReasons: () => {
          const reasons: string[] = [];
          if (!conn.ready) reasons.push('redis unreachable');
          if (!started.view.ready) reasons.push('dispatcher list not read');
          return reasons;
        },
      });
    } catch (err) {
      // Everything opened so far, or the process would stay up on its Redis and BullMQ handles.
      await prober?.close().catch(() => undefined);
      await pinger?.close().catch(() => undefined);
      conn.removeAllListeners('down'); // closing is not an outage
      await conn.close();
      throw err;
    }
    const service = new ProberService(config, metrics, conn, pinger, prober, admin, log);
    log.info(
      {
        admin: admin.port,
        sip: pinger.udpPort,
        interval: prober.settings.pingIntervalMs,
        mode: prober.settings.probingMode,
      },
      'prober started',
    );
    return service;
  }

  /** SIGTERM: stop taking jobs (running ones finish), close sockets, Redis and the admin port. */
  async stop(): Promise<void> {
    await this.prober.close();
    await this.pinger.close();
    await new Promise<void>((resolve) => this.admin.server.close(() => resolve()));
    this.conn.removeAllListeners('down'); // closing is not an outage
    await this.conn.close();
    this.log.info('prober stopped');
  }
}
