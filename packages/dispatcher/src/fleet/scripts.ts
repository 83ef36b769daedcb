// This package's Lua (`packages/dispatcher/lua`, outside src so the build need not copy it).
import { fileURLToPath } from 'node:url';
import { type RedisConnection, ScriptRunner } from '@sipfleet/redis';

export const DISPATCHER_LUA_DIR = fileURLToPath(new URL('../../lua/', import.meta.url));

/** Scripts are read once per connection and shared by the store, the views and call load. */
const runners = new WeakMap<RedisConnection, ScriptRunner>();

export function scriptsFor(conn: RedisConnection): ScriptRunner {
  let runner = runners.get(conn);
  if (runner === undefined) {
    runner = new ScriptRunner(conn, [DISPATCHER_LUA_DIR]);
    runners.set(conn, runner);
  }
  return runner;
}
