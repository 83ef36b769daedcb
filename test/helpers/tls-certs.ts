// Real certificates for TLS tests, made by the openssl command line in a temp dir: a CA, a server
// certificate for a given DNS name (and 127.0.0.1 unless told otherwise) and a client
// certificate, both signed by the CA. Removed when the owner test ends.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CleanupOwner } from './processes.js';

export interface TlsFiles {
  /** Paths of the PEM files. */
  paths: {
    ca: string;
    serverCert: string;
    serverKey: string;
    clientCert: string;
    clientKey: string;
  };
  /** The same files' contents. */
  ca: Buffer;
  serverCert: Buffer;
  serverKey: Buffer;
  clientCert: Buffer;
  clientKey: Buffer;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * @param serverNames subjectAltName entries of the server certificate.
 * @default ['DNS:localhost', 'IP:127.0.0.1']
 */
export function makeTlsFiles(
  owner: CleanupOwner,
  serverNames: string[] = ['DNS:localhost', 'IP:127.0.0.1'],
): TlsFiles {
  const dir = mkdtempSync(join(tmpdir(), 'sipfleet-tls-'));
  owner.after(() => rmSync(dir, { recursive: true, force: true }));
  const days = ['-days', '2'];
  openssl(dir, [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-subj',
    '/CN=sipfleet test CA',
    ...days,
  ]);
  for (const [name, subject, ext] of [
    ['server', '/CN=routing-api', `subjectAltName=${serverNames.join(',')}`],
    ['client', '/CN=sipfleet-edge', 'extendedKeyUsage=clientAuth'],
  ] as const) {
    writeFileSync(join(dir, `${name}.ext`), `${ext}\n`);
    openssl(dir, [
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      subject,
    ]);
    openssl(dir, [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${name}.pem`,
      '-extfile',
      `${name}.ext`,
      ...days,
    ]);
  }
  const paths = {
    ca: join(dir, 'ca.pem'),
    serverCert: join(dir, 'server.pem'),
    serverKey: join(dir, 'server.key'),
    clientCert: join(dir, 'client.pem'),
    clientKey: join(dir, 'client.key'),
  };
  return {
    paths,
    ca: readFileSync(paths.ca),
    serverCert: readFileSync(paths.serverCert),
    serverKey: readFileSync(paths.serverKey),
    clientCert: readFileSync(paths.clientCert),
    clientKey: readFileSync(paths.clientKey),
  };
}
