// `@sipfleet/keepalive/store`: the keepalive state in Redis and the operations on it (what
// `sipfleet ctl` runs), without the prober and BullMQ, which take as long to load as the rest of
// a ctl command: a command pays only for what it runs.
export * from './errors.js';
export * from './events.js';
export { uriField } from './scripts.js';
export * from './keepalive.js';
export * from './ops.js';
