import {
  FLEET_MAINTENANCE_KEY,
  type Htables,
  MAINTENANCE_TABLE,
  isMaintenanceOn,
  nodeMaintenanceKey,
} from '@sipfleet/htable';
import type { RequestContext } from '@sipfleet/proxy';
import type { EdgeConfig } from '../config.js';

/**
 * Kamailio's "server maintenance mode" recipe as a pipeline step: when the fleet flag or this
 * node's flag is 1, initial requests of the configured methods are refused; in-dialog requests
 * (re-INVITE, ACK, BYE) go on, so calls in progress finish. Reads the htable cache: no Redis
 * round trip.
 */
export class MaintenanceCheck {
  private readonly methods: Set<string>;
  private readonly headers: [string, string][];
  private readonly ownKey: string;

  constructor(
    private readonly htables: Htables,
    private readonly config: EdgeConfig['maintenance'],
    nodeId: string,
    private readonly onRefuse: () => void,
  ) {
    this.methods = new Set(config.methods);
    this.headers =
      config.retryAfter === undefined ? [] : [['Retry-After', String(config.retryAfter)]];
    this.ownKey = nodeMaintenanceKey(nodeId);
  }

  /** Which flag is on: the fleet's, this node's, or none. */
  get state(): 'fleet' | 'node' | null {
    if (isMaintenanceOn(this.htables.get(MAINTENANCE_TABLE, FLEET_MAINTENANCE_KEY))) return 'fleet';
    if (isMaintenanceOn(this.htables.get(MAINTENANCE_TABLE, this.ownKey))) return 'node';
    return null;
  }

  /** Returns true when the request was refused. */
  refuse(ctx: RequestContext): boolean {
    if (!this.methods.has(ctx.method) || ctx.hasToTag() || this.state === null) return false;
    ctx.log.info({ method: ctx.method }, 'refused: maintenance');
    this.onRefuse();
    ctx.reply(this.config.code, this.config.reason, this.headers);
    return true;
  }
}
