// Fleet membership: every edge heartbeats a record into Redis with a short TTL, so operators can
// list the live edges (`sipfleet ctl fleet`) and the fleet notices an edge that died without
// saying so (kill -9, power loss, partition): the first heartbeat of any other edge after the dead
// one's TTL ran out drops the unanswered call-load slots it had reserved (a ringing INVITE of a
// dead proxy is never answered through it) and forgets it. Confirmed slots stay: their BYE may
// come through any edge, else they expire.
//
// Bound: an edge's slots are reclaimed at most `ttlMs + heartbeatMs` (+ one round trip) after
// its last heartbeat, 4 s with the defaults, provided one other edge is alive.
//
// Each edge runs as an *instance* (`<nodeId>.<start time>.<random>`), so an edge restarted under
// the same node id within the TTL is not mistaken for the old process: the old instance's slots
// are still reclaimed.
import { randomBytes } from 'node:crypto';
import { type RedisConnection, toRedisError } from '@sipfleet/redis';
import { CallLoad } from './call-load.js';
import { DispatcherFleetError } from './errors.js';
import { scriptsFor } from './scripts.js';

/** What an edge says about itself in each heartbeat. */
export interface MemberStats {
  /** Calls (INVITE transactions and dialogs) this edge is relaying now. */
  readonly callsInFlight: number;
  /** Refusing new calls: 'fleet' or 'node' maintenance, or 'draining'; null when serving. */
  readonly maintenance: 'fleet' | 'node' | 'draining' | null;
}

/** One edge's record, as stored in Redis and listed by `sipfleet ctl fleet`. */
export interface MemberRecord extends MemberStats {
  readonly nodeId: string;
  readonly instance: string;
  /** The sipfleet version the edge runs. */
  readonly version: string;
  /** Its SIP listeners, `udp:127.0.0.1:5060` style. */
  readonly sip: readonly string[];
  /** Its admin HTTP address, `127.0.0.1:9060`. */
  readonly admin: string;
  /** Its hand-off socket (`host:port`, UDP) when the edge takes other edges' messages; absent otherwise. */
  readonly handoff?: string;
  /** When the edge started (ms since the epoch). */
  readonly startedAt: number;
  /** When this record was written (ms since the epoch, the edge's clock). */
  readonly heartbeatAt: number;
}

export interface FleetMembershipOptions {
  readonly nodeId: string;
  readonly version: string;
  readonly sip: readonly string[];
  readonly admin: string;
  /** The hand-off socket, published in the record (`MemberRecord.handoff`). @default none */
  readonly handoff?: string;
  /** Read at every heartbeat; must be cheap (no I/O). */
  readonly stats: () => MemberStats;
  /**
   * The edge's call load (alg 10), whose reserves get tagged with this instance so other edges
   * can reclaim them. Without it the edge's own reserves are not tagged (it still reclaims others).
   * @default none
   */
  readonly callLoad?: CallLoad;
  /** @default 1000 */
  readonly heartbeatMs?: number;
  /** Lifetime of a record without a heartbeat; keep it >= 2 heartbeats. @default 3000 */
  readonly ttlMs?: number;
  /** Heartbeat and reclaim failures (retried at the next heartbeat, never thrown). @default ignore */
  readonly onError?: (err: Error) => void;
  /** A dead member's unanswered slots were dropped (one call per dead member). @default ignore */
  readonly onReclaim?: (instance: string, slots: number) => void;
}

export class FleetMembership {
  readonly instance: string;
  readonly startedAt = Date.now();
  private readonly heartbeatMs: number;
  private readonly ttlMs: number;
  private readonly onError: (err: Error) => void;
  /** Reclaims with its own CallLoad when the edge has none (no queue: retried per heartbeat). */
  private readonly reclaimer: CallLoad;
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;
  private stopped = false;
  private tagged = false;
  /** While Redis fails: report the first failure only, and once more when it works again. */
  private failing = false;

  private constructor(
    private readonly conn: RedisConnection,
    private readonly options: FleetMembershipOptions,
  ) {
    this.heartbeatMs = options.heartbeatMs ?? 1000;
    this.ttlMs = options.ttlMs ?? 3000;
    if (!(this.heartbeatMs > 0) || !(this.ttlMs > this.heartbeatMs)) {
      throw new DispatcherFleetError(
        'SIPFLEET_ERR_DISPATCHER_BAD_ARGUMENT',
        `membership needs 0 < heartbeatMs < ttlMs, got ${this.heartbeatMs} and ${this.ttlMs}`,
      );
    }
    const node = options.nodeId.replace(/[\s{}]/g, '_');
    this.instance = `${node}.${this.startedAt.toString(36)}.${randomBytes(3).toString('hex')}`;
    this.onError = options.onError ?? (() => undefined);
    this.reclaimer = options.callLoad ?? new CallLoad(conn);
  }

