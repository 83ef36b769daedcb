// Kamailio's keepalive module on the fleet: destinations declared in the prober's config or added
// at run time by a routing hook (ka_add_destination), pinged by the probers like dispatcher
// destinations, and `isAlive(uri)` answered on every edge from a local snapshot that the
// `keepalive` bus channel keeps fresh (ka_is_alive: 1 up, 2 down, and here 'unknown' before the
// first reply).

import { EventEmitter } from 'node:events';
import {
  DS_PROBE,
  isActive,
  probeResult,
  type DestinationState,
  type Thresholds,
  type Transition,
} from '@sipfleet/dispatcher';
import {
  EventBus,
  Mirror,
  type RedisConnection,
  type SipfleetRedisError,
  toRedisError,
} from '@sipfleet/redis';
import {
  KEEPALIVE_CHANNEL,
  parseKeepaliveEvent,
  type KeepaliveBusEvents,
  type KeepaliveEvent,
  type KeepaliveStateEvent,
} from './events.js';
import { SipfleetKeepaliveError } from './errors.js';
import { decodeState, encodeState, keepaliveScripts, uriField } from './scripts.js';

export type AliveState = 'up' | 'down' | 'unknown';

/** One keepalive-module destination as stored in `{ka}:dst`. */
export interface KeepaliveDestination {
  /** The URI as added. */
  readonly uri: string;
  /** Who added it (Kamailio's `owner`: a module name, 'config', a hook name). */
  readonly owner: string;
  /** From URI of its pings. @default the prober's keepalive `from` */
  readonly from?: string;
  /**
   * Its own ping interval (Kamailio's `ping_interval` of add_destination), ms.
   * @default the prober's keepalive `pingIntervalMs`
   */
  readonly intervalMs?: number;
}

/** What add() takes besides the URI and owner. */
export interface KeepaliveAddOptions {
  /** @default the prober's keepalive `from` */
  readonly from?: string;
  /** At least 100 ms. @default the prober's keepalive `pingIntervalMs` */
  readonly intervalMs?: number;
}

/** isAlive() of a stored state: 'unknown' before the first result. */
export function aliveOf(state: { flags: number } | undefined): AliveState {
  if (state === undefined) return 'unknown';
  return isActive(state.flags) ? 'up' : 'down';
}

/** The Redis side of the keepalive module: the destination list and result recording. */
export class KeepaliveStore {
  constructor(
    private readonly conn: RedisConnection,
    private readonly thresholds: Thresholds = {},
  ) {}

  private get channel(): string {
    return this.conn.keys.channel(KEEPALIVE_CHANNEL);
  }

  /**
   * ka_add_destination(uri, owner): monitored by the probers from their next schedule check
   * (announced on the bus). Re-adding an existing URI updates owner/from/interval, keeping its
   * state.
   * @throws SipfleetKeepaliveError SIPFLEET_ERR_KEEPALIVE_SETTINGS for an interval under 100 ms.
   */
  async add(uri: string, owner: string, options: KeepaliveAddOptions = {}): Promise<void> {
    const field = uriField(uri);
    const { from, intervalMs } = options;
    if (intervalMs !== undefined && (!Number.isSafeInteger(intervalMs) || intervalMs < 100)) {
      throw new SipfleetKeepaliveError(
        'SIPFLEET_ERR_KEEPALIVE_SETTINGS',
        `keepalive interval must be an integer >= 100 ms, got ${String(intervalMs)}`,
      );
    }
    const value: KeepaliveDestination = {
      uri,
      owner,
      ...(from !== undefined ? { from } : {}),
      ...(intervalMs !== undefined ? { intervalMs } : {}),
    };
    await this.conn.call('HSET', this.conn.keys.kaDestinations(), field, JSON.stringify(value));
    await this.publish({ type: 'ka-add', uri: field, time: Date.now() });
  }

  /** ka_del_destination: stops monitoring and forgets the state (isAlive becomes 'unknown'). */
  async remove(uri: string): Promise<boolean> {
    const field = uriField(uri);
    const removed = Number(await this.conn.call('HDEL', this.conn.keys.kaDestinations(), field));
    await this.conn.call('HDEL', this.conn.keys.kaState(), field);
    if (removed > 0) await this.publish({ type: 'ka-remove', uri: field, time: Date.now() });
    return removed > 0;
  }

