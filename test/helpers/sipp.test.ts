// The sipp harness and our scenario files, with no sipfleet code involved: sipp UAC against sipp UAS
// directly (UDP and TCP), through a tiny record-routing relay written here (so the Route/R-URI
// handling of the scenarios is proven before any proxy uses them), and against nothing at all (so
// the harness is proven to see failures).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { type Socket, createSocket } from 'node:dgram';
import { describe, test } from 'node:test';
import { freePort } from './ports.js';
import { liveProcessCount, spawnTracked } from './processes.js';
import { type SippStats, type SippTransport, messageCount, runSipp, startSipp } from './sipp.js';

const HOST = '127.0.0.1';

function explain(stats: SippStats): string {
  return `${stats.errors.slice(0, 5).join('\n')}\n${stats.output.slice(-3000)}`;
}

function assertAllSucceeded(stats: SippStats, calls: number, who: string): void {
  assert.equal(stats.successful, calls, `${who}: successful calls\n${explain(stats)}`);
  assert.equal(stats.failed, 0, `${who}: failed calls\n${explain(stats)}`);
  assert.equal(stats.unexpectedMessages, 0, `${who}: unexpected messages\n${explain(stats)}`);
}

interface SentRequest {
  method: string;
  uri: string;
  callId: string;
  branch: string;
  route: string | undefined;
}

/** The requests a sipp sent, from its -trace_msg log. */
function sentRequests(trace: string): SentRequest[] {
  const out: SentRequest[] = [];
  for (const block of trace.split(/^-{20,}.*$/m)) {
    const m = /message sent[^\n]*\n\n(\w+) (\S+) SIP\/2\.0\r?\n([\s\S]*?)\r?\n\r?\n/.exec(block);
    if (!m) continue;
    const headers = m[3] ?? '';
    out.push({
      method: m[1] ?? '',
      uri: m[2] ?? '',
      callId: /^Call-ID: (.*?)\r?$/m.exec(headers)?.[1] ?? '',
      branch: /^Via: .*branch=([^;\r\n]+)/m.exec(headers)?.[1] ?? '',
      route: /^Route: (.*?)\r?$/m.exec(headers)?.[1],
    });
  }
  return out;
}

/** One UAS in the background and one UAC run to completion; returns both statistics. */
async function callPair(
  t: { after(fn: () => unknown): void },
  uac: string,
  uas: string,
  opts: { transport?: SippTransport; calls: number; via?: (uasPort: number) => Promise<number> },
): Promise<{ uac: SippStats; uas: SippStats }> {
  const transport = opts.transport ?? 'udp';
  const server = await startSipp({ scenario: uas, transport, autoAnswer: true, owner: t });
  const target = opts.via ? await opts.via(server.localPort) : server.localPort;
  const client = await runSipp({
    scenario: uac,
    remote: { host: HOST, port: target },
    transport,
    rate: 50,
    maxCalls: opts.calls,
    callLengthMs: 50,
    traceMessages: true,
    owner: t,
    timeoutMs: 60_000,
  });
  return { uac: client, uas: await server.stop() };
}

/**
 * A stateless record-routing relay over UDP, just enough SIP for these scenarios: it adds its Via and
 * (on dialog-creating INVITEs) `Record-Route: <sip:relay;lr>`, pops its own Route, routes in-dialog
 * requests by their R-URI, and returns responses along the Via path. In-dialog requests that do not
 * carry its Route are dropped and counted: that is what proves the UAC used the route set.
 */
