export {
  RedisConnection,
  createRedisConnection,
  backoff,
  type RedisConnectionOptions,
  type RedisConnectionEvents,
} from './connection.js';
export {
  REDIS_ERROR_CODES,
  SCRIPT_ERROR_CODES,
  SipfleetRedisError,
  toRedisError,
  type RedisErrorCode,
} from './errors.js';
export { EventBus, waitForReady, type EventBusOptions, type EventValidator } from './event-bus.js';
export {
  DEFAULT_KEY_PREFIX,
  KEY_CATALOGUE,
  KeyBuilder,
  escapeGlob,
  type KeyCatalogueEntry,
  type KeyType,
} from './keys.js';
export { REDIS_LUA_DIR, ScriptRunner, loadScripts, type ScriptSource } from './scripts.js';
export {
  parseRedisSetting,
  redactRedisUrl,
  type ClusterTarget,
  type HostPort,
  type RedisSetting,
  type RedisTarget,
  type SentinelTarget,
  type StandaloneTarget,
} from './settings.js';
export { Mirror, type ChangeFeed, type MirrorEvents, type MirrorOptions } from './mirror.js';
export { TrackedKeys, type TrackedKeysOptions } from './tracked-keys.js';
export { INVALIDATE_CHANNEL, InvalidationTracker, type InvalidationEvents } from './tracking.js';
