// @sipfleet/dispatcher: the pure core of Kamailio's dispatcher module (no I/O), and in fleet/ the
// Redis-backed half (shared list and state, edge snapshot, fleet-wide round-robin and call load).
export * from './errors.js';
export * from './flags.js';
export * from './prng.js';
export * from './model.js';
export * from './hash.js';
export * from './credentials.js';
export * from './hash-template.js';
export * from './algorithm-table.js';
export * from './list-file.js';
export * from './algorithms.js';
export * from './failover.js';
export * from './state.js';
export * from './route-rules.js';
export * from './count.js';
export * from './fleet/index.js';