  /** keepalive.flush: removes every destination (each announced); returns how many went. */
  async flush(): Promise<number> {
    let removed = 0;
    for (const d of await this.list()) if (await this.remove(d.uri)) removed++;
    return removed;
  }

  async list(): Promise<KeepaliveDestination[]> {
    const reply = await this.conn.call('HGETALL', this.conn.keys.kaDestinations());
    const out: KeepaliveDestination[] = [];
    if (!Array.isArray(reply)) return out;
    for (let i = 0; i + 1 < reply.length; i += 2) {
      try {
        const d = JSON.parse(String(reply[i + 1])) as Partial<KeepaliveDestination>;
        if (typeof d.uri !== 'string') continue;
        out.push({
          uri: d.uri,
          owner: typeof d.owner === 'string' ? d.owner : '',
          ...(typeof d.from === 'string' ? { from: d.from } : {}),
          ...(typeof d.intervalMs === 'number' && d.intervalMs >= 100
            ? { intervalMs: d.intervalMs }
            : {}),
        });
      } catch {
        // hand-edited garbage: not monitored
      }
    }
    return out;
  }

  /** Current states (lower-cased URI -> state); absent = never probed. */
  async states(): Promise<Map<string, DestinationState>> {
    const reply = await this.conn.call('HGETALL', this.conn.keys.kaState());
    const out = new Map<string, DestinationState>();
    if (!Array.isArray(reply)) return out;
    for (let i = 0; i + 1 < reply.length; i += 2) {
      const state = decodeState(reply[i + 1]);
      if (state) out.set(String(reply[i]), state);
    }
    return out;
  }

  /**
   * One ping outcome, with the dispatcher's threshold logic in probing mode 1 (every destination
   * is pinged, a failure makes it trying, at the probing threshold down). Stored by compare-and-set;
   * returns the transition, or undefined when the destination was removed meanwhile.
   * @param known the state read with the batch ('' = none yet), saves a round trip when unchanged
   */
  async probeResult(uri: string, ok: boolean, known?: string): Promise<Transition | undefined> {
    const field = uriField(uri);
    const key = this.conn.keys.kaState();
    let currentText = known ?? String((await this.conn.call('HGET', key, field)) ?? '');
    for (let attempt = 0; attempt < 16; attempt++) {
      const current = decodeState(currentText);
      // Never probed: start from "active, probing" so the first failure counts as the first one.
      const t = probeResult(current ?? { flags: 8, count: 0 }, ok, DS_PROBE.ALL, this.thresholds);
      const unchanged =
        current !== undefined && t.next.flags === current.flags && t.next.count === current.count;
      if (unchanged) return t;
      const event: KeepaliveStateEvent | undefined =
        current === undefined || t.changed
          ? {
              type:
                current === undefined
                  ? isActive(t.newFlags)
                    ? 'ka-up'
                    : 'ka-down'
                  : t.wentDown
                    ? 'ka-down'
                    : t.wentUp
                      ? 'ka-up'
                      : 'ka-state',
              uri: field,
              oldFlags: current === undefined ? null : current.flags,
              newFlags: t.newFlags,
              time: Date.now(),
            }
          : undefined;
      const reply = await keepaliveScripts(this.conn).run(
        'ka-set-state',
        [key],
        [field, currentText, encodeState(t.next), this.channel, event ? JSON.stringify(event) : ''],
      );
      if (reply[0] === 1) return t;
      currentText = String(reply[1] ?? '');
    }
    return undefined;
  }

  private async publish(event: KeepaliveEvent): Promise<void> {
    await this.conn.call('PUBLISH', this.channel, JSON.stringify(event));
  }
}

export interface KeepaliveMonitorEvents {
  /** isAlive(uri) changed (Kamailio's keepalive state-change callback). */
  change: [uri: string, state: AliveState, event: KeepaliveStateEvent | undefined];
  up: [];
  down: [];
}

/**
 * What a routing module gives KeepaliveMonitor.addDestination(): Kamailio's keepalive devel API
 * `add_destination(uri, owner, flags, ping_interval, statechanged_clb, removed_clb, user_attr)`.
 */
