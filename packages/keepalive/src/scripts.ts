// This package's Lua (`packages/keepalive/lua`, outside src so the build need not copy it).
import { fileURLToPath } from 'node:url';
import { type RedisConnection, ScriptRunner } from '@sipfleet/redis';

export const KEEPALIVE_LUA_DIR = fileURLToPath(new URL('../lua/', import.meta.url));

const runners = new WeakMap<RedisConnection, ScriptRunner>();

/** Scripts are read once per connection. */
export function keepaliveScripts(conn: RedisConnection): ScriptRunner {
  let runner = runners.get(conn);
  if (runner === undefined) {
    runner = new ScriptRunner(conn, [KEEPALIVE_LUA_DIR]);
    runners.set(conn, runner);
  }
  return runner;
}

/** "<flags> <count>", the dispatcher's state encoding (fleet/codec.ts), shared by keepalive state. */
export function decodeState(value: unknown): { flags: number; count: number } | undefined {
  const m = typeof value === 'string' ? /^(\d+) (\d+)$/.exec(value) : null;
  return m ? { flags: Number(m[1]), count: Number(m[2]) } : undefined;
}

export function encodeState(state: { flags: number; count: number }): string {
  return `${state.flags} ${state.count}`;
}

/** Hash field of a destination: the lower-cased URI (lookups are case-insensitive, as Kamailio's). */
export function uriField(uri: string): string {
  const withScheme = /^sips?:/i.test(uri) ? uri : `sip:${uri}`;
  return withScheme.toLowerCase();
}
