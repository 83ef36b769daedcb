// Issue 14: WebRTC clients through the edge. A real browser (Debian's chromium, playwright-core)
// runs SIP.js from npm, connects to the edge over WSS (RFC 7118, a certificate made by openssl
// here), and calls a sipp UAS on UDP through it; the UAS hangs up, and its BYE must reach the
// browser over the browser's own WebSocket connection, since its Contact is a `.invalid` name
// (the flow token in the Record-Route facing the browser, RFC 5626 section 5.3 / RFC 5658).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, normalize } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { launchChromium } from '@sipfleet/test-helpers/browser';
import { makeCa } from '@sipfleet/test-helpers/certs';
import { startEdge } from '@sipfleet/test-helpers/edge';
import { freePort } from '@sipfleet/test-helpers/ports';
import { startSipp } from '@sipfleet/test-helpers/sipp';
import type { CleanupOwner } from '@sipfleet/test-helpers/processes';

/** SIP.js's ES modules (`lib/`), served as they are: the browser imports them by relative path. */
const SIPJS_LIB = dirname(fileURLToPath(import.meta.resolve('sip.js')));

/**
 * The page: a SIP.js UserAgent over WSS, one call to `target`; every session state and the BYE
 * from the far end are pushed to `window.events`, failures to `window.failures`.
 */
const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>sipfleet webrtc</title>
<script type="module">
  import { Inviter, UserAgent } from '/sip.js/index.js';
  const params = new URLSearchParams(location.search);
  const events = (window.events = []);
  const failures = (window.failures = []);
  try {
    const ua = new UserAgent({
      uri: UserAgent.makeURI('sip:alice@example.com'),
      transportOptions: { server: params.get('server') },
      logLevel: 'error',
      sessionDescriptionHandlerFactoryOptions: {
        // No STUN: host candidates only, so ICE gathering ends at once on a machine without Internet.
        peerConnectionConfiguration: { iceServers: [] },
        iceGatheringTimeout: 500,
      },
    });
    await ua.start();
    events.push('connected');
    const inviter = new Inviter(ua, UserAgent.makeURI(params.get('target')), {
      sessionDescriptionHandlerOptions: { constraints: { audio: true, video: false } },
    });
    inviter.delegate = {
      onBye(bye) {
        events.push('bye:' + bye.request.getHeaders('via').join(' | '));
        bye.accept();
      },
    };
    inviter.stateChange.addListener((state) => events.push(state));
    await inviter.invite({
      requestDelegate: { onReject: (res) => failures.push('rejected ' + res.message.statusCode) },
    });
  } catch (err) {
    failures.push(String(err && err.stack || err));
  }
</script>`;

/** Serves the page and SIP.js on 127.0.0.1; closed when the owner test ends. */
async function servePage(owner: CleanupOwner): Promise<number> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
      return;
    }
    const file = normalize(join(SIPJS_LIB, path.replace(/^\/sip\.js\//, '')));
    if (!path.startsWith('/sip.js/') || !file.startsWith(SIPJS_LIB)) {
      res.writeHead(404).end();
      return;
    }
    readFile(file).then(
      (body) => res.writeHead(200, { 'content-type': 'text/javascript' }).end(body),
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  owner.after(() => new Promise((resolve) => server.close(resolve)));
  return (server.address() as AddressInfo).port;
}

describe('WebRTC browser over WebSocket', { concurrency: 1 }, () => {
  test('SIP.js in chromium calls a UDP UAS over WSS through the edge; the UAS BYE reaches the browser', async (t) => {
    const cert = makeCa(t).issue('localhost', ['DNS:localhost', 'IP:127.0.0.1']);
    const uasPort = await freePort();
    const uas = await startSipp({
      scenario: 'uas-webrtc-call-bye',
      localPort: uasPort,
      maxCalls: 1,
      owner: t,
    });
    const udpPort = await freePort();
    const wssPort = await freePort();
    const edge = await startEdge(t, {
      listen: [
        { protocol: 'udp', address: '127.0.0.1', port: udpPort },
        {
          protocol: 'wss',
          address: '127.0.0.1',
          port: wssPort,
          tls: { certFile: cert.certFile, keyFile: cert.keyFile },
        },
      ],
      routing: { destination: `sip:127.0.0.1:${uasPort}` },
    });
    const pagePort = await servePage(t);

    const context = await launchChromium(t, [
      '--ignore-certificate-errors',
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
    ]);
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(err.message));
    const query = new URLSearchParams({
      server: `wss://127.0.0.1:${wssPort}`,
      target: `sip:bob@127.0.0.1:${wssPort}`,
    });
    await page.goto(`http://127.0.0.1:${pagePort}/?${query.toString()}`);

    // The session ends by the UAS's BYE (SIP.js calls onBye only for a BYE it received).
    const events = (await page
      .waitForFunction(
        () => {
          const w = globalThis as unknown as { events?: string[]; failures?: string[] };
          return (w.failures?.length ?? 0) > 0 || w.events?.includes('Terminated')
            ? { events: w.events ?? [], failures: w.failures ?? [] }
            : false;
        },
        undefined,
        { timeout: 30_000 },
      )
      .then((handle) => handle.jsonValue())) as { events: string[]; failures: string[] };
    assert.deepEqual(events.failures, [], 'no failure in the page');
    assert.deepEqual(pageErrors, []);
    const ended = events.events;
    assert.ok(ended.indexOf('Established') > 0, `the call was answered: ${ended.join(', ')}`);
    const bye = ended.findIndex((e) => e.startsWith('bye:'));
    assert.ok(bye > ended.indexOf('Established'), `the BYE came after the answer: ${ended}`);
    // Through the edge: its Via (WSS, towards the browser) on top of the UAS's (UDP).
    assert.match(
      ended[bye] ?? '',
      new RegExp(
        `^bye:SIP/2\\.0/WSS 127\\.0\\.0\\.1:${wssPort};.* \\| SIP/2\\.0/UDP 127\\.0\\.0\\.1:${uasPort};`,
      ),
    );
    assert.equal(ended.at(-1), 'Terminated');

    // The UAS saw its BYE answered 200 by the browser, through the edge.
    const stats = await uas.waitForExit(30_000);
    assert.equal(stats.successful, 1, stats.errors.join('\n'));
    assert.equal(stats.failed, 0);

    // Per-transport metrics: the browser's connection is open; INVITE, ACK and the 200 for the
    // BYE came in over it; 100, 180, 200 and the BYE went out. On a busy host the UAS may
    // retransmit its 200 before the ACK reaches it: the edge relays each one (one more sent) and
    // the browser ACKs each again (one more received, RFC 3261 section 13.2.2.4).
    assert.equal(await edge.metric('sipfleet_transport_connections', { transport: 'wss' }), 1);
    const wss = (way: 'received' | 'sent') =>
      edge.metric(`sipfleet_transport_messages_${way}_total`, { transport: 'wss' });
    const [received, sent] = [await wss('received'), await wss('sent')];
    assert.ok(sent >= 4, `wss sent: ${sent}`);
    assert.ok(
      received >= 3 && received - 3 <= sent - 4,
      `wss received ${received}: INVITE, ACK, 200, and an ACK per relayed 2xx retransmission (sent ${sent})`,
    );
  });
});
