// The edge's link to the fleet: one Redis connection and the mirrors read from it (htables, the
// keepalive states, the dispatcher view). Opening never waits for Redis: the mirrors start
// not-ready and catch up when Redis appears (@sipfleet/redis Mirror); only configuration errors
// (a bad URL, an unreadable or malformed list file) stop the edge.
import { readFileSync } from 'node:fs';
import {
  DS_ALG,
  DispatcherFleet,
  DispatcherView,
  type LoadResult,
  SipfleetDispatcherError,
} from '@sipfleet/dispatcher';
import { HtableError, Htables, MAINTENANCE_TABLE } from '@sipfleet/htable';
import { KeepaliveMonitor } from '@sipfleet/keepalive';
import { createRedisConnection } from '@sipfleet/redis';
import type { Mirror, RedisConnection } from '@sipfleet/redis';
import type { Logger } from 'pino';
import { ConfigError } from '../config.js';
import type { EdgeConfig } from '../config.js';
import { RegistrationKeepalive } from './registration-keepalive.js';

export interface SharedState {
  conn: RedisConnection;
  htables: Htables;
  /** The keepalive module's states (`isAlive(uri)`, no round trip). */
  keepalive: KeepaliveMonitor;
  dispatcher: { view: DispatcherView; fleet: DispatcherFleet } | undefined;
  registration: RegistrationKeepalive | undefined;
  /** Every mirror of Redis state this edge routes with; ready = all of them in step. */
  mirrors: Mirror[];
  close(): Promise<void>;
}

/**
 * A mirror's background failures as log lines: one per error code until the mirror is in step
 * again, not one per retry or per call (round-robin's INCR fails on every call while Redis is
 * away; the outage itself is the `redis down` line and `sipfleet_redis_up`).
 */
function warnOnce(log: Logger, what: string) {
  const seen = new Set<string>();
  return {
    warn: (err: Error) => {
      const code = 'code' in err && typeof err.code === 'string' ? err.code : err.name;
      if (seen.has(code)) return;
      seen.add(code);
      log.warn({ err }, what);
    },
    /** Call when the mirror is back in step. */
    reset: () => seen.clear(),
  };
}

/** The list file's text, read once at start (an unreadable file is a configuration error). */
function readListFile(listFile: string): string {
  try {
    return readFileSync(listFile, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `dispatcher.listFile: cannot read ${listFile}: ${(err as Error).message}`,
    );
  }
}

/** Redis, the htable caches and, when configured, the dispatcher view of the fleet's sets. */
export function openSharedState(config: EdgeConfig, log: Logger): SharedState | undefined {
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
  const htableErrors = warnOnce(log, 'htable background refresh failed; will retry');
  const dispatcherErrors = warnOnce(log, 'dispatcher background work failed; will retry');
  const keepaliveErrors = warnOnce(log, 'keepalive background work failed; will retry');
  let htables: Htables;
  try {
    htables = Htables.start(conn, definitions, { onError: htableErrors.warn });
  } catch (err) {
    void conn.close();
    if (err instanceof HtableError) throw new ConfigError(`htables: ${err.message}`);
    throw err;
  }
  let dispatcher: SharedState['dispatcher'];
  if (
    config.routing.dispatcher !== undefined ||
    config.dispatcher.listFile !== undefined ||
    config.dispatcher.registerSets.length > 0
  ) {
    const listFile = config.dispatcher.listFile;
    let view: DispatcherView;
    try {
      view = DispatcherView.start(conn, {
        onError: dispatcherErrors.warn,
        initExpireSeconds: config.dispatcher.initExpireSeconds,
        expireSeconds: config.dispatcher.expireSeconds,
        reconcileIntervalMs: config.dispatcher.reconcileIntervalMs,
        roundRobinLease: config.dispatcher.roundRobinLease,
        ...(config.dispatcher.callLoadPick === 'local'
          ? { localPickHeadroom: config.dispatcher.callLoadHeadroom }
          : {}),
        // Only algorithms 11 (cc=1) and 13 read latency: other routes spare Redis the reads.
        ...(config.routing.dispatcher !== undefined &&
        (config.routing.dispatcher.algorithm === DS_ALG.LATENCY ||
          config.routing.dispatcher.algorithm === DS_ALG.RELATIVE_WEIGHT)
          ? { latencyRefreshMs: config.routing.dispatcher.latencyRefreshMs }
          : {}),
        ...(listFile !== undefined ? { initialList: readListFile(listFile) } : {}),
      });
    } catch (err) {
      void htables.close().then(() => conn.close());
      if (err instanceof SipfleetDispatcherError) {
        throw new ConfigError(`dispatcher.listFile: ${listFile ?? ''}: ${err.message}`);
      }
      throw err;
    }
    view.on('list-loaded', (loaded: LoadResult) =>
      log.info({ listFile, version: loaded.version }, 'dispatcher list loaded into Redis'),
    );
    dispatcher = { view, fleet: new DispatcherFleet(conn) };
  }
  const keepalive = KeepaliveMonitor.start(conn, {
    onError: keepaliveErrors.warn,
  });
  htables.mirror.on('up', htableErrors.reset);
  keepalive.mirror.on('up', keepaliveErrors.reset);
  dispatcher?.view.mirror.on('up', dispatcherErrors.reset);
  return {
    conn,
    htables,
    keepalive,
    dispatcher,
    registration:
      dispatcher !== undefined && config.dispatcher.registerSets.length > 0
        ? new RegistrationKeepalive(
            conn,
            dispatcher.view,
            dispatcher.fleet,
            config.dispatcher.registerSets,
            config.dispatcher.registerAllowFrom,
          )
        : undefined,
    mirrors: [htables.mirror, keepalive.mirror, ...(dispatcher ? [dispatcher.view.mirror] : [])],
    async close() {
      await dispatcher?.view.close();
      await keepalive.close();
      await htables.close();
      await conn.close();
    },
  };
}
