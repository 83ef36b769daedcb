// The connection factory: one setting in, one fail-fast ioredis client out, with a `ready` flag and
// up/down events for /readyz and metrics (services build the metric; this package stays prom-free).
import { EventEmitter } from 'node:events';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { SipfleetRedisError, toRedisError } from './errors.js';
import { DEFAULT_KEY_PREFIX, KeyBuilder } from './keys.js';
import {
  type HostPort,
  type RedisSetting,
  type RedisTarget,
  parseRedisSetting,
} from './settings.js';

/** Not auto-pipelined (see RedisConnection.build). */
const SCRIPT_COMMANDS = ['evalsha', 'eval'];

export interface RedisConnectionOptions {
  /** URL (`redis://`, `rediss://`, `redis-sentinel://`, `redis-cluster://`) or object form. */
  redis: RedisSetting;
  /** Every key and channel starts with `<keyPrefix>:`. @default 'sipfleet' */
  keyPrefix?: string;
  /** TCP connect timeout per attempt. @default 2000 */
  connectTimeoutMs?: number;
  /** A command without an answer after this long rejects with SIPFLEET_ERR_REDIS_TIMEOUT. @default 1000 */
  commandTimeoutMs?: number;
  /** Reconnect backoff doubles from 50 ms up to this cap, forever. @default 2000 */
  maxRetryDelayMs?: number;
  /** CLIENT SETNAME, so `CLIENT LIST` shows who is who. @default 'sipfleet' */
  connectionName?: string;
}

export interface RedisConnectionEvents {
  /** The connection became usable (first connect and every reconnect). */
  up: [];
  /** The connection was lost; commands now reject with SIPFLEET_ERR_REDIS_UNAVAILABLE. */
  down: [cause: SipfleetRedisError | undefined];
  /**
   * Cluster only: a node left the topology (it died, or a failover or resharding dropped it) while
   * the connection stays up. Writes it acknowledged in its last moments may not have reached the
   * replica that took over (replication is asynchronous), as after a Sentinel switch's `up`.
   */
  failover: [];
}

/**
 * How long `disconnect()` lets a socket end gracefully before destroying it (ioredis'
 * `disconnectTimeout`, 2000 ms by default). ioredis arms that timer on every disconnect and clears
 * it only on the socket's next 'close' event, which a socket that already failed to connect never
 * emits again: with the default, a process that gives up on an unreachable Redis and closes the
 * connection stays alive 2 s for nothing. Our clients are fail-fast and `close()` QUITs a live
 * connection, so a short grace loses nothing. (Sentinel mode can still linger up to 2 s: ioredis'
 * short-lived sentinel query clients don't take this option.)
 */
export const DISCONNECT_TIMEOUT_MS = 50;

/**
 * Resolves on the emitter's next `event`; rejects with SIPFLEET_ERR_REDIS_UNAVAILABLE and
 * `message()` after `timeoutMs` (the "wait until ready" of connections, clients and mirrors).
 */
export function untilEvent(
  emitter: {
    once(event: string, fn: () => void): unknown;
    off(event: string, fn: () => void): unknown;
  },
  event: string,
  timeoutMs: number,
  message: () => string,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, done);
      reject(new SipfleetRedisError('SIPFLEET_ERR_REDIS_UNAVAILABLE', message()));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    emitter.once(event, done);
  });
}

/**
 * Ends a client for good: QUIT when connected (pending replies arrive), then disconnect(), which
 * also ends what QUIT leaves behind (the Sentinel failover detector's connections, a pending
 * reconnect). Never throws.
 */
export async function endClient(client: Redis | Cluster): Promise<void> {
  try {
    if (client.status === 'ready') await client.quit();
  } catch {
    // already gone: disconnect() below is all that is left to do
  }
  client.disconnect();
}

/** Capped exponential backoff: 50, 100, 200, ... ms, never above `cap`, never giving up. */
export function backoff(attempt: number, cap: number): number {
  return Math.min(50 * 2 ** Math.min(attempt, 16), cap);
}

