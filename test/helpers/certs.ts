// Throwaway X.509 material for TLS tests, made by the `openssl` CLI in a temp dir removed when the
// owner test ends: a CA, certificates it signs (server ones for localhost / 127.0.0.1, client
// ones), and a second, unknown CA for the "bad certificate" cases. EC P-256 keys: fast to make.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CleanupOwner } from './processes.js';

export interface CertFiles {
  certFile: string;
  keyFile: string;
  cert: Buffer;
  key: Buffer;
}

export interface CertAuthority extends CertFiles {
  /** A certificate signed by this CA, valid for 30 days; `names` go into subjectAltName (`DNS:x`, `IP:x`). */
  issue(name: string, names: string[]): CertFiles;
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function files(certFile: string, keyFile: string): CertFiles {
  return { certFile, keyFile, cert: readFileSync(certFile), key: readFileSync(keyFile) };
}

/** A new CA (its own temp dir); `issue` signs leaf certificates with it. */
export function makeCa(owner: CleanupOwner, name = 'sipfleet test CA'): CertAuthority {
  const dir = mkdtempSync(join(tmpdir(), 'sipfleet-certs-'));
  owner.after(() => rmSync(dir, { recursive: true, force: true }));
  const caKey = join(dir, 'ca.key');
  const caCert = join(dir, 'ca.pem');
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', caKey]);
  openssl(
    ['req', '-x509', '-new', '-key', caKey, '-sha256', '-days', '30', '-subj', `/CN=${name}`]
      .concat(['-addext', 'basicConstraints=critical,CA:TRUE'])
      .concat(['-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', caCert]),
  );
  let serial = 0;
  return {
    ...files(caCert, caKey),
    issue(cn, names) {
      serial += 1;
      const base = join(dir, `${cn.replace(/[^A-Za-z0-9.-]/g, '_')}-${serial}`);
      openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${base}.key`]);
      openssl(['req', '-new', '-key', `${base}.key`, '-subj', `/CN=${cn}`, '-out', `${base}.csr`]);
      const ext = `${base}.ext`;
      writeFileSync(
        ext,
        `subjectAltName=${names.join(',')}\nextendedKeyUsage=serverAuth,clientAuth\n`,
      );
      openssl(
        ['x509', '-req', '-in', `${base}.csr`, '-CA', caCert, '-CAkey', caKey]
          .concat(['-set_serial', String(1000 + serial), '-sha256', '-days', '30'])
          .concat(['-extfile', ext, '-out', `${base}.pem`]),
      );
      return files(`${base}.pem`, `${base}.key`);
    },
  };
}
