// The edge's fleet membership (`sipfleet ctl fleet`, reclaim of a dead edge's call-load slots):
// one call at start-up, after Redis and the dispatcher view are open, and `stop()` at shutdown.
import { type CallLoad, FleetMembership, type MemberStats } from '@sipfleet/dispatcher';
import type { RedisConnection } from '@sipfleet/redis';
import type { Logger } from 'pino';
import { version } from '../version.js';
import type { EdgeConfig } from '../config.js';

export interface EdgeMembershipOptions {
  readonly log: Logger;
  /** The dispatcher view's call load (`view.callLoad`): its reserves get this edge's tag. @default none */
  readonly callLoad?: CallLoad | undefined;
  /** The SIP listeners as bound (when a configured port is 0). @default config.listen */
  readonly sip?: readonly string[];
  /** The admin address as bound. @default config.admin */
  readonly admin?: string;
  /** The hand-off socket as bound, when `handoff.enabled`. @default none */
  readonly handoff?: string;
}

/**
 * Starts heartbeating this edge's record (`fleet.heartbeatMs`, TTL `fleet.ttlMs`). Failures are
 * logged once until a heartbeat succeeds again; a dead edge's reclaimed slots once per edge.
 */
export function startMembership(
  config: EdgeConfig,
  conn: RedisConnection,
  stats: () => MemberStats,
  options: EdgeMembershipOptions,
): FleetMembership {
  const { log } = options;
  return FleetMembership.start(conn, {
    nodeId: config.nodeId,
    version: version(),
    sip: options.sip ?? config.listen.map((l) => `${l.protocol}:${l.address}:${l.port}`),
    admin: options.admin ?? `${config.admin.address}:${config.admin.port}`,
    ...(options.handoff === undefined ? {} : { handoff: options.handoff }),
    stats,
    heartbeatMs: config.fleet.heartbeatMs,
    ttlMs: config.fleet.ttlMs,
    ...(options.callLoad === undefined ? {} : { callLoad: options.callLoad }),
    onError: (err) => log.warn({ err }, 'fleet membership heartbeat failed; will retry'),
    onReclaim: (instance, slots) =>
      log.warn(
        { instance, slots },
        'edge stopped heartbeating; its unanswered call-load slots were reclaimed',
      ),
  });
}