export interface MonitoredDestinationOptions<A = unknown> extends KeepaliveAddOptions {
  /** Who adds it (`ctl keepalive list` shows it). @default 'routing-module' */
  readonly owner?: string;
  /** statechanged_clb: isAlive(uri) became 'up' or 'down' (seen on this process). */
  readonly onStateChange?: (uri: string, state: 'up' | 'down', userAttr: A | undefined) => void;
  /** removed_clb: the destination was removed (by this process, ctl or another edge). */
  readonly onRemoved?: (uri: string, userAttr: A | undefined) => void;
  /** user_attr: handed back to both callbacks. */
  readonly userAttr?: A;
}

interface Watcher {
  onStateChange?: (uri: string, state: 'up' | 'down', userAttr: unknown) => void;
  onRemoved?: (uri: string, userAttr: unknown) => void;
  userAttr: unknown;
}

export interface KeepaliveMonitorOptions {
  /** The process' bus for the `keepalive` channel; without one the monitor makes and owns one. */
  bus?: EventBus<KeepaliveBusEvents>;
  /** Background failures (re-reads); retried, never thrown. @default ignore */
  onError?: (err: Error) => void;
  /** How long open() waits for Redis (start() never waits). @default 10000 */
  openTimeoutMs?: number;
}

/**
 * What an edge holds: every keepalive-module state, read once and kept by events, re-read
 * whenever events may have been missed (reconnect, the bus re-subscribed; @sipfleet/redis Mirror).
 * isAlive() never makes a round trip.
 */
export class KeepaliveMonitor extends EventEmitter<KeepaliveMonitorEvents> {
  /** The states' link to Redis: `ready`, `up`/`down`, and the name `/readyz` shows. */
  readonly mirror: Mirror;
  private states = new Map<string, number>();
  private readonly bus: EventBus<KeepaliveBusEvents>;
  private readonly ownsBus: boolean;
  private readonly onError: (err: Error) => void;
  /** State events seen while a re-read runs, re-applied on top of its result. */
  private duringResync: KeepaliveEvent[] | undefined;
  private closed = false;
  /** Callbacks of destinations added by this process, by URI field. */
  private readonly watchers = new Map<string, Watcher[]>();

  private constructor(
    private readonly conn: RedisConnection,
    options: KeepaliveMonitorOptions,
  ) {
    super();
    this.onError = options.onError ?? (() => undefined);
    this.ownsBus = options.bus === undefined;
    this.bus =
      options.bus ??
      new EventBus<KeepaliveBusEvents>(conn, {
        onError: (e: SipfleetRedisError) => this.onError(e),
      });
    this.mirror = new Mirror(conn, {
      name: 'keepalive',
      feeds: [this.bus.feed(KEEPALIVE_CHANNEL, (e) => this.onEvent(e), parseKeepaliveEvent)],
      read: () => this.read(),
    });
    this.mirror.on('up', () => this.emit('up'));
    this.mirror.on('down', () => this.emit('down'));
    this.mirror.on('error', (err) => this.onError(err));
    this.on('change', (uri, state) => this.notify(uri, state));
  }

  /**
   * The keepalive module's add_destination for routing hooks: stores the destination (every
   * prober pings it from its next schedule check, at `intervalMs`) and calls `onStateChange`
   * whenever isAlive(uri) turns 'up' or 'down' on this process, `onRemoved` once when it is
   * removed from anywhere. Several calls for one URI each keep their callbacks.
   * @throws SipfleetKeepaliveError for a bad interval; SipfleetRedisError when Redis is away.
   */
  async addDestination<A>(
    uri: string,
    options: MonitoredDestinationOptions<A> = {},
  ): Promise<void> {
    const field = uriField(uri);
    await new KeepaliveStore(this.conn).add(uri, options.owner ?? 'routing-module', {
      ...(options.from !== undefined ? { from: options.from } : {}),
      ...(options.intervalMs !== undefined ? { intervalMs: options.intervalMs } : {}),
    });
    if (options.onStateChange === undefined && options.onRemoved === undefined) return;
    const list = this.watchers.get(field) ?? [];
    list.push({
      ...(options.onStateChange !== undefined
        ? { onStateChange: options.onStateChange as Watcher['onStateChange'] }
        : {}),
      ...(options.onRemoved !== undefined
        ? { onRemoved: options.onRemoved as Watcher['onRemoved'] }
        : {}),
      userAttr: options.userAttr,
    });
    this.watchers.set(field, list);
  }

