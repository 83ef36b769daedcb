import { pathToFileURL } from 'node:url';
import type { DispatcherFleet, DispatcherView } from '@sipfleet/dispatcher';
import type { Htables } from '@sipfleet/htable';
import type { KeepaliveMonitor } from '@sipfleet/keepalive';
import type { RoutingHooks, RoutingMetrics } from '@sipfleet/proxy';
import type { Logger } from 'pino';
import { ConfigError } from '../../config.js';

/** What the edge hands a routing module's factory: the fleet's shared state and a logger. */
export interface RoutingServices {
  nodeId: string;
  log: Logger;
  /**
   * The htable caches (sync `get`, `matchName`, `countNames`, ...), or undefined when the edge
   * runs without Redis. `htables.on('expired', (table, key, value) => ...)` is Kamailio's
   * `event_route[htable:expired:<table>]` (each edge emits once per expired item).
   */
  htables: Htables | undefined;
  /**
   * The keepalive module: `isAlive(uri)` ('up' | 'down' | 'unknown'), state-change events, and
   * `addDestination(uri, { intervalMs, onStateChange, onRemoved, userAttr })` /
   * `removeDestination(uri)` (Kamailio's keepalive devel API).
   */
  keepalive: KeepaliveMonitor | undefined;
  /** Counters and histograms on this edge's `/metrics`. */
  metrics: RoutingMetrics;
  /** The fleet's dispatcher sets (snapshot, selection, marking, dst-up/dst-down events). */
  dispatcher: { view: DispatcherView; fleet: DispatcherFleet } | undefined;
}

const HOOK_NAMES = ['request', 'branch', 'reply', 'failure'] as const;

/**
 * Loads the user's routing program: a module whose default export is a RoutingHooks object or a
 * function of RoutingServices returning one (sync or async). Fails at start-up, naming
 * `routing.module`.
 */
export async function loadRoutingModule(
  path: string,
  services: RoutingServices,
): Promise<RoutingHooks> {
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(path).href)) as { default?: unknown };
  } catch (err) {
    throw new ConfigError(`routing.module: cannot load ${path}: ${(err as Error).message}`);
  }
  let hooks = mod.default;
  if (typeof hooks === 'function')
    hooks = await (hooks as (s: RoutingServices) => unknown)(services);
  if (typeof hooks !== 'object' || hooks === null) {
    throw new ConfigError(
      `routing.module: ${path} must export default a RoutingHooks object (or a function returning one)`,
    );
  }
  const record = hooks as Record<string, unknown>;
  for (const name of HOOK_NAMES) {
    if (record[name] !== undefined && typeof record[name] !== 'function') {
      throw new ConfigError(`routing.module: ${path}: hook '${name}' must be a function`);
    }
  }
  const unknown = Object.keys(record).filter((k) => !(HOOK_NAMES as readonly string[]).includes(k));
  if (unknown.length > 0) {
    throw new ConfigError(
      `routing.module: ${path}: unknown hook(s) ${unknown.join(', ')} (expected ${HOOK_NAMES.join(', ')})`,
    );
  }
  return record as RoutingHooks;
}
