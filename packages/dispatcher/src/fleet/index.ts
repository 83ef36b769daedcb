// The fleet-wide (Redis-backed) half of the dispatcher: the shared list and state (store), the
// edge's snapshot and per-call selection (view), and call load (alg 10) across the fleet.
export * from './errors.js';
export * from './events.js';
export {
  decodeLatency,
  latencyField,
  readFleet,
  readSetLatency,
  type FleetRead,
  type StoredDestination,
} from './codec.js';
export * from './scripts.js';
export * from './store.js';
export * from './call-load.js';
export * from './membership.js';
export * from './from-list.js';
export * from './route-param.js';
export * from './view.js';
