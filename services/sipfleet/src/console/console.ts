// The web console on the edge's admin port: the fleet at a glance (edges from their membership
// records, dispatcher sets with state, load and latency, probing) and the operator actions of
// `sipfleet ctl` behind the admin token. Every read and write goes through the packages the ctl
// commands use (listMembers, DispatcherFleet, the htable maintenance names, readLatency), so the
// console and the CLI cannot disagree about what a flag or a state means.
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  DS_DISABLED_DST,
  DS_INACTIVE_DST,
  DS_PROBING_DST,
  DispatcherFleet,
  DispatcherFleetError,
  type MemberRecord,
  SipfleetDispatcherError,
  listMembers,
  parseList,
} from '@sipfleet/dispatcher';
import {
  FLEET_MAINTENANCE_KEY,
  type Htables,
  MAINTENANCE_TABLE,
  isMaintenanceOn,
  nodeMaintenanceKey,
} from '@sipfleet/htable';
import { getPingActive, readLatency } from '@sipfleet/keepalive';
import type { RedisConnection } from '@sipfleet/redis';
import type { AdminApp } from '../admin-server.js';
import { CONSOLE_HTML, CONSOLE_JS } from './page.js';

export interface ConsoleSources {
  /** This edge's node id (the page marks it). */
  nodeId: string;
  /** Whether an admin token is configured: without one the page stays read-only. */
  tokenConfigured: boolean;
  /** The edge's Redis link; without Redis the console has no fleet to show. */
  redis: { conn: RedisConnection; htables: Htables } | undefined;
  /** `dispatcher.listFile`, what "reload" loads fleet-wide. */
  listFile: string | undefined;
}

export interface ConsoleDestination {
  uri: string;
  flagsText: string;
  active: boolean;
  probing: boolean;
  load: number;
  /** The prober's RTT estimate and average in ms, null before the first sample. */
  latency: { estimate: number; average: number; samples: number } | null;
}

export interface ConsoleState {
  nodeId: string;
  tokenConfigured: boolean;
  /** Whether a list reload is possible (dispatcher.listFile is set). */
  listFile: string | null;
  /** This edge's clock when the state was read (ages on the page count from it). */
  now: number;
  /** `nodeFlag`: its per-node maintenance flag; `readiness`: what its `/readyz` answered. */
  edges: (MemberRecord & { nodeFlag: boolean; readiness: string })[];
  maintenance: { fleet: boolean };
  dispatcher: {
    sets: { setid: number; destinations: ConsoleDestination[] }[];
  };
  probing: { pingActive: boolean };
}

const MAX_BODY_BYTES = 4096;

/** An answer the API gives on purpose: status and message, shown by the page as they are. */
class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

function sendText(res: ServerResponse, type: string, text: string): void {
  res.writeHead(200, {
    'content-type': `${type}; charset=utf-8`,
    'cache-control': 'no-store',
    // The page loads only its own script and talks only to its own origin.
    'content-security-policy':
      "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self'",
    'x-content-type-options': 'nosniff',
  });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new ApiError(413, 'request body too large');
    chunks.push(chunk);
  }
  if (size === 0) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new ApiError(400, 'the body is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ApiError(400, 'the body must be a JSON object');
  }
  return parsed as Record<string, unknown>;
}

function field<T>(body: Record<string, unknown>, name: string, check: (v: unknown) => v is T): T {
  const value = body[name];
  if (!check(value)) throw new ApiError(400, `bad or missing field '${name}'`);
  return value;
}
const isBoolean = (v: unknown): v is boolean => typeof v === 'boolean';
const isString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const isSetId = (v: unknown): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0x7fffffff;

/** How long the console waits for another edge's `/readyz`. */
const READYZ_TIMEOUT_MS = 800;

/**
 * An edge's `/readyz` at the admin address of its record: the membership record says what the
 * edge does, not whether its mirrors are in step. `unreachable` when the address cannot be reached
 * from here (an edge bound to its own loopback on another host).
 */
async function readyz(admin: string): Promise<string> {
  try {
    const res = await fetch(`http://${admin}/readyz`, {
      signal: AbortSignal.timeout(READYZ_TIMEOUT_MS),
    });
    return (await res.text()).trim();
  } catch {
    return 'unreachable';
  }
}

/**
 * `/console` (the page), `/console/app.js` (its module), `GET /console/api/state` (read-only,
 * open) and the `POST /console/api/*` actions, which the admin server lets through only with the
 * admin token.
 */
export class ConsoleApp implements AdminApp {
  private readonly fleet: DispatcherFleet | undefined;
  /** One Redis read shared by every poll that arrives while it runs (several open pages). */
  private reading: Promise<ConsoleState> | undefined;

  constructor(private readonly sources: ConsoleSources) {
    this.fleet = sources.redis === undefined ? undefined : new DispatcherFleet(sources.redis.conn);
  }

  handle(req: IncomingMessage, res: ServerResponse, path: string): boolean {
    if (path === '/console' || path === '/console/') {
      sendText(res, 'text/html', CONSOLE_HTML);
      return true;
    }
    if (path === '/console/app.js') {
      sendText(res, 'text/javascript', CONSOLE_JS);
      return true;
    }
    if (!path.startsWith('/console/api/')) return false;
    const action = path.slice('/console/api/'.length);
    this.api(req, action).then(
      (body) => sendJson(res, 200, body),
      (err: unknown) => {
        if (err instanceof ApiError) sendJson(res, err.status, { error: err.message });
        else if (err instanceof DispatcherFleetError && err.code.endsWith('UNKNOWN_DESTINATION'))
          sendJson(res, 404, { error: err.message });
        else sendJson(res, 503, { error: err instanceof Error ? err.message : String(err) });
      },
    );
    return true;
  }

