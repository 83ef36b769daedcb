// TLS settings and the start-up checks of the files they name (readTlsMaterial), with real
// certificates made by openssl in a temp dir.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { makeCa } from '@sipfleet/test-helpers/certs';
import { ConfigError, loadEdgeConfig, parseEdgeConfig } from '../src/config.js';
import { readTlsMaterial } from '../src/tls-files.js';

const DAY = 86_400_000;

describe('TLS settings', () => {
  test('a tls listener needs tls.certFile and tls.keyFile; other listeners refuse a tls block', () => {
    assert.throws(
      () => parseEdgeConfig({ listen: [{ protocol: 'tls', address: '127.0.0.1', port: 5061 }] }),
      (err: unknown) =>
        err instanceof ConfigError && /listen\.0\.tls: a tls listener needs/.test(err.message),
    );
    assert.throws(
      () =>
        parseEdgeConfig({
          listen: [
            {
              protocol: 'udp',
              address: '127.0.0.1',
              port: 5060,
              tls: { certFile: 'a', keyFile: 'b' },
            },
          ],
        }),
      (err: unknown) =>
        err instanceof ConfigError && /listen\.0\.tls: not for a udp/.test(err.message),
    );
    assert.throws(
      () => parseEdgeConfig({ tls: { certFile: 'a.pem' } }),
      (err: unknown) =>
        err instanceof ConfigError && /set certFile and keyFile together/.test(err.message),
    );
    const config = parseEdgeConfig({
      listen: [
        { protocol: 'tls', address: '127.0.0.1', port: 5061, tls: { certFile: 'c', keyFile: 'k' } },
      ],
    });
    assert.equal(config.listen[0]?.tls?.verifyClient, 'none');
    assert.deepEqual(config.tls, { verifyServer: true });
  });

  test('file paths are relative to the config file', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'sipfleet-tls-config-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'edge.yaml');
    writeFileSync(
      file,
      'listen:\n  - { protocol: tls, address: 127.0.0.1, port: 5061, tls: { certFile: c.pem, keyFile: k.pem, caFile: ca.pem } }\ntls: { caFile: hops.pem }\n',
    );
    const config = loadEdgeConfig(file, {});
    assert.deepEqual(config.listen[0]?.tls, {
      certFile: join(dir, 'c.pem'),
      keyFile: join(dir, 'k.pem'),
      caFile: join(dir, 'ca.pem'),
      verifyClient: 'none',
    });
    assert.equal(config.tls.caFile, join(dir, 'hops.pem'));
  });

  test('readTlsMaterial: reads the PEMs; an expired or soon expiring certificate is a warning', (t) => {
    const ca = makeCa(t);
    const cert = ca.issue('edge', ['DNS:localhost']);
    const config = parseEdgeConfig({
      listen: [
        { protocol: 'udp', address: '127.0.0.1', port: 5060 },
        {
          protocol: 'tls',
          address: '127.0.0.1',
          port: 5061,
          tls: {
            certFile: cert.certFile,
            keyFile: cert.keyFile,
            verifyClient: 'require',
            caFile: ca.certFile,
          },
        },
      ],
      tls: { caFile: ca.certFile, certFile: cert.certFile, keyFile: cert.keyFile },
    });
    const now = readTlsMaterial(config);
    assert.deepEqual(now.warnings, []);
    assert.deepEqual(now.listen[0], { protocol: 'udp', address: '127.0.0.1', port: 5060 });
    assert.deepEqual(now.listen[1]?.tls, {
      cert: cert.cert,
      key: cert.key,
      ca: ca.cert,
      verifyClient: 'require',
    });
    assert.deepEqual(now.client, {
      verifyServer: true,
      ca: ca.cert,
      cert: cert.cert,
      key: cert.key,
    });
    // The certificates are valid for 30 days: in 25 they expire within the week, in 31 they have.
    const soon = readTlsMaterial(config, Date.now() + 25 * DAY);
    assert.equal(soon.warnings.length, 2);
    assert.match(soon.warnings[0] ?? '', /^listen\.1\.tls\.certFile: .* expires on /);
    const later = readTlsMaterial(config, Date.now() + 31 * DAY);
    assert.match(later.warnings[0] ?? '', /^listen\.1\.tls\.certFile: .* expired on /);
    assert.match(later.warnings[1] ?? '', /^tls\.certFile: .* expired on /);
  });

  test('readTlsMaterial: an unreadable file, a non-PEM certificate and a key of another certificate are errors naming the setting', (t) => {
    const ca = makeCa(t);
    const a = ca.issue('a', ['DNS:a']);
    const b = ca.issue('b', ['DNS:b']);
    const listen = (tls: Record<string, unknown>) =>
      parseEdgeConfig({ listen: [{ protocol: 'tls', address: '127.0.0.1', port: 5061, tls }] });
    assert.throws(
      () => readTlsMaterial(listen({ certFile: '/nonexistent.pem', keyFile: a.keyFile })),
      (err: unknown) =>
        err instanceof ConfigError &&
        /^listen\.0\.tls\.certFile: cannot read \/nonexistent\.pem/.test(err.message),
    );
    assert.throws(
      () => readTlsMaterial(listen({ certFile: a.keyFile, keyFile: a.keyFile })),
      (err: unknown) =>
        err instanceof ConfigError &&
        /^listen\.0\.tls\.certFile: .* is not a PEM certificate/.test(err.message),
    );
    assert.throws(
      () => readTlsMaterial(listen({ certFile: a.certFile, keyFile: b.keyFile })),
      (err: unknown) =>
        err instanceof ConfigError &&
        /^listen\.0\.tls\.keyFile: the key does not belong to the certificate/.test(err.message),
    );
  });
});