  /** ka_del_destination for routing hooks; the removal callbacks run when the event comes back. */
  removeDestination(uri: string): Promise<boolean> {
    return new KeepaliveStore(this.conn).remove(uri);
  }

  /** A callback that throws is the module's bug: reported through onError, never rethrown. */
  private notify(field: string, state: AliveState): void {
    const list = this.watchers.get(field);
    if (list === undefined) return;
    // A state is deleted only with its destination: 'unknown' after a state means removed.
    if (state === 'unknown') this.watchers.delete(field);
    for (const w of list) {
      try {
        if (state === 'unknown') w.onRemoved?.(field, w.userAttr);
        else w.onStateChange?.(field, state, w.userAttr);
      } catch (err) {
        this.onError(err instanceof Error ? err : new Error(String(err)));
      }
    }
  }

  /** Subscribes and reads the states in the background; returns at once (all 'unknown' until then). */
  static start(conn: RedisConnection, options: KeepaliveMonitorOptions = {}): KeepaliveMonitor {
    const monitor = new KeepaliveMonitor(conn, options);
    monitor.mirror.start();
    return monitor;
  }

  /** start(), then waits for the first read; rejects (typed) after `openTimeoutMs` without Redis. */
  static async open(
    conn: RedisConnection,
    options: KeepaliveMonitorOptions = {},
  ): Promise<KeepaliveMonitor> {
    const monitor = KeepaliveMonitor.start(conn, options);
    try {
      await monitor.mirror.waitUntilReady(options.openTimeoutMs ?? 10_000);
    } catch (err) {
      await monitor.close();
      throw toRedisError(err);
    }
    return monitor;
  }

  /** True while Redis is connected, the bus subscribed and the states read since. */
  get ready(): boolean {
    return this.mirror.ready;
  }

  /** ka_is_alive(uri): 'up', 'down', or 'unknown' (not monitored, or no reply seen yet). */
  isAlive(uri: string): AliveState {
    const flags = this.states.get(uriField(uri));
    return aliveOf(flags === undefined ? undefined : { flags });
  }

  private onEvent(e: KeepaliveEvent): void {
    if (e.type === 'ka-remove') {
      this.duringResync?.push(e);
      if (this.states.delete(e.uri)) this.emit('change', e.uri, 'unknown', undefined);
      else this.notify(e.uri, 'unknown'); // never probed: no state change, still removed
      return;
    }
    if (e.type !== 'ka-up' && e.type !== 'ka-down' && e.type !== 'ka-state') return;
    this.duringResync?.push(e);
    const before = this.isAlive(e.uri);
    this.states.set(e.uri, e.newFlags);
    const after = this.isAlive(e.uri);
    if (before !== after) this.emit('change', e.uri, after, e);
  }

  /** The Mirror's read: every state, with the events seen meanwhile applied on top. */
  private async read(): Promise<void> {
    const seen: KeepaliveEvent[] = [];
    this.duringResync = seen;
    let reply: unknown;
    try {
      reply = await this.conn.call('HGETALL', this.conn.keys.kaState());
    } finally {
      this.duringResync = undefined;
    }
    const next = new Map<string, number>();
    if (Array.isArray(reply)) {
      for (let i = 0; i + 1 < reply.length; i += 2) {
        const state = decodeState(reply[i + 1]);
        if (state) next.set(String(reply[i]), state.flags);
      }
    }
    // The read may predate a transition announced meanwhile: the event wins.
    for (const e of seen) {
      if (e.type === 'ka-remove') next.delete(e.uri);
      else if (e.type === 'ka-up' || e.type === 'ka-down' || e.type === 'ka-state')
        next.set(e.uri, e.newFlags);
    }
    const old = this.states;
    this.states = next;
    for (const uri of new Set([...old.keys(), ...next.keys()])) {
      const was = old.get(uri);
      const now = next.get(uri);
      const a = aliveOf(was === undefined ? undefined : { flags: was });
      const b = aliveOf(now === undefined ? undefined : { flags: now });
      if (a !== b) this.emit('change', uri, b, undefined);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.mirror.close();
    if (this.ownsBus) await this.bus.close();
  }
}
