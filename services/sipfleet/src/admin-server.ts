import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { ListenError } from './startup-error.js';

export interface Readiness {
  /** Reasons the process is not ready; empty when ready. */
  notReadyReasons(): string[];
}

/** More pages and endpoints on the admin port (the edge's console). */
export interface AdminApp {
  /**
   * Answers the request when `path` is one of its own and returns true; false leaves it to the
   * next app (404 after the last). A mutating request (any method but GET and HEAD) reaches it
   * only once its bearer token checked out.
   */
  handle(req: IncomingMessage, res: ServerResponse, path: string): boolean;
}

export interface AdminOptions {
  /**
   * The bearer token mutating requests must carry (`Authorization: Bearer <token>`). Without one
   * they are refused 403: the admin port is never open for changes by default.
   * @default none
   */
  token?: string;
  /** @default [] */
  apps?: readonly AdminApp[];
}

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * Whether `header` carries the token. Compared as digests in constant time, so neither the token's
 * length nor its prefix leaks through the time an answer takes.
 */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer +(\S+) *$/i.exec(header ?? '');
  return m?.[1] !== undefined && timingSafeEqual(digest(m[1]), digest(token));
}

function refuse(res: ServerResponse, status: 401 | 403, text: string): void {
  res.writeHead(status, {
    'content-type': 'text/plain',
    ...(status === 401 ? { 'www-authenticate': 'Bearer realm="sipfleet-admin"' } : {}),
  });
  res.end(`${text}\n`);
}

/**
 * `/metrics`, `/healthz` (the process runs) and `/readyz` (it should get traffic) on the admin
 * port, open to whoever reaches `address` (bind it where the config says); the apps' pages after
 * them. Mutating requests need the admin token, and are disabled without one.
 */
export async function startAdminServer(
  address: string,
  port: number,
  registry: Registry,
  readiness: Readiness,
  options: AdminOptions = {},
): Promise<{ server: Server; port: number }> {
  const apps = options.apps ?? [];
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      if (options.token === undefined) {
        refuse(
          res,
          403,
          'mutating admin endpoints are disabled: no admin token is configured (admin.token or SIPFLEET_ADMIN_TOKEN)',
        );
        return;
      }
      if (!bearerMatches(req.headers.authorization, options.token)) {
        refuse(res, 401, 'admin token missing or wrong (Authorization: Bearer <token>)');
        return;
      }
    }
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(text);
        },
        (err: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(String(err));
        },
      );
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
      return;
    }
    if (path === '/readyz') {
      const reasons = readiness.notReadyReasons();
      res.writeHead(reasons.length === 0 ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(reasons.length === 0 ? 'ready\n' : `not ready: ${reasons.join('; ')}\n`);
      return;
    }
    if (apps.some((app) => app.handle(req, res, path))) return;
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new ListenError('admin', 'tcp', address, port, err)));
    server.listen(port, address, () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}