async function startRelay(
  uasPort: number,
): Promise<{ port: number; dropped: string[]; close(): Promise<void> }> {
  const port = await freePort();
  const self = `${HOST}:${port}`;
  const dropped: string[] = [];
  const socket: Socket = createSocket('udp4');
  const send = (text: string, host: string, to: number): void => {
    socket.send(Buffer.from(text, 'latin1'), to, host);
  };
  socket.on('message', (data) => {
    const text = data.toString('latin1');
    const split = text.indexOf('\r\n\r\n');
    const lines = text.slice(0, split).split('\r\n');
    const body = text.slice(split);
    const first = lines[0] ?? '';
    const viaIndex = lines.findIndex((l) => /^(Via|v):/i.test(l));
    if (first.startsWith('SIP/2.0')) {
      // Response: our Via is on top; the next one says where it goes (RFC 3261 16.7 step 3, 18.2.2).
      const [, ...rest] = (lines[viaIndex] ?? '').replace(/^(Via|v):\s*/i, '').split(',');
      if (rest.length > 0) lines[viaIndex] = `Via: ${rest.join(',').trim()}`;
      else lines.splice(viaIndex, 1);
      const next = lines.find((l) => /^(Via|v):/i.test(l)) ?? '';
      const sentBy = /SIP\/2\.0\/UDP ([^;:\s]+):(\d+)/i.exec(next);
      if (sentBy?.[1] && sentBy[2]) send(lines.join('\r\n') + body, sentBy[1], Number(sentBy[2]));
      return;
    }
    const [method = '', uri = ''] = first.split(' ');
    const routeIndex = lines.findIndex((l) => /^Route:/i.test(l));
    const ourRoute = routeIndex >= 0 && (lines[routeIndex] ?? '').includes(`<sip:${self};lr>`);
    const target = /^sips?:(?:[^@]*@)?([^;:>]+):(\d+)/.exec(uri);
    const toSelf = target !== null && `${target[1]}:${target[2]}` === self;
    // Initial requests, CANCEL and non-2xx ACK address us; in-dialog ones must come with our Route.
    if (!ourRoute && !toSelf) {
      dropped.push(first);
      return;
    }
    if (ourRoute) lines.splice(routeIndex, 1);
    // A branch derived from the incoming one: retransmissions, CANCEL and non-2xx ACK match
    // what the UAS saw for the INVITE, as a stateless proxy must (RFC 3261 16.11).
    const topBranch = /branch=([^;,\s]+)/.exec(lines[viaIndex] ?? '')?.[1] ?? '';
    const branch = `z9hG4bK${createHash('sha1').update(topBranch).digest('hex').slice(0, 16)}`;
    lines.splice(1, 0, `Via: SIP/2.0/UDP ${self};branch=${branch}`);
    const initial = !lines.some((l) => /^(To|t):.*;tag=/i.test(l));
    if (method === 'INVITE' && initial) lines.splice(2, 0, `Record-Route: <sip:${self};lr>`);
    // Loose routing (RFC 3261 16.12): after popping our Route, the R-URI (UAS Contact) is the target.
    const host = ourRoute && target?.[1] ? target[1] : HOST;
    send(lines.join('\r\n') + body, host, ourRoute && target?.[2] ? Number(target[2]) : uasPort);
  });
  await new Promise<void>((resolve) => socket.bind(port, HOST, resolve));
  return { port, dropped, close: () => new Promise((resolve) => socket.close(resolve)) };
}

describe('sipp harness, sipp UAC -> sipp UAS', () => {
  for (const transport of ['udp', 'tcp'] as const) {
    test(`uac-call -> uas-call over ${transport}: every call succeeds on both sides`, async (t) => {
      const calls = 30;
      const { uac, uas } = await callPair(t, 'uac-call', 'uas-call', { transport, calls });
      assertAllSucceeded(uac, calls, 'uac');
      assertAllSucceeded(uas, calls, 'uas');
      assert.equal(uac.exitCode, 0);
      assert.equal(uac.callsCreated, calls);
      assert.equal(messageCount(uac, 'received', '200'), 2 * calls); // INVITE and BYE
      assert.equal(messageCount(uas, 'received', 'BYE'), calls);
      assert.ok(uac.responseTimesMs[0] !== undefined && uac.responseTimesMs[0] >= 0);
    });
  }

  test('uac-cancel -> uas-cancel over udp and tcp: CANCEL, 200, 487, ACK', async (t) => {
    for (const transport of ['udp', 'tcp'] as const) {
      const { uac, uas } = await callPair(t, 'uac-cancel', 'uas-cancel', { transport, calls: 10 });
      assertAllSucceeded(uac, 10, `uac ${transport}`);
      assertAllSucceeded(uas, 10, `uas ${transport}`);
      assert.equal(messageCount(uac, 'received', '487'), 10);
      // The CANCEL and the non-2xx ACK repeat the INVITE's branch (RFC 3261 9.1, 17.1.1.3).
      const byCall = new Map<string, Set<string>>();
      for (const req of sentRequests(uac.messages ?? '')) {
        const set = byCall.get(req.callId) ?? new Set<string>();
        set.add(`${req.method} ${req.branch}`.replace(/^\S+ /, ''));
        byCall.set(req.callId, set);
      }
      assert.equal(byCall.size, 10);
      for (const branches of byCall.values()) assert.equal(branches.size, 1);
    }
  });

  test('uac-busy -> uas-busy; uac-reject -> uas-500 and uas-503', async (t) => {
    const pairs: [string, string, string][] = [
      ['uac-busy', 'uas-busy', '486'],
      ['uac-reject', 'uas-500', '500'],
      ['uac-reject', 'uas-503', '503'],
    ];
    for (const [uacName, uasName, status] of pairs) {
      const { uac, uas } = await callPair(t, uacName, uasName, { calls: 5 });
      assertAllSucceeded(uac, 5, `${uacName} vs ${uasName}`);
      assertAllSucceeded(uas, 5, uasName);
      assert.equal(messageCount(uac, 'received', status), 5);
      assert.equal(messageCount(uas, 'received', 'ACK'), 5);
    }
  });

  test('uac-options and uac-message -> uas-nonInvite', async (t) => {
    for (const uacName of ['uac-options', 'uac-message']) {
      const { uac, uas } = await callPair(t, uacName, 'uas-nonInvite', { calls: 5 });
      assertAllSucceeded(uac, 5, uacName);
      assertAllSucceeded(uas, 5, `uas-nonInvite for ${uacName}`);
    }
  });

  test('uac-call tolerates a 180 that arrives after the 200 (uas-late-180)', async (t) => {
    const { uac, uas } = await callPair(t, 'uac-call', 'uas-late-180', { calls: 10 });
    assertAllSucceeded(uac, 10, 'uac');
    assertAllSucceeded(uas, 10, 'uas');
    assert.match(uac.messages ?? '', /message received[^\n]*\n\nSIP\/2\.0 180/);
  });
});

