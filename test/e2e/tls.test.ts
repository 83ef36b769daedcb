// Issue 14: SIP over TLS at the edge (RFC 3261 section 26, RFC 5630, RFC 5922). Certificates are
// made in the test by the openssl CLI (a throwaway CA, server and client certificates); the TLS
// user agents are node:tls sockets (sipp here is built without TLS), the UDP side is sipp.
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import type tls from 'node:tls';
import { describe, test } from 'node:test';
import { makeCa } from '@sipfleet/test-helpers/certs';
import type { CertAuthority } from '@sipfleet/test-helpers/certs';
import { SIPFLEET_BIN, startEdge } from '@sipfleet/test-helpers/edge';
import { freePort } from '@sipfleet/test-helpers/ports';
import { spawnTracked, type CleanupOwner } from '@sipfleet/test-helpers/processes';
import { DialogClient } from '@sipfleet/test-helpers/sip-dialog';
import { runSipp, startSipp } from '@sipfleet/test-helpers/sipp';
import {
  answer,
  callEndedByCallee,
  connectStream,
  inDialog,
  invite,
  StreamListener,
} from '@sipfleet/test-helpers/stream-ua';

const SERVER_NAMES = ['DNS:localhost', 'IP:127.0.0.1'];

/** An edge with a TLS listener (certificate from `ca`) besides UDP and TCP; `tls` merged into it. */
async function tlsEdge(
  t: CleanupOwner,
  ca: CertAuthority,
  config: Record<string, unknown>,
  listenerTls: Record<string, unknown> = {},
) {
  const server = ca.issue('edge', SERVER_NAMES);
  const tlsPort = await freePort();
  const edge = await startEdge(
    t,
    config,
    {},
    {
      extraListen: [
        {
          protocol: 'tls',
          address: '127.0.0.1',
          port: tlsPort,
          tls: { certFile: server.certFile, keyFile: server.keyFile, ...listenerTls },
        },
      ],
    },
  );
  return { edge, tlsPort, server };
}

