import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { ListenError } from './startup-error.js';

export interface Readiness {
  /** Reasons the process is not ready; empty when ready. */
  notReadyReasons(): string[];
}

/** `/metrics`, `/healthz` (the process runs) and `/readyz` (it should get traffic) on the admin port. */
export async function startAdminServer(
  address: string,
  port: number,
  registry: Registry,
  readiness: Readiness,
): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
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
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new ListenError('admin', 'tcp', address, port, err)));
    server.listen(port, address, () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}
