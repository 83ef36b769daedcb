// The edge's flood and scanner protection (Kamailio's REQINIT with WITH_ANTIFLOOD: pike, an ipban
// table, a User-Agent check), wired from @sipfleet/secfilter:
//   - admit(): every message, before parsing: one Map lookup and a counter; blocked and denied
//     sources are dropped silently;
//   - the pipeline step: a request whose User-Agent is on the deny-ua list is refused 403 and its
//     source blocked;
//   - blocks this edge decides go to Redis with a TTL, and every edge mirrors Redis' blocks and
//     lists through client-side tracking, so a scanner blocked by one edge is blocked by all.
// Opening never waits for Redis: the filter blocks on its own until the mirror is in step.
import { createRedisConnection } from '@sipfleet/redis';
import type { Mirror, RedisConnection } from '@sipfleet/redis';
import { looksLikeRequest, SecfilterMirror, SourceFilter } from '@sipfleet/secfilter';
import type { RemoteInfo } from '@sipfleet/transport';
import type { Logger } from 'pino';
import { Counter, Gauge } from 'prom-client';
import { ConfigError } from '../config.js';
import type { EdgeConfig } from '../config.js';
import type { EdgeMetrics } from '../metrics.js';
import type { PipelineStep } from './pipeline.js';

export interface EdgeSecfilter {
  /** transport.onMessage's first check: false = drop the message unparsed. */
  admit(data: Buffer, remote: RemoteInfo): boolean;
  /** The pipeline step for the User-Agent lists. */
  readonly step: PipelineStep;
  /** The copy of the fleet's blocks and lists (`/readyz` name `secfilter`); none without Redis. */
  readonly mirror: Mirror | undefined;
  close(): Promise<void>;
}

/** Undefined when `secfilter.enabled` is false. Returns at once, Redis or not. */
export function openSecfilter(
  config: EdgeConfig,
  metrics: EdgeMetrics,
  log: Logger,
): EdgeSecfilter | undefined {
  const settings = config.secfilter;
  if (!settings.enabled) return undefined;
  let mirror: SecfilterMirror | undefined;
  let publishErrors = 0;
  const filter = new SourceFilter({
    samplingTimeUnitMs: settings.samplingTimeUnitMs,
    reqsDensityPerUnit: settings.reqsDensityPerUnit,
    removeLatencyMs: settings.removeLatencyMs,
    banMs: settings.banSeconds * 1000,
    trusted: settings.trusted,
    maxSources: settings.maxSources,
    onBlock(address, banMs, reason) {
      // One line per blocked source and ban, never per dropped message.
      log.warn({ source: address, reason, banSeconds: banMs / 1000 }, 'secfilter: source blocked');
      void mirror?.publishBlock(address, banMs, `${reason}:${config.nodeId}`).then((ok) => {
        if (!ok) publishErrors++;
      });
    },
  });
  let conn: RedisConnection | undefined;
  const url = config.redis.url;
  if (url !== undefined) {
    try {
      conn = createRedisConnection({
        redis: url,
        keyPrefix: config.redis.prefix,
        connectionName: `sipfleet-edge-${config.nodeId}-secfilter`,
      });
    } catch (err) {
      throw new ConfigError(`redis.url: ${(err as Error).message}`);
    }
    // Its `up`/`down` are logged with the edge's other mirrors (edge.ts).
    mirror = SecfilterMirror.start(conn, filter, {
      onError: (err) => log.debug({ err }, 'secfilter background work failed; will retry'),
      onMalformed: (list, entries) =>
        log.warn({ list, entries }, 'secfilter: list entries that are not addresses ignored'),
    });
  }
  registerMetrics(metrics, filter, () => publishErrors);
  const sweeper = setInterval(() => filter.sweep(), Math.max(1000, settings.removeLatencyMs));
  sweeper.unref();
  return {
    mirror: mirror?.mirror,
    admit: (data, remote) => filter.admit(remote.address, looksLikeRequest(data)),
    step(ctx) {
      if (!filter.checksUserAgents) return false;
      if (!filter.refuseUserAgent(ctx.source.address, ctx.request.getHeader('user-agent'))) {
        return false;
      }
      ctx.reply(403, 'Forbidden');
      return true;
    },
    async close() {
      clearInterval(sweeper);
      await mirror?.close();
      await conn?.close();
    },
  };
}

/** Read from the filter's plain counters at scrape time: nothing but `++` on the message path. */
function registerMetrics(
  metrics: EdgeMetrics,
  filter: SourceFilter,
  publishErrors: () => number,
): void {
  const registers = [metrics.registry];
  const c = filter.counters;
  new Counter({
    name: 'sipfleet_secfilter_dropped_total',
    help: 'Messages dropped unparsed, by reason (blocked source, source on deny-ip)',
    labelNames: ['reason'],
    registers,
    collect() {
      this.reset();
      this.inc({ reason: 'blocked' }, c.droppedBlocked);
      this.inc({ reason: 'denied' }, c.droppedDenied);
    },
  });
  new Counter({
    name: 'sipfleet_secfilter_user_agent_refusals_total',
    help: 'Requests refused 403 because their User-Agent is on the deny-ua list',
    registers,
    collect() {
      this.reset();
      this.inc(c.refusedUserAgent);
    },
  });
  new Counter({
    name: 'sipfleet_secfilter_blocks_total',
    help: 'Sources this edge blocked fleet-wide, by reason (pike rate, user-agent)',
    labelNames: ['reason'],
    registers,
    collect() {
      this.reset();
      this.inc({ reason: 'pike' }, c.blocksPike);
      this.inc({ reason: 'user-agent' }, c.blocksUserAgent);
    },
  });
  new Gauge({
    name: 'sipfleet_secfilter_blocked_sources',
    help: "Sources blocked now (this edge's blocks and the fleet's)",
    registers,
    collect() {
      this.set(filter.blocked().size);
    },
  });
  new Gauge({
    name: 'sipfleet_secfilter_tracked_sources',
    help: 'Sources whose request rate this edge is tracking',
    registers,
    collect() {
      this.set(filter.trackedSources);
    },
  });
  new Counter({
    name: 'sipfleet_secfilter_untracked_total',
    help: 'Messages from new sources that passed unmetered because maxSources were tracked',
    registers,
    collect() {
      this.reset();
      this.inc(c.untracked);
    },
  });
  new Counter({
    name: 'sipfleet_secfilter_publish_errors_total',
    help: 'Blocks Redis did not take (kept locally and published when Redis is back)',
    registers,
    collect() {
      this.reset();
      this.inc(publishErrors());
    },
  });
}
