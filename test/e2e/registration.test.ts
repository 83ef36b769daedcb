// Registration-based keepalive through real edges (the path-module approach): a destination of a
// register-mode set is up while its REGISTER to the fleet lives; `Expires: 0` takes it down. Media
// servers are real sipp processes registering with test/scenarios/uac-register.xml (several
// Contacts with q values, a Path), calls are real sipp UACs, expiry is swept by a real prober.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DispatcherFleet } from '@sipfleet/dispatcher';
import { RedisConnection } from '@sipfleet/redis';
import { startEdge } from '@sipfleet/test-helpers/edge';
import type { EdgeHandle } from '@sipfleet/test-helpers/edge';
import { startLossyRelay } from '@sipfleet/test-helpers/lossy-relay';
import { freePort } from '@sipfleet/test-helpers/ports';
import { startProber } from '@sipfleet/test-helpers/prober';
import { startRedis, uniquePrefix } from '@sipfleet/test-helpers/redis-server';
import { type SippStats, runSipp, startSipp } from '@sipfleet/test-helpers/sipp';
import { UdpResponders } from '@sipfleet/test-helpers/udp-responders';

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

test('a REGISTER from a register-mode destination keeps it up; Expires: 0 takes it down', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const media = createSocket('udp4');
  await new Promise<void>((resolve) => media.bind(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => media.close(() => resolve())));
  const port = media.address().port;
  const uri = `sip:127.0.0.1:${port}`;
  const dir = mkdtempSync(join(tmpdir(), 'sipfleet-reg-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // Starts inactive (flags 1): only a registration brings it up.
  writeFileSync(join(dir, 'dispatcher.list'), `2 ${uri} 1 0\n`);
  const edge: EdgeHandle = await startEdge(t, {
    redis: { url: redis.url, prefix: uniquePrefix() },
    dispatcher: { listFile: join(dir, 'dispatcher.list'), registerSets: [2] },
  });
  const active = () => edge.metric('sipfleet_dispatcher_destination_active', { uri });
  assert.equal(await active(), 0);

  let cseq = 1;
  const register = (expires: number): Promise<string> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer to REGISTER')), 5000);
      media.once('message', (data) => {
        clearTimeout(timer);
        resolve(data.toString('latin1'));
      });
      const branch = `z9hG4bKreg${cseq}`;
      media.send(
        `REGISTER sip:127.0.0.1:${edge.port} SIP/2.0\r\n` +
          `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=${branch};rport\r\n` +
          `From: <sip:ms@127.0.0.1>;tag=reg\r\nTo: <sip:ms@127.0.0.1>\r\n` +
          `Call-ID: reg-${port}\r\nCSeq: ${cseq++} REGISTER\r\nContact: <sip:ms@127.0.0.1:${port}>\r\n` +
          `Expires: ${expires}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`,
        edge.port,
        '127.0.0.1',
      );
    });

  const ok = await register(60);
  assert.match(ok, /^SIP\/2\.0 200 OK/);
  assert.match(ok, /^Expires: 60\r$/m);
  await until('registered destination active', async () => (await active()) === 1);

  assert.match(await register(0), /^SIP\/2\.0 200 OK/);
  await until('unregistered destination inactive', async () => (await active()) === 0);
});

/** One REGISTER by a sipp "media server" (uac-register.xml); resolves to the final status. */
async function sippRegister(
  t: { after(fn: () => unknown): void },
  edge: EdgeHandle,
  opts: { aor: string; contact: string; expires: number; extra?: string; localIp?: string },
): Promise<{ status: 200 | 403; stats: SippStats }> {
  const stats = await runSipp({
    scenario: 'uac-register',
    remote: { host: '127.0.0.1', port: edge.port },
    ...(opts.localIp !== undefined ? { localIp: opts.localIp } : {}),
    maxCalls: 1,
    keys: {
      aor: opts.aor,
      contact: opts.contact,
      expires: String(opts.expires),
      extra: opts.extra ?? 'X-Test: 1',
    },
    traceMessages: true,
    owner: t,
  });
  assert.equal(stats.successful, 1, `REGISTER failed:\n${stats.errors.join('\n')}`);
  const got = (code: string) =>
    stats.scenario.find((l) => l.message === code && l.direction === 'received')?.count ?? 0;
  return { status: got('200') === 1 ? 200 : 403, stats };
}