export class RedisConnection extends EventEmitter<RedisConnectionEvents> {
  readonly target: RedisTarget;
  readonly keys: KeyBuilder;
  /** The command client. Fail-fast: while disconnected every command rejects at once. */
  readonly client: Redis | Cluster;
  private readonly nodeOptions: RedisOptions;
  private readonly maxRetryDelayMs: number;
  private isUp = false;
  private lastError: SipfleetRedisError | undefined;
  private closed = false;

  constructor(options: RedisConnectionOptions) {
    super();
    this.target = parseRedisSetting(options.redis);
    this.keys = new KeyBuilder(options.keyPrefix ?? DEFAULT_KEY_PREFIX);
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 2000;
    const t = this.target;
    this.nodeOptions = {
      ...(t.username !== undefined ? { username: t.username } : {}),
      ...(t.password !== undefined ? { password: t.password } : {}),
      ...(t.tls ? { tls: {} } : {}),
      connectTimeout: options.connectTimeoutMs ?? 2000,
      commandTimeout: options.commandTimeoutMs ?? 1000,
      connectionName: options.connectionName ?? 'sipfleet',
      disconnectTimeout: DISCONNECT_TIMEOUT_MS,
      // Fail fast instead of queueing forever: a routing decision must not wait on Redis.
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      retryStrategy: (attempt: number) => backoff(attempt, this.maxRetryDelayMs),
    };
    this.client = this.build();
    this.client.on('ready', () => this.setUp(true));
    this.client.on('close', () => this.setUp(false));
    this.client.on('end', () => this.setUp(false));
    // Without a listener ioredis would print every reconnect failure; keep the last one for `down`.
    this.client.on('error', (err: unknown) => (this.lastError = toRedisError(err)));
  }

  /** True while commands can be sent (for /readyz and a gauge). */
  get ready(): boolean {
    return this.isUp;
  }

  private setUp(up: boolean): void {
    if (up === this.isUp) return;
    this.isUp = up;
    if (up) {
      this.lastError = undefined;
      this.emit('up');
    } else {
      this.emit('down', this.lastError);
    }
  }

  /**
   * The command client. Commands issued while a batch is on the wire go out together in one write
   * when it returns (ioredis auto-pipelining), so at a few thousand calls/s the per-call INCR
   * costs a share of one socket write instead of a write each (docs/benchmarks.md). Scripts are
   * left out: the call path's (call load) gather themselves per event-loop turn, and a pipeline
   * of one command costs more than a plain write (about 80 against 50 µs of CPU here). Only
   * here: node clients (tracking, subscriber) send CLIENT commands whose order against their reads
   * matters, and those are never pipelined.
   */
  private build(): Redis | Cluster {
    const t = this.target;
    const pipelined = {
      ...this.nodeOptions,
      enableAutoPipelining: true,
      autoPipeliningIgnoredCommands: SCRIPT_COMMANDS,
    };
    switch (t.mode) {
      case 'standalone':
        return new Redis({ ...pipelined, host: t.host, port: t.port, db: t.db });
      case 'sentinel':
        return new Redis({ ...this.sentinelOptions(t), ...pipelined });
      case 'cluster': {
        const {
          retryStrategy: _perNode,
          enableOfflineQueue: _q,
          ...redisOptions
        } = this.nodeOptions;
        const opts: ClusterOptions = {
          enableOfflineQueue: false,
          enableAutoPipelining: true,
          autoPipeliningIgnoredCommands: SCRIPT_COMMANDS,
          enableReadyCheck: true,
          clusterRetryStrategy: (attempt: number) => backoff(attempt, this.maxRetryDelayMs),
          slotsRefreshTimeout: this.nodeOptions.connectTimeout ?? 2000,
          // ioredis 5 refreshes the topology only on MOVED/ASK or a failed node unless told to:
          // a failover with no traffic to the dead master's slots would go unnoticed.
          slotsRefreshInterval: 5000,
          redisOptions,
        };
        const cluster = new Cluster(t.nodes, opts);
        cluster.on('-node', () => {
          if (this.isUp) this.emit('failover');
        });
        return cluster;
      }
    }
  }

