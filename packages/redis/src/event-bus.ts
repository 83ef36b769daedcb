// Typed JSON events over Redis pub/sub. One subscriber connection per EventBus (create one bus per
// process). Plain PUBLISH is enough on Cluster: the cluster bus forwards it to every node.
import type { Cluster, Redis } from 'ioredis';
import type { RedisConnection } from './connection.js';
import { SipfleetRedisError, toRedisError } from './errors.js';

export interface EventBusOptions {
  /** Malformed messages and throwing handlers end up here (never thrown). @default ignore */
  onError?: (err: SipfleetRedisError) => void;
  /** How long subscribe() waits for the subscriber connection. @default 5000 */
  subscribeTimeoutMs?: number;
}

/** Checks one parsed message; return undefined to drop it (reported as SIPFLEET_ERR_REDIS_BAD_EVENT). */
export type EventValidator<E> = (raw: unknown) => E | undefined;

type Handler = (raw: unknown, channel: string) => void;

export function waitForReady(client: Redis | Cluster, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      reject(
        new SipfleetRedisError('SIPFLEET_ERR_REDIS_UNAVAILABLE', `not ready after ${timeoutMs} ms`),
      );
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    client.once('ready', onReady);
  });
}

/**
 * `Events` maps a logical channel name to its event type, e.g.
 * `EventBus<{ 'ds': DsStateEvent; [node: `node:${string}`]: TxHandoff }>`.
 * The Redis channel is `keys.channel(name)` (`<prefix>:ev:<name>`).
 */
export class EventBus<Events extends Record<string, unknown> = Record<string, unknown>> {
  private subscriber: Redis | Cluster | undefined;
  private readonly handlers = new Map<string, Set<Handler>>();
  private readonly onError: (err: SipfleetRedisError) => void;
  private readonly subscribeTimeoutMs: number;

  constructor(
    private readonly conn: RedisConnection,
    options: EventBusOptions = {},
  ) {
    this.onError = options.onError ?? (() => undefined);
    this.subscribeTimeoutMs = options.subscribeTimeoutMs ?? 5000;
  }

  /** PUBLISH the JSON of `event`; resolves to the number of subscribers that got it (this node's, on Cluster). */
  async publish<C extends keyof Events & string>(name: C, event: Events[C]): Promise<number> {
    try {
      return await this.conn.client.publish(this.conn.keys.channel(name), JSON.stringify(event));
    } catch (err) {
      throw toRedisError(err);
    }
  }

  private ensureSubscriber(): Redis | Cluster {
    if (this.subscriber) return this.subscriber;
    const client = this.conn.client;
    // Cluster.duplicate() keeps its own subscriber node and re-subscribes after node failures.
    const sub = 'nodes' in client ? client.duplicate() : this.conn.nodeClient();
    sub.on('error', () => undefined); // reconnects on its own; state is visible on the connection
    sub.on('messageBuffer', (channel: Buffer, message: Buffer) =>
      this.dispatch(channel.toString(), message),
    );
    this.subscriber = sub;
    return sub;
  }

  private dispatch(channel: string, message: Buffer): void {
    const set = this.handlers.get(channel);
    if (!set) return;
    let raw: unknown;
    try {
      raw = JSON.parse(message.toString('utf8'));
    } catch (err) {
      this.onError(
        new SipfleetRedisError('SIPFLEET_ERR_REDIS_BAD_EVENT', `not JSON on ${channel}`, {
          cause: err,
        }),
      );
      return;
    }
    for (const handler of set) {
      try {
        handler(raw, channel);
      } catch (err) {
        this.onError(
          new SipfleetRedisError('SIPFLEET_ERR_REDIS_BAD_EVENT', `handler for ${channel} threw`, {
            cause: err,
          }),
        );
      }
    }
  }

  /**
   * Calls `handler` for every event published on `name` from now on. Resolves once SUBSCRIBE is
   * acknowledged, to a function that removes this handler.
   */
  async subscribe<C extends keyof Events & string>(
    name: C,
    handler: (event: Events[C]) => void,
    validate?: EventValidator<Events[C]>,
  ): Promise<() => Promise<void>> {
    const channel = this.conn.keys.channel(name);
    const sub = this.ensureSubscriber();
    const wrapped: Handler = (raw) => {
      const event = validate ? validate(raw) : (raw as Events[C]);
      if (event === undefined) {
        this.onError(
          new SipfleetRedisError('SIPFLEET_ERR_REDIS_BAD_EVENT', `invalid event on ${channel}`),
        );
        return;
      }
      handler(event);
    };
    let set = this.handlers.get(channel);
    const first = !set;
    if (!set) {
      set = new Set();
      this.handlers.set(channel, set);
    }
    set.add(wrapped);
    if (first) {
      try {
        await waitForReady(sub, this.subscribeTimeoutMs);
        await sub.subscribe(channel);
      } catch (err) {
        set.delete(wrapped);
        if (set.size === 0) this.handlers.delete(channel);
        throw toRedisError(err);
      }
    }
    return async () => {
      set.delete(wrapped);
      if (set.size > 0 || this.handlers.get(channel) !== set) return;
      this.handlers.delete(channel);
      try {
        await sub.unsubscribe(channel);
      } catch {
        // disconnected: nothing to unsubscribe from, and autoResubscribe only restores live channels
      }
    };
  }

  async close(): Promise<void> {
    const sub = this.subscriber;
    this.subscriber = undefined;
    this.handlers.clear();
    if (!sub) return;
    try {
      await sub.quit();
    } catch {
      sub.disconnect();
    }
  }
}
