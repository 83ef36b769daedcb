import { readFileSync } from 'node:fs';
import { DispatcherFleet, DispatcherView, SipfleetDispatcherError } from '@sipfleet/dispatcher';
import { Htables } from '@sipfleet/htable';
import { KeepaliveMonitor } from '@sipfleet/keepalive';
import { createRedisConnection, redactRedisUrl } from '@sipfleet/redis';
import type { RedisConnection } from '@sipfleet/redis';
import type { Logger } from 'pino';
import { ConfigError } from '../config.js';
import type { EdgeConfig } from '../config.js';
import { MAINTENANCE_TABLE } from './maintenance.js';
import { RegistrationKeepalive } from './registration-keepalive.js';

export interface SharedState {
  htables: Htables;
  /** The keepalive module's states (`isAlive(uri)`, no round trip). */
  keepalive: KeepaliveMonitor;
  dispatcher: { view: DispatcherView; fleet: DispatcherFleet } | undefined;
  registration: RegistrationKeepalive | undefined;
  close(): Promise<void>;
}

/** Redis, the htable caches and, when configured, the dispatcher view of the fleet's sets. */
export async function openSharedState(
  config: EdgeConfig,
  log: Logger,
): Promise<SharedState | undefined> {
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
      `redis.url: cannot open the shared state at ${redactRedisUrl(url)}: ${(err as Error).message}`,
    );
  }
}
