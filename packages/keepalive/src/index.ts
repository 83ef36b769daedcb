// @sipfleet/keepalive: Kamailio's dispatcher probing and keepalive module for the fleet: OPTIONS
// pings on the prober's own SIP stack, spread over probers with BullMQ, thresholds applied
// atomically in Redis, up/down events on the bus, isAlive() snapshots for edges.
export * from './errors.js';
export * from './reply-codes.js';
export * from './settings.js';
export * from './pinger.js';
export * from './events.js';
export { KEEPALIVE_LUA_DIR, keepaliveScripts, uriField } from './scripts.js';
export * from './keepalive.js';
export * from './registration.js';
export * from './ops.js';
export * from './bullmq-connection.js';
export * from './prober.js';