  private sentinelOptions(t: Extract<RedisTarget, { mode: 'sentinel' }>): RedisOptions {
    return {
      sentinels: t.sentinels,
      name: t.name,
      db: t.db,
      ...(t.sentinelUsername !== undefined ? { sentinelUsername: t.sentinelUsername } : {}),
      ...(t.sentinelPassword !== undefined ? { sentinelPassword: t.sentinelPassword } : {}),
      ...(t.tls ? { enableTLSForSentinelMode: true } : {}),
      sentinelRetryStrategy: (attempt: number) => backoff(attempt, this.maxRetryDelayMs),
      // Reconnect on the sentinels' +switch-master, not when the old master is finally demoted
      // (seconds later): until then writes go to the new master and the old one never hears.
      failoverDetector: true,
    };
  }

  /**
   * Resolves once the connection is ready, rejects with SIPFLEET_ERR_REDIS_UNAVAILABLE after
   * `timeoutMs`. Services call this at start; afterwards the connection recovers on its own.
   */
  waitUntilReady(timeoutMs = 10_000): Promise<void> {
    if (this.isUp) return Promise.resolve();
    return untilEvent(
      this,
      'up',
      timeoutMs,
      () =>
        `redis not ready after ${timeoutMs} ms${this.lastError ? `: ${this.lastError.message}` : ''}`,
    );
  }

  /**
   * The masters that hold keys: every Cluster master (as currently known), or the one master of
   * a standalone or Sentinel deployment (undefined there: reach it through `nodeClient()`).
   */
  masters(): HostPort[] | undefined {
    if (!(this.client instanceof Cluster)) return undefined;
    return this.client.nodes('master').map((node) => ({
      host: node.options.host ?? '127.0.0.1',
      port: node.options.port ?? 6379,
    }));
  }

  /**
   * A new single-node client with the same credentials and fail-fast options, for node-local
   * features (client-side tracking, subscriber mode): to `node` on a Cluster, otherwise to the
   * master (Sentinel-managed, so it follows failovers). The caller owns it and must end it (endClient).
   */
  nodeClient(node?: HostPort, extra: RedisOptions = {}): Redis {
    const t = this.target;
    if (t.mode === 'cluster') {
      if (!node)
        throw new SipfleetRedisError('SIPFLEET_ERR_REDIS_CONFIG', 'cluster: node required');
      return new Redis({ ...this.nodeOptions, ...extra, host: node.host, port: node.port });
    }
    if (t.mode === 'sentinel')
      return new Redis({ ...this.sentinelOptions(t), ...this.nodeOptions, ...extra });
    return new Redis({ ...this.nodeOptions, ...extra, host: t.host, port: t.port, db: t.db });
  }

  /**
   * Every key matching a SCAN MATCH pattern, from every master (Cluster) or the one server.
   * For start-up warming and maintenance commands, never for the call path.
   */
  async scan(pattern: string, count = 1000): Promise<string[]> {
    const servers = 'nodes' in this.client ? this.client.nodes('master') : [this.client];
    const found = new Set<string>();
    try {
      for (const server of servers) {
        let cursor = '0';
        do {
          const [next, keys] = await server.scan(cursor, 'MATCH', pattern, 'COUNT', count);
          cursor = next;
          for (const key of keys) found.add(key);
        } while (cursor !== '0');
      }
    } catch (err) {
      throw toRedisError(err);
    }
    return [...found];
  }

  /** Runs one command, mapping every failure to a SipfleetRedisError. */
  async call(command: string, ...args: (string | number | Buffer)[]): Promise<unknown> {
    try {
      return await this.client.call(command, ...args);
    } catch (err) {
      throw toRedisError(err);
    }
  }

  /** Closes the client (QUIT if connected). Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await endClient(this.client);
    this.setUp(false);
  }
}

/** The factory: one setting, one connection. */
export function createRedisConnection(options: RedisConnectionOptions): RedisConnection {
  return new RedisConnection(options);
}
