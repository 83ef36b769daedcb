// BullMQ gets connection OPTIONS derived from the fleet's one Redis setting, not our fail-fast
// client: its workers block (BZPOPMIN) and must retry forever (maxRetriesPerRequest: null), the
// opposite of what a routing decision wants.

import type { ConnectionOptions } from 'bullmq';
import { Cluster } from 'ioredis';
import type { RedisTarget } from '@sipfleet/redis';

export interface BullConnection {
  readonly connection: ConnectionOptions;
  /** Closes what this module created (the Cluster client); BullMQ closes its own duplicates. */
  close(): Promise<void>;
}

export function bullConnection(
  target: RedisTarget,
  connectionName = 'sipfleet-prober',
): BullConnection {
  const auth = {
    ...(target.username !== undefined ? { username: target.username } : {}),
    ...(target.password !== undefined ? { password: target.password } : {}),
    ...(target.tls ? { tls: {} } : {}),
  };
  const common = { maxRetriesPerRequest: null, connectionName, enableReadyCheck: true };
  if (target.mode === 'standalone') {
    return {
      connection: { host: target.host, port: target.port, db: target.db, ...auth, ...common },
      close: async () => undefined,
    };
  }
  if (target.mode === 'sentinel') {
    return {
      connection: {
        sentinels: target.sentinels,
        name: target.name,
        db: target.db,
        ...(target.sentinelUsername !== undefined
          ? { sentinelUsername: target.sentinelUsername }
          : {}),
        ...(target.sentinelPassword !== undefined
          ? { sentinelPassword: target.sentinelPassword }
          : {}),
        ...auth,
        ...common,
      },
      close: async () => undefined,
    };
  }
  const cluster = new Cluster(target.nodes, { redisOptions: { ...auth, ...common } });
  cluster.on('error', () => undefined); // reconnects on its own
  return {
    connection: cluster,
    close: async () => {
      try {
        await cluster.quit();
      } catch {
        cluster.disconnect();
      }
    },
  };
}