/** Calls through the edge with uac-call.xml. */
function call(t: { after(fn: () => unknown): void }, edge: EdgeHandle): Promise<SippStats> {
  return runSipp({
    scenario: 'uac-call',
    remote: { host: '127.0.0.1', port: edge.port },
    service: 'conf',
    maxCalls: 1,
    callLengthMs: 10,
    recvTimeoutMs: 10_000,
    owner: t,
  });
}

test('REGISTER with several Contacts and q values: INVITEs go to the highest q first and fail over serially to lower q on 5xx and timeout', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  // q 1.0 answers 503, q 0.5 (q inside the brackets) never answers, q 0.1 is a real UAS.
  const responders = await UdpResponders.start(2);
  t.after(() => responders.close());
  responders.setMode(0, 503);
  responders.setMode(1, 'silent');
  const loPort = await freePort();
  const lo = await startSipp({ scenario: 'uas-call', localPort: loPort, owner: t });
  const [hi, mid] = [responders.get(0), responders.get(1)];
  const uris = [`sip:hi@127.0.0.1:${hi.port}`, `sip:mid@127.0.0.1:${mid.port}`];
  const loUri = `sip:lo@127.0.0.1:${loPort}`;
  const frTimerMs = 1000;
  const edge = await startEdge(t, {
    redis: { url: redis.url, prefix: uniquePrefix() },
    dispatcher: {
      registerSets: [2],
      registerAllowFrom: [{ set: 2, networks: ['127.0.0.0/8'] }],
    },
    routing: { dispatcher: { set: 2, algorithm: 8, frTimerMs } },
  });

  const reg = await sippRegister(t, edge, {
    aor: 'media1',
    // lowest q first in the header: the order comes from q, not from the header
    contact: `<${loUri}>;q=0.1, <${uris[0]}>;q=1.0, <${uris[1]};q=0.5>`,
    expires: 60,
  });
  assert.equal(reg.status, 200);
  for (const uri of [...uris, loUri]) {
    await until(`${uri} registered`, async () => {
      return (await edge.metric('sipfleet_dispatcher_destination_active', { uri })) === 1;
    });
  }
  // The 200 lists every binding with its expiry and q (RFC 3261 §10.3 step 8).
  assert.match(reg.stats.messages ?? '', new RegExp(`Contact: <${uris[1]}>;expires=60;q=0.5`));

  const stats = await call(t, edge);
  assert.equal(stats.successful, 1, stats.errors.join('\n'));
  assert.equal(hi.pings.length, 1, 'q=1.0 tried once');
  assert.equal(mid.pings.length, 1, 'q=0.5 tried once');
  assert.ok(hi.pings[0]! <= mid.pings[0]!, 'q=1.0 before q=0.5');
  // Serial, not parallel: q=0.1 answered only after q=0.5's no-reply timer ran out.
  assert.ok(
    stats.responseTimesMs[0]! >= frTimerMs,
    `INVITE answered after ${stats.responseTimesMs[0]} ms`,
  );
  const loStats = await lo.stop();
  assert.equal(
    loStats.scenario.find((l) => l.message === 'INVITE')?.count,
    1,
    'q=0.1 took the call',
  );
});

