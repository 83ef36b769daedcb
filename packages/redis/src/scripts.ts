// Lua scripts kept as `.lua` files named `<name>-<numKeys>.lua`, read once at start, called by
// EVALSHA with an EVAL fallback when the server answers NOSCRIPT (restart, failover, SCRIPT FLUSH).
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RedisConnection } from './connection.js';
import { SCRIPT_ERROR_CODES, SipfleetRedisError, toRedisError } from './errors.js';

export interface ScriptSource {
  name: string;
  numberOfKeys: number;
  /** The script text with `-- @include <name>` lines expanded. */
  lua: string;
  sha1: string;
}

/** This package's own scripts (`packages/redis/lua`, outside src so tsc need not copy them). */
export const REDIS_LUA_DIR = fileURLToPath(new URL('../lua/', import.meta.url));

const FILE_NAME = /^([a-z][a-z0-9-]*)-(\d+)\.lua$/;
const INCLUDE = /^-- @include ([a-z][a-z0-9-]*)\s*$/gm;

/**
 * Reads every `<name>-<numKeys>.lua` in `dir`, expanding `-- @include x` from `dir/includes/x.lua`
 * and, failing that, from this package's `lua/includes` (shared helpers such as `reply`).
 */
export function loadScripts(dir: string): ScriptSource[] {
  const read = (name: string): string => {
    for (const base of [dir, REDIS_LUA_DIR]) {
      try {
        return readFileSync(join(base, 'includes', `${name}.lua`), 'utf8');
      } catch {
        // try the next folder
      }
    }
    throw new SipfleetRedisError('SIPFLEET_ERR_REDIS_CONFIG', `lua include "${name}" not found`);
  };
  return readdirSync(dir)
    .map((file) => FILE_NAME.exec(file))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => {
      const text = readFileSync(join(dir, m[0]), 'utf8');
      // Includes go first so their locals are in scope; the header comment stays readable.
      const includes: string[] = [];
      const body = text.replace(INCLUDE, (_line, name: string) => {
        includes.push(read(name));
        return `-- (included ${name})`;
      });
      const lua = [...includes, body].join('\n');
      return {
        name: m[1] ?? '',
        numberOfKeys: Number(m[2]),
        lua,
        sha1: createHash('sha1').update(lua).digest('hex'),
      };
    });
}

/** Runs loaded scripts on a connection and applies the `{code, ...}` reply convention. */
export class ScriptRunner {
  private readonly scripts = new Map<string, ScriptSource>();

  /** @param dirs folders of `.lua` files; names must be unique across them. */
  constructor(
    private readonly conn: RedisConnection,
    dirs: string[],
  ) {
    for (const dir of dirs) {
      for (const script of loadScripts(dir)) {
        if (this.scripts.has(script.name)) {
          throw new SipfleetRedisError(
            'SIPFLEET_ERR_REDIS_CONFIG',
            `duplicate lua script "${script.name}"`,
          );
        }
        this.scripts.set(script.name, script);
      }
    }
  }

  get names(): string[] {
    return [...this.scripts.keys()];
  }

  /**
   * EVALSHA, then EVAL on NOSCRIPT. Returns the reply after its status code; a negative code
   * rejects with the typed error from SCRIPT_ERROR_CODES. All keys go through KEYS (Cluster).
   */
  async run(name: string, keys: string[], args: (string | number)[] = []): Promise<unknown[]> {
    const script = this.scripts.get(name);
    if (!script)
      throw new SipfleetRedisError('SIPFLEET_ERR_REDIS_CONFIG', `unknown lua script "${name}"`);
    if (keys.length !== script.numberOfKeys) {
      throw new SipfleetRedisError(
        'SIPFLEET_ERR_REDIS_CONFIG',
        `lua script "${name}" takes ${script.numberOfKeys} keys, got ${keys.length}`,
      );
    }
    let reply: unknown;
    try {
      try {
        reply = await this.conn.client.evalsha(script.sha1, keys.length, ...keys, ...args);
      } catch (err) {
        if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
        reply = await this.conn.client.eval(script.lua, keys.length, ...keys, ...args);
      }
    } catch (err) {
      throw toRedisError(err);
    }
    if (!Array.isArray(reply) || typeof reply[0] !== 'number') {
      throw new SipfleetRedisError(
        'SIPFLEET_ERR_REDIS_SCRIPT_REPLY',
        `lua script "${name}" broke the reply convention`,
      );
    }
    const [code, ...rest] = reply as [number, ...unknown[]];
    if (code < 0) {
      const errorCode = SCRIPT_ERROR_CODES[code] ?? 'SIPFLEET_ERR_REDIS_SCRIPT_REPLY';
      throw new SipfleetRedisError(errorCode, `lua script "${name}" failed with code ${code}`);
    }
    return [code, ...rest];
  }
}
