// Registration-based keepalive through a real edge: a destination of a register-mode set is up
// while its REGISTER to the fleet lives; `Expires: 0` takes it down (the prober's own tests cover
// expiry by time). The REGISTER comes from the destination's own address, as a media server's would.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startEdge } from '@sipfleet/test-helpers/edge';
import type { EdgeHandle } from '@sipfleet/test-helpers/edge';
import { startRedis, uniquePrefix } from '@sipfleet/test-helpers/redis-server';

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