test('Path: an INVITE to a server registered through a proxy goes through that proxy, with the Contact as R-URI and the Path as route set', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const mediaPort = await freePort();
  const media = await startSipp({
    scenario: 'uas-call',
    localPort: mediaPort,
    traceMessages: true,
    owner: t,
  });
  // The intermediate proxy: a UDP relay in front of the media server that counts what it passes.
  const relay = await startLossyRelay(t, { target: mediaPort, dropEvery: Number.MAX_SAFE_INTEGER });
  const contact = `sip:ms@127.0.0.1:${mediaPort}`;
  const hop = `<sip:127.0.0.1:${relay.port};lr>`;
  const edge = await startEdge(t, {
    redis: { url: redis.url, prefix: uniquePrefix() },
    dispatcher: {
      registerSets: [3],
      registerAllowFrom: [{ set: 3, networks: ['127.0.0.1/32'] }],
    },
    routing: { dispatcher: { set: 3, algorithm: 8 } },
  });
  const reg = await sippRegister(t, edge, {
    aor: 'media-behind-proxy',
    contact: `<${contact}>`,
    expires: 60,
    extra: `Path: ${hop}`,
  });
  assert.equal(reg.status, 200);
  // RFC 3327 §5.3: Supported: path, so the 200 echoes the Path.
  assert.match(
    reg.stats.messages ?? '',
    new RegExp(`Path: <sip:127\\.0\\.0\\.1:${relay.port};lr>`),
  );
  await until('registered', async () => {
    return (await edge.metric('sipfleet_dispatcher_destination_active', { uri: contact })) === 1;
  });

  const stats = await call(t, edge);
  assert.equal(stats.successful, 1, stats.errors.join('\n'));
  assert.ok(relay.forwarded >= 1, 'the Path proxy saw the INVITE');
  const trace = (await media.stop()).messages ?? '';
  assert.match(trace, new RegExp(`^INVITE ${contact} SIP/2\\.0`, 'm'), 'Contact as R-URI');
  assert.match(trace, new RegExp(`^Route: <sip:127\\.0\\.0\\.1:${relay.port};lr>`, 'm'));
});

test('unlisted servers: from an allowed network one joins the set, from another it is refused 403; its expiry takes it out, a re-REGISTER brings it back, Expires: 0 removes it', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const prefix = uniquePrefix();
  const edge = await startEdge(t, {
    redis: { url: redis.url, prefix },
    dispatcher: {
      registerSets: [4],
      registerAllowFrom: [{ set: 4, networks: ['127.0.0.2/32'] }],
    },
  });
  await startProber(t, redis.url, prefix, { registerSets: [4] });
  const contact = `sip:ms@127.0.0.2:${await freePort()}`;
  const active = () => edge.metric('sipfleet_dispatcher_destination_active', { uri: contact });

  const refused = await sippRegister(t, edge, {
    aor: 'intruder',
    contact: `<${contact}>`,
    expires: 60,
  });
  assert.equal(refused.status, 403);

  const allowed = await sippRegister(t, edge, {
    aor: 'ms',
    contact: `<${contact}>`,
    expires: 2,
    localIp: '127.0.0.2',
  });
  assert.equal(allowed.status, 200);
  await until('joined the set', async () => (await active()) === 1);
  // No refresh: the prober's sweep takes it down when the 2 s run out.
  await until('expired', async () => (await active()) === 0);
  const again = { aor: 'ms', contact: `<${contact}>`, localIp: '127.0.0.2' };
  assert.equal((await sippRegister(t, edge, { ...again, expires: 60 })).status, 200);
  await until('re-registered: up again', async () => (await active()) === 1);
  // Expires: 0 removes it from the set, not only down (`ctl dispatcher list` would not show it).
  assert.equal((await sippRegister(t, edge, { ...again, expires: 0 })).status, 200);
  const conn = new RedisConnection({ redis: redis.url, keyPrefix: prefix });
  t.after(() => conn.close());
  await conn.waitUntilReady();
  const fleet = new DispatcherFleet(conn);
  await until('removed from the set', async () => {
    const sets = await fleet.list();
    return !sets.some((set) => set.destinations.some((d) => d.uri === contact));
  });
  const registrations = (result: string) => edge.metric('sipfleet_registrations_total', { result });
  assert.equal(await registrations('refused'), 1);
  assert.equal(await registrations('removed'), 1);
});