  /** Starts heartbeating at once (not waiting for Redis: a failed beat is retried on the timer). */
  static start(conn: RedisConnection, options: FleetMembershipOptions): FleetMembership {
    const membership = new FleetMembership(conn, options);
    membership.tick();
    return membership;
  }

  private tick(): void {
    if (!this.conn.ready) {
      // Not connected (start-up, an outage: the mirrors report those): beat as soon as Redis is
      // back, so joining takes no longer than the reconnect, and log nothing meanwhile.
      this.conn.once('up', this.beatNow);
      return;
    }
    this.beating = this.beat().finally(() => {
      this.beating = undefined;
      if (this.stopped) return;
      this.timer = setTimeout(() => this.tick(), this.heartbeatMs);
      this.timer.unref();
    });
  }

  private readonly beatNow = (): void => {
    if (!this.stopped) this.tick();
  };

  /**
   * True once a heartbeat has landed: from then on this edge's call-load reserves carry its
   * instance, so another edge can reclaim them if it dies.
   */
  get joined(): boolean {
    return this.tagged;
  }

  /** The record this edge writes now. */
  record(): MemberRecord {
    const o = this.options;
    const stats = o.stats();
    return {
      nodeId: o.nodeId,
      instance: this.instance,
      version: o.version,
      sip: o.sip,
      admin: o.admin,
      ...(o.handoff === undefined ? {} : { handoff: o.handoff }),
      startedAt: this.startedAt,
      heartbeatAt: Date.now(),
      callsInFlight: stats.callsInFlight,
      maintenance: stats.maintenance,
    };
  }

  private async beat(): Promise<void> {
    const k = this.conn.keys;
    try {
      const [, ...dead] = await scriptsFor(this.conn).run(
        'fleet-heartbeat',
        [k.fleetMembers(), k.fleetMember(this.instance)],
        [this.instance, JSON.stringify(this.record()), this.ttlMs],
      );
      // Tag only once Redis knows this instance: a slot tagged with an owner nobody ever saw
      // would not be reclaimed.
      if (!this.tagged) {
        this.options.callLoad?.setOwner(this.instance);
        this.tagged = true;
      }
      for (const id of dead) await this.reap(String(id));
      this.failing = false;
    } catch (err) {
      if (!this.failing) this.onError(err instanceof Error ? err : toRedisError(err));
      this.failing = true;
    }
  }

  private async reap(instance: string): Promise<void> {
    const slots = await this.reclaimer.reclaim(instance);
    const [forgotten] = await scriptsFor(this.conn).run(
      'fleet-forget',
      [this.conn.keys.fleetMembers()],
      [instance],
    );
    // Several edges may reap the same member; the one that forgot it reports it.
    if (forgotten === 1) this.options.onReclaim?.(instance, slots);
  }

  /**
   * Stops heartbeating and leaves: the record goes now, and the next heartbeat of another edge
   * reclaims what this instance still held. Best effort when Redis is down (the TTL does it).
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    this.conn.off('up', this.beatNow);
    await this.beating;
    const k = this.conn.keys;
    await scriptsFor(this.conn)
      .run('fleet-leave', [k.fleetMembers(), k.fleetMember(this.instance)], [this.instance])
      .catch(() => undefined);
  }
}

/** The live members (heartbeat within its TTL), by node id. Two round trips, for ctl. */
export async function listMembers(conn: RedisConnection): Promise<MemberRecord[]> {
  const k = conn.keys;
  const [seconds, micros] = (await conn.call('TIME')) as [string, string];
  const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  const ids = (await conn.call('ZRANGEBYSCORE', k.fleetMembers(), now, '+inf')) as string[];
  if (ids.length === 0) return [];
  // One MGET: every record shares the {fleet} slot.
  const values = (await conn.call('MGET', ...ids.map((id) => k.fleetMember(id)))) as (
    string | null
  )[];
  const members: MemberRecord[] = [];
  for (const value of values) {
    if (value === null) continue; // left or expired between the two reads
    try {
      members.push(JSON.parse(value) as MemberRecord);
    } catch {
      // a hand-written value: not a member
    }
  }
  return members.sort((a, b) => a.nodeId.localeCompare(b.nodeId) || a.startedAt - b.startedAt);
}
