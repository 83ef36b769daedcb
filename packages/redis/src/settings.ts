// One setting picks the deployment: standalone, TLS, Sentinel or Cluster, as a URL or an object.
import { SipfleetRedisError } from './errors.js';

export interface HostPort {
  host: string;
  port: number;
}

interface Auth {
  /** ACL user (Redis 6+); omitted = the `default` user. */
  username?: string;
  password?: string;
  /** Use TLS (`rediss://`, `rediss-sentinel://`, `rediss-cluster://`). @default false */
  tls?: boolean;
}

export interface StandaloneTarget extends Auth {
  mode: 'standalone';
  host: string;
  port: number;
  /** @default 0 */
  db: number;
}

export interface SentinelTarget extends Auth {
  mode: 'sentinel';
  sentinels: HostPort[];
  /** The master name the sentinels monitor. */
  name: string;
  /** @default 0 */
  db: number;
  /** Credentials for the sentinels themselves, when they differ from the master's. */
  sentinelUsername?: string;
  sentinelPassword?: string;
}

export interface ClusterTarget extends Auth {
  mode: 'cluster';
  /** Seed nodes; the rest of the topology is discovered. */
  nodes: HostPort[];
}

export type RedisTarget = StandaloneTarget | SentinelTarget | ClusterTarget;

/** What callers may pass: a URL or the object form (defaults filled in by parseRedisSetting). */
export type RedisSetting =
  | string
  | (Omit<StandaloneTarget, 'db'> & { db?: number })
  | (Omit<SentinelTarget, 'db'> & { db?: number })
  | ClusterTarget;

const DEFAULT_PORT = 6379;
const DEFAULT_SENTINEL_PORT = 26379;

function fail(message: string): never {
  throw new SipfleetRedisError('SIPFLEET_ERR_REDIS_CONFIG', `redis setting: ${message}`);
}

function parsePort(text: string, fallback: number, whole: string): number {
  if (text === '') return fallback;
  const port = Number(text);
  if (!/^\d{1,5}$/.test(text) || port < 1 || port > 65535) fail(`bad port "${text}" in ${whole}`);
  return port;
}

function parseHostList(text: string, fallbackPort: number, whole: string): HostPort[] {
  const out = text.split(',').map((item) => {
    // [v6]:port | host:port | host
    const m = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d*))?$/.exec(item.trim());
    if (!m) fail(`bad host "${item}" in ${whole}`);
    return { host: m[1] ?? m[2] ?? '', port: parsePort(m[3] ?? '', fallbackPort, whole) };
  });
  if (out.length === 0) fail(`no host in ${whole}`);
  return out;
}

function decode(text: string, whole: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return fail(`bad percent-encoding in ${whole}`);
  }
}

function parseDb(text: string, whole: string): number {
  if (text === '') return 0;
  if (!/^\d{1,5}$/.test(text)) fail(`bad database number "${text}" in ${whole}`);
  return Number(text);
}

/** A Redis URL fit for logs and messages: the user name is kept, the password is never shown. */
export function redactRedisUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, (_all, auth: string) =>
    auth.includes(':') ? `//${auth.slice(0, auth.indexOf(':'))}:***@` : `//${auth}@`,
  );
}

/**
 * Parses `redis://[user:pass@]host:port/db`, `rediss://...` (TLS),
 * `redis-sentinel://[user:pass@]h1:p1,h2:p2/mastername[/db]` and `redis-cluster://[user:pass@]h1:p1,h2:p2`
 * (TLS variants `rediss-sentinel://`, `rediss-cluster://`), or validates the object form.
 * Throws SIPFLEET_ERR_REDIS_CONFIG naming the problem; passwords are never echoed.
 */
export function parseRedisSetting(setting: RedisSetting): RedisTarget {
  if (typeof setting !== 'string') return validateObject(setting);
  const whole = redactRedisUrl(setting);
  const m = /^([a-z-]+):\/\/(?:([^@/]*)@)?([^/?#]*)(?:\/([^?#]*))?$/i.exec(setting.trim());
  if (!m) fail(`not a redis URL: ${whole}`);
  const scheme = (m[1] ?? '').toLowerCase();
  const auth: Auth = {};
  if (m[2] !== undefined && m[2] !== '') {
    const colon = m[2].indexOf(':');
    const user = decode(colon < 0 ? m[2] : m[2].slice(0, colon), whole);
    if (user !== '') auth.username = user;
    if (colon >= 0) auth.password = decode(m[2].slice(colon + 1), whole);
  }
  if (scheme.startsWith('rediss')) auth.tls = true;
  const hosts = m[3] ?? '';
  const path = m[4] ?? '';
  if (hosts === '') fail(`no host in ${whole}`);
  switch (scheme) {
    case 'redis':
    case 'rediss': {
      const list = parseHostList(hosts, DEFAULT_PORT, whole);
      const first = list[0];
      if (list.length !== 1 || !first) fail(`one host expected in ${whole}`);
      return {
        mode: 'standalone',
        host: first.host,
        port: first.port,
        db: parseDb(path, whole),
        ...auth,
      };
    }
    case 'redis-sentinel':
    case 'rediss-sentinel': {
      const [name = '', db = ''] = path.split('/');
      if (name === '') fail(`master name missing in ${whole}`);
      const sentinels = parseHostList(hosts, DEFAULT_SENTINEL_PORT, whole);
      return {
        mode: 'sentinel',
        sentinels,
        name: decode(name, whole),
        db: parseDb(db, whole),
        ...auth,
      };
    }
    case 'redis-cluster':
    case 'rediss-cluster':
      if (path !== '') fail(`a cluster has no database number: ${whole}`);
      return { mode: 'cluster', nodes: parseHostList(hosts, DEFAULT_PORT, whole), ...auth };
    default:
      return fail(`unknown scheme "${scheme}" in ${whole}`);
  }
}

function validHostPort(x: HostPort): boolean {
  return (
    typeof x.host === 'string' &&
    x.host !== '' &&
    Number.isInteger(x.port) &&
    x.port > 0 &&
    x.port < 65536
  );
}

function validateObject(setting: Exclude<RedisSetting, string>): RedisTarget {
  switch (setting.mode) {
    case 'standalone':
      if (!validHostPort(setting)) fail('standalone: host/port invalid');
      return { ...setting, db: setting.db ?? 0 };
    case 'sentinel':
      if (!Array.isArray(setting.sentinels) || setting.sentinels.length === 0)
        fail('sentinel: sentinels missing');
      if (!setting.sentinels.every(validHostPort))
        fail('sentinel: a sentinel host/port is invalid');
      if (typeof setting.name !== 'string' || setting.name === '') fail('sentinel: name missing');
      return { ...setting, db: setting.db ?? 0 };
    case 'cluster':
      if (!Array.isArray(setting.nodes) || setting.nodes.length === 0)
        fail('cluster: nodes missing');
      if (!setting.nodes.every(validHostPort)) fail('cluster: a node host/port is invalid');
      return { ...setting };
    default:
      return fail(`unknown mode "${String((setting as { mode: unknown }).mode)}"`);
  }
}
