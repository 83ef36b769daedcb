// A self-signed certificate for TLS listeners in tests, made by the real openssl CLI (Debian's
// openssl package) in a temp dir that is removed when the owner test ends.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CleanupOwner } from './processes.js';

export interface SelfSignedCertificate {
  certFile: string;
  keyFile: string;
  /** PEM contents of the files. */
  cert: string;
  key: string;
}

/** A P-256 certificate for `localhost` and 127.0.0.1, valid for a day. */
export function selfSignedCertificate(owner: CleanupOwner): SelfSignedCertificate {
  const dir = mkdtempSync(join(tmpdir(), 'sipfleet-cert-'));
  owner.after(() => rmSync(dir, { recursive: true, force: true }));
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  return {
    certFile,
    keyFile,
    cert: readFileSync(certFile, 'utf8'),
    key: readFileSync(keyFile, 'utf8'),
  };
}
