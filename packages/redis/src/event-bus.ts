// Typed JSON events over Redis pub/sub. One subscriber connection per EventBus (create one bus per
// process). Plain PUBLISH is enough on Cluster: the cluster bus forwards it to every node, so the
// subscriber listens on any one node (a replica will do) and moves to another when that one goes.
//
// The bus, not ioredis, re-subscribes after a reconnect, so it knows when the channels are live
// again: a `feed()` says `resync` then, and the mirror reading it re-reads what it may have missed.
import { EventEmitter } from 'node:events';
import type { Cluster, Redis } from 'ioredis';
import { backoff, endClient, type RedisConnection, untilEvent } from './connection.js';
import { SipfleetRedisError, toRedisError } from './errors.js';
import type { ChangeFeed } from './mirror.js';
import type { HostPort } from './settings.js';

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
  return untilEvent(client, 'ready', timeoutMs, () => `not ready after ${timeoutMs} ms`);
}

/**
 * `Events` maps a logical channel name to its event type, e.g.
 * `EventBus<{ 'ds': DsStateEvent; [node: `node:${string}`]: TxHandoff }>`.
 * The Redis channel is `keys.channel(name)` (`<prefix>:ev:<name>`).
 */
export class EventBus<Events extends Record<string, unknown> = Record<string, unknown>> {
  private subscriber: Redis | undefined;
  private readonly handlers = new Map<string, Set<Handler>>();
  /** Channels SUBSCRIBE acknowledged on the current subscriber connection. */
  private readonly live = new Set<string>();
  /** `live:<channel>` when a channel is (re)subscribed, `lost` when the subscriber drops. */
  private readonly state = new EventEmitter();
  private readonly onError: (err: SipfleetRedisError) => void;
  private readonly subscribeTimeoutMs: number;
  /** Cluster: which node the subscriber tries next, and how often it failed in a row. */
  private nodeTurn = 0;
  private failures = 0;
  private replaceTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly conn: RedisConnection,
    options: EventBusOptions = {},
  ) {
    this.onError = options.onError ?? (() => undefined);
    this.subscribeTimeoutMs = options.subscribeTimeoutMs ?? 5000;
    this.state.setMaxListeners(0);
  }

  /** PUBLISH the JSON of `event`; resolves to the number of subscribers that got it (this node's, on Cluster). */
  async publish<C extends keyof Events & string>(name: C, event: Events[C]): Promise<number> {
    try {
      return await this.conn.client.publish(this.conn.keys.channel(name), JSON.stringify(event));
    } catch (err) {
      throw toRedisError(err);
    }
  }

  private ensureSubscriber(): Redis {
    if (this.subscriber) return this.subscriber;
    const t = this.conn.target;
    let sub: Redis;
    if (t.mode === 'cluster') {
      // One node of the current topology (or of the seed list while none is known); when the
      // connection ends, the next one. No reconnect to a node that may be gone for good.
      const cluster = this.conn.client;
      const known: HostPort[] = ('nodes' in cluster ? cluster.nodes('all') : []).map((n) => ({
        host: n.options.host ?? '127.0.0.1',
        port: n.options.port ?? 6379,
      }));
      const candidates = known.length > 0 ? known : t.nodes;
      const node = candidates[this.nodeTurn++ % candidates.length] ?? t.nodes[0];
      sub = this.conn.nodeClient(node, {
        autoResubscribe: false,
        retryStrategy: () => null,
        connectionName: 'sipfleet-bus',
      });
      sub.on('end', () => this.replaceSubscriber(sub));
    } else {
      // Follows reconnects and Sentinel failovers by itself; we re-subscribe on `ready`.
      sub = this.conn.nodeClient(undefined, {
        autoResubscribe: false,
        connectionName: 'sipfleet-bus',
      });
    }
    sub.on('error', () => undefined); // reconnects on its own; state is visible on the connection
    sub.on('messageBuffer', (channel: Buffer, message: Buffer) =>
      this.dispatch(channel.toString(), message),
    );
    sub.on('ready', () => void this.resubscribe(sub));
    sub.on('close', () => {
      if (this.subscriber !== sub || this.live.size === 0) return;
      this.live.clear();
      this.state.emit('lost');
    });
    this.subscriber = sub;
    return sub;
  }

  private replaceSubscriber(sub: Redis): void {
    if (this.closed || this.subscriber !== sub || this.replaceTimer) return;
    this.subscriber = undefined;
    this.replaceTimer = setTimeout(
      () => {
        this.replaceTimer = undefined;
        if (!this.closed && !this.subscriber && this.handlers.size > 0) this.ensureSubscriber();
      },
      backoff(this.failures++, 2000),
    );
    this.replaceTimer.unref();
  }

  /** On every (re)connect: subscribe every channel with handlers, then announce them live. */
  private async resubscribe(sub: Redis): Promise<void> {
    const channels = [...this.handlers.keys()];
    try {
      if (channels.length > 0) await sub.subscribe(...channels);
    } catch {
      // Lost it halfway: the next `ready` tries again.
      return;
    }
    if (this.subscriber !== sub || sub.status !== 'ready') return;
    this.failures = 0;
    for (const channel of channels) this.markLive(channel);
  }

  private markLive(channel: string): void {
    if (!this.handlers.has(channel)) return;
    this.live.add(channel);
    this.state.emit(`live:${channel}`);
  }

  /**
   * A ChangeFeed on `name` for a Mirror: `handler` gets every event; `resync` is said each time
   * the channel is (re)subscribed, `down` when the subscriber connection drops. Never waits.
   */
  feed<C extends keyof Events & string>(
    name: C,
    handler: (event: Events[C]) => void,
    validate?: EventValidator<Events[C]>,
  ): ChangeFeed {
    const channel = this.conn.keys.channel(name);
    const events = new EventEmitter<{ resync: []; down: [] }>();
    const onLive = () => events.emit('resync');
    const onLost = () => events.emit('down');
    const live = this.live;
    let wrapped: Handler | undefined;
    return {
      get ready() {
        return wrapped !== undefined && live.has(channel);
      },
      on(event, listener) {
        return events.on(event, listener);
      },
      off(event, listener) {
        return events.off(event, listener);
      },
      start: () => {
        if (wrapped || this.closed) return;
        wrapped = this.wrap(channel, handler, validate);
        this.state.on(`live:${channel}`, onLive);
        this.state.on('lost', onLost);
        const first = this.addHandler(channel, wrapped);
        const sub = this.ensureSubscriber();
        if (first && sub.status === 'ready') {
          sub.subscribe(channel).then(
            () => this.markLive(channel),
            () => undefined, // lost the connection: `ready` re-subscribes everything
          );
        } else if (!first && this.live.has(channel)) {
          queueMicrotask(onLive);
        }
      },
      close: async () => {
        this.state.off(`live:${channel}`, onLive);
        this.state.off('lost', onLost);
        if (wrapped) await this.removeHandler(channel, wrapped);
        wrapped = undefined;
      },
    };
  }

  private wrap<E>(channel: string, handler: (event: E) => void, validate?: EventValidator<E>) {
    const wrapped: Handler = (raw) => {
      const event = validate ? validate(raw) : (raw as E);
      if (event === undefined) {
        this.onError(
          new SipfleetRedisError('SIPFLEET_ERR_REDIS_BAD_EVENT', `invalid event on ${channel}`),
        );
        return;
      }
      handler(event);
    };
    return wrapped;
  }

  /** Returns true when this is the channel's first handler (it needs a SUBSCRIBE). */
  private addHandler(channel: string, wrapped: Handler): boolean {
    let set = this.handlers.get(channel);
    const first = !set;
    if (!set) {
      set = new Set();
      this.handlers.set(channel, set);
    }
    set.add(wrapped);
    return first;
  }

  private async removeHandler(channel: string, wrapped: Handler): Promise<void> {
    const set = this.handlers.get(channel);
    if (!set) return;
    set.delete(wrapped);
    if (set.size > 0) return;
    this.handlers.delete(channel);
    this.live.delete(channel);
    try {
      await this.subscriber?.unsubscribe(channel);
    } catch {
      // disconnected: nothing to unsubscribe from, and a reconnect only restores live channels
    }
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
   * acknowledged (rejects after `subscribeTimeoutMs` without Redis), to a function that removes
   * this handler. The subscription survives reconnects.
   */
  async subscribe<C extends keyof Events & string>(
    name: C,
    handler: (event: Events[C]) => void,
    validate?: EventValidator<Events[C]>,
  ): Promise<() => Promise<void>> {
    const channel = this.conn.keys.channel(name);
    const wrapped = this.wrap(channel, handler, validate);
    const first = this.addHandler(channel, wrapped);
    const sub = this.ensureSubscriber();
    if (first) {
      try {
        await waitForReady(sub, this.subscribeTimeoutMs);
        await sub.subscribe(channel);
        this.markLive(channel);
      } catch (err) {
        await this.removeHandler(channel, wrapped);
        throw toRedisError(err);
      }
    }
    return () => this.removeHandler(channel, wrapped);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.replaceTimer);
    const sub = this.subscriber;
    this.subscriber = undefined;
    this.handlers.clear();
    this.live.clear();
    if (sub) await endClient(sub);
  }
}