  private async api(req: IncomingMessage, action: string): Promise<unknown> {
    const method = req.method ?? 'GET';
    if (action === 'state') {
      if (method !== 'GET' && method !== 'HEAD') throw new ApiError(405, 'state is GET only');
      return (this.reading ??= this.readState().finally(() => (this.reading = undefined)));
    }
    if (method !== 'POST') throw new ApiError(405, `${action} is POST only`);
    const body = await readBody(req);
    switch (action) {
      case 'login':
        // The admin server checked the token before this point: reaching here means it is right.
        return { ok: true };
      case 'maintenance':
        return this.maintenance(
          field(body, 'on', isBoolean),
          body.node === undefined ? undefined : field(body, 'node', isString),
        );
      case 'destination':
        return this.destination(
          field(body, 'setid', isSetId),
          field(body, 'uri', isString),
          field(body, 'active', isBoolean),
        );
      case 'reload':
        return this.reload();
      default:
        throw new ApiError(404, `no console action '${action}'`);
    }
  }

  private redis() {
    const { redis } = this.sources;
    if (redis === undefined || this.fleet === undefined) {
      throw new ApiError(409, 'this edge has no redis.url: there is no fleet to show or change');
    }
    return { ...redis, fleet: this.fleet };
  }

  private async readState(): Promise<ConsoleState> {
    const { conn, htables, fleet } = this.redis();
    // The maintenance flags come from this edge's htable cache: no round trip.
    const flag = (key: string) => isMaintenanceOn(htables.get(MAINTENANCE_TABLE, key));
    const [members, sets, pingActive] = await Promise.all([
      listMembers(conn),
      fleet.list(),
      getPingActive(conn),
    ]);
    const [latencies, readiness] = await Promise.all([
      Promise.all(sets.map((s) => readLatency(conn, s.setid))),
      Promise.all(members.map((m) => readyz(m.admin))),
    ]);
    return {
      nodeId: this.sources.nodeId,
      tokenConfigured: this.sources.tokenConfigured,
      listFile: this.sources.listFile ?? null,
      now: Date.now(),
      edges: members.map((m, i) => ({
        ...m,
        nodeFlag: flag(nodeMaintenanceKey(m.nodeId)),
        readiness: readiness[i] ?? 'unknown',
      })),
      maintenance: { fleet: flag(FLEET_MAINTENANCE_KEY) },
      dispatcher: {
        sets: sets.map((set, i) => ({
          setid: set.setid,
          destinations: set.destinations.map((d) => {
            const l = latencies[i]?.get(d.uri.toLowerCase());
            return {
              uri: d.uri,
              flagsText: d.flagsText,
              // Trying still takes calls; inactive and disabled do not.
              active: (d.flags & (DS_INACTIVE_DST | DS_DISABLED_DST)) === 0,
              probing: (d.flags & DS_PROBING_DST) !== 0,
              load: d.load,
              latency: l ? { estimate: l.estimate, average: l.average, samples: l.samples } : null,
            };
          }),
        })),
      },
      probing: { pingActive },
    };
  }

  /** `ctl maintenance on|off [--node ID]`: the same htable items, written through the edge's htables. */
  private async maintenance(on: boolean, node: string | undefined) {
    const { htables } = this.redis();
    const key = node === undefined ? FLEET_MAINTENANCE_KEY : nodeMaintenanceKey(node);
    await htables.seti(MAINTENANCE_TABLE, key, on ? 1 : 0);
    return { table: MAINTENANCE_TABLE, key, value: on ? 1 : 0 };
  }

  /** `ctl dispatcher set-state a|i SET URI`, keeping the probing bit the destination had. */
  private async destination(setid: number, uri: string, active: boolean) {
    const { fleet } = this.redis();
    const set = (await fleet.list()).find((s) => s.setid === setid);
    const current = set?.destinations.find((d) => d.uri.toLowerCase() === uri.toLowerCase());
    if (current === undefined) throw new ApiError(404, `no destination ${uri} in set ${setid}`);
    const state = (current.flags & DS_PROBING_DST) | (active ? 0 : DS_INACTIVE_DST);
    const t = await fleet.setState(setid, current.uri, state, { mode: 'rpc', reason: 'console' });
    return { setid, uri: current.uri, changed: t.changed, flags: t.newFlags };
  }

  /** `ctl dispatcher reload`: the configured list file, parsed before anything is written. */
  private async reload() {
    const { fleet } = this.redis();
    const file = this.sources.listFile;
    if (file === undefined) throw new ApiError(409, 'dispatcher.listFile is not configured');
    let sets;
    try {
      sets = parseList(readFileSync(file, 'utf8'));
    } catch (err) {
      if (err instanceof SipfleetDispatcherError)
        throw new ApiError(400, `${file}: ${err.message}`);
      throw new ApiError(500, `cannot read ${file}: ${(err as Error).message}`);
    }
    // As ctl: an empty file would empty every set fleet-wide, almost always a mistake.
    if (sets.length === 0) throw new ApiError(400, `${file} lists no destinations; nothing loaded`);
    const result = await fleet.load(sets);
    return { file, ...result };
  }
}