describe('TLS at the edge', { concurrency: 1 }, () => {
  test('a TLS caller calls a sipp UAS over UDP; the callee BYE comes back over the TLS connection', async (t) => {
    const ca = makeCa(t);
    const uasPort = await freePort();
    const uas = await startSipp({ scenario: 'uas-call-bye', localPort: uasPort, owner: t });
    const { edge, tlsPort } = await tlsEdge(t, ca, {
      routing: { destination: `sip:127.0.0.1:${uasPort}` },
    });
    const conn = await connectStream(t, tlsPort, { ca: ca.cert, servername: 'localhost' });
    const call = await callEndedByCallee(conn, tlsPort, 'tls', await freePort());
    assert.equal(call.status, 200);
    assert.match(call.recordRoute[0] ?? '', /^<sip:127\.0\.0\.1:\d+;lr>$/);
    assert.match(
      call.recordRoute[1] ?? '',
      new RegExp(`@127\\.0\\.0\\.1:${tlsPort};lr;transport=tls>$`),
    );
    const uasStats = await uas.stop();
    assert.equal(uasStats.successful, 1, uasStats.errors.join('\n'));
    assert.equal(await edge.metric('sipfleet_tls_handshake_failures_total'), 0);
  });

  test('a sipp UAC over UDP calls a TLS UAS named by a transport=tls URI, its certificate checked against the name', async (t) => {
    const ca = makeCa(t);
    const uasCert = ca.issue('uas', ['DNS:localhost']);
    const callee = await StreamListener.listen(t, { cert: uasCert.cert, key: uasCert.key });
    const { edge } = await tlsEdge(t, ca, {
      routing: { destination: `sip:localhost:${callee.port};transport=tls` },
      tls: { caFile: ca.certFile },
    });
    const caller = runSipp({
      scenario: 'uac-call',
      remote: { host: '127.0.0.1', port: edge.port },
      service: 'bob',
      maxCalls: 1,
      callLengthMs: 10,
      owner: t,
    });
    const fromEdge = await callee.connection();
    assert.equal((fromEdge.socket as tls.TLSSocket).servername, 'localhost', 'SNI: the URI host');
    const inv = await fromEdge.request('INVITE');
    const rr = inv.getHeaders('record-route');
    assert.match(rr[0] ?? '', /;lr;transport=tls>$/, `TLS side on top: ${rr.join(', ')}`);
    fromEdge.send(answer(inv, 200, `<sip:bob@127.0.0.1:${callee.port};transport=tls>`).toString());
    await fromEdge.request('ACK');
    const bye = await fromEdge.request('BYE');
    fromEdge.send(answer(bye, 200, `<sip:bob@127.0.0.1:${callee.port};transport=tls>`).toString());
    const stats = await caller;
    assert.equal(stats.successful, 1, stats.errors.join('\n'));
  });

  test('mutual TLS: a client certificate from an unknown CA is refused, one from the configured CA gets in', async (t) => {
    const ca = makeCa(t);
    const rogue = makeCa(t, 'rogue CA');
    const uasPort = await freePort();
    const uas = await startSipp({ scenario: 'uas-call-bye', localPort: uasPort, owner: t });
    const { edge, tlsPort } = await tlsEdge(
      t,
      ca,
      { routing: { destination: `sip:127.0.0.1:${uasPort}` } },
      { caFile: ca.certFile, verifyClient: 'require' },
    );
    const stranger = rogue.issue('stranger', ['DNS:stranger']);
    const refused = async () => {
      const conn = await connectStream(t, tlsPort, {
        ca: ca.cert,
        servername: 'localhost',
        cert: stranger.cert,
        key: stranger.key,
      });
      conn.send(
        invite({
          ruri: 'sip:bob@127.0.0.1',
          transport: 'tls',
          localPort: 1,
          contact: '<sip:a@127.0.0.1>',
        }).text,
      );
      await conn.final('INVITE');
    };
    await assert.rejects(refused(), 'no answer over a connection with a rogue certificate');
    while ((await edge.metric('sipfleet_tls_handshake_failures_total')) < 1) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const member = ca.issue('member', ['DNS:member']);
    const conn = await connectStream(t, tlsPort, {
      ca: ca.cert,
      servername: 'localhost',
      cert: member.cert,
      key: member.key,
    });
    const call = await callEndedByCallee(conn, tlsPort, 'tls', await freePort());
    assert.equal(call.status, 200);
    assert.equal((await uas.stop()).successful, 1);
  });

  test('the edge refuses a next hop whose certificate does not carry the name it was reached by', async (t) => {
    const ca = makeCa(t);
    const wrong = ca.issue('elsewhere', ['DNS:elsewhere.example']);
    const callee = await StreamListener.listen(t, { cert: wrong.cert, key: wrong.key });
    const { edge } = await tlsEdge(t, ca, {
      routing: { destination: `sip:localhost:${callee.port};transport=tls` },
      tls: { caFile: ca.certFile },
    });
    const client = await DialogClient.open();
    t.after(() => client.close());
    const dialog = await client.invite(edge.port);
    // The branch ends 503 (no connection), sent upstream as 500 (RFC 3261 section 16.7 step 6).
    assert.equal(dialog.status, 500, 'the branch failed: no connection to the next hop');
    assert.ok((await edge.metric('sipfleet_tls_handshake_failures_total')) >= 1);
    assert.equal(callee.connections.length, 0, 'the handshake never completed on the callee side');
  });

  test('SIGHUP with a new certificate: a call made before it ends with BYE, a new connection sees the new certificate', async (t) => {
    const ca = makeCa(t);
    const dir = mkdtempSync(join(tmpdir(), 'sipfleet-tls-reload-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const first = ca.issue('edge-old', SERVER_NAMES);
    const second = ca.issue('edge-new', SERVER_NAMES);
    const certFile = join(dir, 'edge.pem');
    const keyFile = join(dir, 'edge.key');
    copyFileSync(first.certFile, certFile);
    copyFileSync(first.keyFile, keyFile);
    const uasPort = await freePort();
    const uas = await startSipp({ scenario: 'uas-call', localPort: uasPort, owner: t });
    const tlsPort = await freePort();
    const edge = await startEdge(
      t,
      { routing: { destination: `sip:127.0.0.1:${uasPort}` } },
      {},
      {
        extraListen: [
          { protocol: 'tls', address: '127.0.0.1', port: tlsPort, tls: { certFile, keyFile } },
        ],
      },
    );
    const serial = (socket: tls.TLSSocket) =>
      new X509Certificate(socket.getPeerCertificate().raw).serialNumber;
    const options = { ca: ca.cert, servername: 'localhost' };
    const conn = await connectStream(t, tlsPort, options);
    assert.equal(
      serial(conn.socket as tls.TLSSocket),
      new X509Certificate(first.cert).serialNumber,
    );
    const inv = invite({
      ruri: `sip:bob@127.0.0.1:${tlsPort}`,
      transport: 'tls',
      localPort: conn.localPort,
      contact: `<sip:alice@127.0.0.1:${conn.localPort};transport=tls>`,
    });
    conn.send(inv.text);
    const ok = await conn.final('INVITE');
    assert.equal(ok.status, 200);
    const routes = [...ok.getHeaders('record-route')].reverse();
    conn.send(inDialog(inv, ok, 'ACK', 1, routes, conn.localPort));

    copyFileSync(second.certFile, certFile);
    copyFileSync(second.keyFile, keyFile);
    edge.process.child.kill('SIGHUP');
    const wanted = new X509Certificate(second.cert).serialNumber;
    for (;;) {
      const probe = await connectStream(t, tlsPort, options);
      const seen = serial(probe.socket as tls.TLSSocket);
      probe.close();
      if (seen === wanted) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    conn.send(inDialog(inv, ok, 'BYE', 2, routes, conn.localPort));
    assert.equal(
      (await conn.final('BYE')).status,
      200,
      'the call made before SIGHUP ended normally',
    );
    assert.equal((await uas.stop()).successful, 1);
  });

  test('start-up: a missing certificate exits 66 and a key that does not fit exits 78, naming the setting', async (t) => {
    const ca = makeCa(t);
    const a = ca.issue('a', SERVER_NAMES);
    const b = ca.issue('b', SERVER_NAMES);
    const run = async (tlsSettings: Record<string, unknown>) => {
      const dir = mkdtempSync(join(tmpdir(), 'sipfleet-tls-start-'));
      t.after(() => rmSync(dir, { recursive: true, force: true }));
      const file = join(dir, 'edge.json');
      const port = await freePort();
      writeFileSync(
        file,
        JSON.stringify({
          listen: [{ protocol: 'tls', address: '127.0.0.1', port, tls: tlsSettings }],
          admin: { port: 0 },
        }),
      );
      const proc = spawnTracked(process.execPath, [SIPFLEET_BIN, 'edge', '--config', file], {
        owner: t,
      });
      const status = await proc.waitForExit(30_000);
      return { code: status.code, stderr: proc.stderr };
    };
    const missing = await run({ certFile: '/nonexistent/edge.pem', keyFile: a.keyFile });
    assert.equal(missing.code, 66, missing.stderr);
    assert.match(
      missing.stderr,
      /^sipfleet edge: listen\.0\.tls\.certFile: cannot read \/nonexistent\/edge\.pem/,
    );
    const mismatch = await run({ certFile: a.certFile, keyFile: b.keyFile });
    assert.equal(mismatch.code, 78, mismatch.stderr);
    assert.match(
      mismatch.stderr,
      /^sipfleet edge: listen\.0\.tls\.keyFile: the key does not belong to the certificate/,
    );
  });
});
