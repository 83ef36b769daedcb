// The routing client's TLS settings against a real node:https server that asks for a client
// certificate, with certificates made by openssl for the test (no mocks).
import assert from 'node:assert/strict';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { test } from 'node:test';
import { makeTlsFiles } from '@sipfleet/test-helpers/tls-certs';
import type { TlsFiles } from '@sipfleet/test-helpers/tls-certs';
import { RoutingClient } from '../src/client.js';
import type { RoutingClientTls } from '../src/client.js';

type Owner = { after(fn: () => unknown): void };

/** An https routing API on 127.0.0.1 that requires a client certificate signed by the test CA. */
async function httpsApi(t: Owner, files: TlsFiles): Promise<{ port: number; peers: string[] }> {
  const peers: string[] = [];
  const srv = createServer(
    {
      key: files.serverKey,
      cert: files.serverCert,
      ca: files.ca,
      requestCert: true,
      rejectUnauthorized: true,
    },
    (req, res) => {
      peers.push(String((req.socket as TLSSocket).getPeerCertificate().subject.CN));
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ routes: [{ uri: 'sip:bob@127.0.0.1' }] }));
      });
    },
  );
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    srv.closeAllConnections();
    return new Promise((resolve) => srv.close(resolve));
  });
  return { port: (srv.address() as AddressInfo).port, peers };
}

function query(t: Owner, url: string, tls: RoutingClientTls) {
  const c = new RoutingClient({ url, tls, timeoutMs: 5000 });
  t.after(() => c.close());
  return c.query({ event: 'sip-routing' });
}

test('https: CA, client certificate and key are used; verify peer and host can each be turned off', async (t) => {
  // The server certificate names api.test only, so the host check fails for 127.0.0.1.
  const files = makeTlsFiles(t, ['DNS:api.test']);
  const { port, peers } = await httpsApi(t, files);
  const url = `https://127.0.0.1:${port}/route`;
  const client = { cert: files.clientCert, key: files.clientKey };

  const untrusted = await query(t, url, client);
  assert.equal(untrusted.kind, 'connection_error', 'our CA is not in Node’s list');
  if (untrusted.kind === 'connection_error') {
    assert.match(untrusted.error.message, /self.signed|unable to (get|verify)/i);
  }
  const wrongHost = await query(t, url, { ...client, ca: files.ca });
  assert.equal(wrongHost.kind, 'connection_error');
  if (wrongHost.kind === 'connection_error') {
    assert.match(wrongHost.error.message, /IP: 127\.0\.0\.1 is not in the cert's list/);
  }
  const noHostCheck = await query(t, url, { ...client, ca: files.ca, verifyHost: false });
  assert.equal(noHostCheck.kind, 'ok');
  const noPeerCheck = await query(t, url, { ...client, verifyPeer: false });
  assert.equal(noPeerCheck.kind, 'ok');
  const noClientCert = await query(t, url, { ca: files.ca, verifyHost: false });
  assert.notEqual(noClientCert.kind, 'ok', 'the server refuses an edge without a certificate');
  assert.deepEqual(peers, ['sipfleet-edge', 'sipfleet-edge'], 'the server saw our certificate');
});