describe('sipp scenarios through a record-routing relay', () => {
  test('uac-call: ACK and BYE follow the route set to the UAS Contact', async (t) => {
    let relay: Awaited<ReturnType<typeof startRelay>> | undefined;
    t.after(() => relay?.close());
    const via = async (uasPort: number): Promise<number> => {
      relay = await startRelay(uasPort);
      return relay.port;
    };
    const { uac, uas } = await callPair(t, 'uac-call', 'uas-call', { calls: 20, via });
    assertAllSucceeded(uac, 20, 'uac');
    assertAllSucceeded(uas, 20, 'uas');
    assert.deepEqual(relay?.dropped, []);
    const trace = uac.messages ?? '';
    // 200 carried the Record-Route back; ACK and BYE carry it as Route and target the UAS Contact.
    assert.match(trace, /SIP\/2\.0 200 OK[\s\S]*?Record-Route: <sip:127\.0\.0\.1:\d+;lr>/);
    const inDialog = sentRequests(trace).filter((r) => r.method === 'ACK' || r.method === 'BYE');
    assert.equal(inDialog.length, 40);
    for (const req of inDialog) {
      assert.match(req.uri, /^sip:127\.0\.0\.1:\d+;transport=UDP$/);
      assert.equal(req.route, `<sip:127.0.0.1:${relay?.port};lr>`);
    }
  });

  test('uac-cancel and uac-busy through the relay', async (t) => {
    for (const [uacName, uasName] of [
      ['uac-cancel', 'uas-cancel'],
      ['uac-busy', 'uas-busy'],
    ] as const) {
      let relay: Awaited<ReturnType<typeof startRelay>> | undefined;
      const via = async (uasPort: number): Promise<number> => {
        relay = await startRelay(uasPort);
        return relay.port;
      };
      try {
        const { uac, uas } = await callPair(t, uacName, uasName, { calls: 5, via });
        assertAllSucceeded(uac, 5, uacName);
        assertAllSucceeded(uas, 5, uasName);
        assert.deepEqual(relay?.dropped, []);
      } finally {
        await relay?.close();
      }
    }
  });
});

describe('tracked processes', () => {
  const script =
    "process.on('SIGTERM', () => { console.log('bye'); process.exit(3); }); console.log('ready'); setInterval(() => {}, 1000);";

  test('waitForOutput, then stop() signals and reports how it ended', async (t) => {
    const child = spawnTracked(process.execPath, ['-e', script], { owner: t });
    assert.deepEqual([...(await child.waitForOutput(/ready/, 10_000))], ['ready']);
    assert.deepEqual(await child.stop({ graceMs: 10_000 }), { code: 3, signal: null });
    assert.match(child.stdout, /ready\nbye/);
  });

  test('waitForOutput rejects, with the output, when the child exits without a match', async (t) => {
    const child = spawnTracked(process.execPath, ['-e', "console.log('something else')"], {
      owner: t,
    });
    await assert.rejects(
      child.waitForOutput(/ready/, 10_000),
      /exited \(code 0\)[\s\S]*something else/,
    );
  });
});

describe('sipp harness sees failures', () => {
  test('a UAC against a UDP port where nothing listens reports failed calls', async (t) => {
    const nobody = await freePort();
    const stats = await runSipp({
      scenario: 'uac-call',
      remote: { host: HOST, port: nobody },
      rate: 10,
      maxCalls: 3,
      recvTimeoutMs: 300,
      owner: t,
    });
    assert.equal(stats.successful, 0);
    assert.equal(stats.failed, 3);
    assert.equal(stats.exitCode, 1);
    assert.ok(
      stats.errors.some((e) => /timeout/i.test(e)),
      stats.errors.join('\n'),
    );
  });

  test('a UAC against a TCP port where nothing listens ends fatally, explained', async (t) => {
    const nobody = await freePort();
    const stats = await runSipp({
      scenario: 'uac-call',
      remote: { host: HOST, port: nobody },
      transport: 'tcp',
      maxCalls: 1,
      owner: t,
    });
    assert.equal(stats.fatal, true);
    assert.equal(stats.successful, 0);
    assert.match(stats.errors.join('\n') + stats.output, /refused/i);
  });

  test('no sipp is left running', () => {
    assert.equal(liveProcessCount(), 0);
  });
});
