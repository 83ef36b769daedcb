// Start-up failures of the built CLI: one line on stderr naming the setting and the address (or the
// file), and a distinct sysexits code (docs/errors.md, "Exit codes of the long-running commands").
// The test holds the port itself, then starts the process on it.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SIPFLEET_BIN } from '@sipfleet/test-helpers/edge';
import { freePort } from '@sipfleet/test-helpers/ports';
import { type CleanupOwner, spawnTracked } from '@sipfleet/test-helpers/processes';
import { type RedisServer, startRedis, uniquePrefix } from '@sipfleet/test-helpers/redis-server';

const HOST = '127.0.0.1';

/** Binds `port` on 127.0.0.1 (UDP or TCP) until the test ends. */
async function holdPort(owner: CleanupOwner, protocol: 'udp' | 'tcp', port: number): Promise<void> {
  if (protocol === 'udp') {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, HOST, () => resolve());
    });
    owner.after(() => new Promise<void>((resolve) => socket.close(() => resolve())));
    return;
  }
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, HOST, () => resolve());
  });
  owner.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
}

function configFile(owner: CleanupOwner, config: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'sipfleet-startup-'));
  owner.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify(config));
  return file;
}

/** Runs `sipfleet <args>` to its exit; asserts exactly `line` on stderr and the exit code. */
async function expectFailure(
  owner: CleanupOwner,
  args: string[],
  line: string,
  code: number,
): Promise<void> {
  const env = { ...process.env };
  for (const name of ['SIPFLEET_LISTEN', 'SIPFLEET_ADMIN', 'SIPFLEET_REDIS_URL']) delete env[name];
  const proc = spawnTracked(process.execPath, [SIPFLEET_BIN, ...args], {
    owner,
    env,
    name: `sipfleet ${args[0] ?? ''}`,
  });
  const status = await proc.waitForExit(30_000);
  assert.equal(proc.stderr, `${line}\n`, proc.output());
  assert.deepEqual(status, { code, signal: null }, proc.output());
}

describe('start-up errors: one stderr line and a sysexits code', () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis.stop());

  test('edge: its SIP UDP port in use -> 71, naming the listen address', async (t) => {
    const port = await freePort();
    await holdPort(t, 'udp', port);
    const file = configFile(t, {
      listen: [{ protocol: 'udp', address: HOST, port }],
      admin: { address: HOST, port: await freePort() },
    });
    await expectFailure(
      t,
      ['edge', '--config', file],
      `sipfleet edge: listen udp:${HOST}:${port}: address already in use`,
      71,
    );
  });

  test('edge: its SIP TCP port in use -> 71', async (t) => {
    const port = await freePort();
    await holdPort(t, 'tcp', port);
    const file = configFile(t, {
      listen: [
        { protocol: 'udp', address: HOST, port },
        { protocol: 'tcp', address: HOST, port },
      ],
      admin: { address: HOST, port: await freePort() },
    });
    await expectFailure(
      t,
      ['edge', '--config', file],
      `sipfleet edge: listen tcp:${HOST}:${port}: address already in use`,
      71,
    );
  });

  test('edge: its admin port in use -> 71, naming admin', async (t) => {
    const adminPort = await freePort();
    await holdPort(t, 'tcp', adminPort);
    const file = configFile(t, {
      listen: [{ protocol: 'udp', address: HOST, port: await freePort() }],
      admin: { address: HOST, port: adminPort },
    });
    await expectFailure(
      t,
      ['edge', '--config', file],
      `sipfleet edge: admin tcp:${HOST}:${adminPort}: address already in use`,
      71,
    );
  });

  test('edge: a missing config file -> 66, an invalid one -> 78', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'sipfleet-startup-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const missing = join(dir, 'missing.yaml');
    await expectFailure(
      t,
      ['edge', '--config', missing],
      `sipfleet edge: cannot read config file ${missing}: ENOENT: no such file or directory, open '${missing}'`,
      66,
    );
    const bad = configFile(t, { listen: 'nowhere' });
    const proc = spawnTracked(process.execPath, [SIPFLEET_BIN, 'edge', '--config', bad], {
      owner: t,
    });
    assert.deepEqual(await proc.waitForExit(30_000), { code: 78, signal: null }, proc.output());
    assert.match(proc.stderr, /^sipfleet edge: invalid configuration:\n {2}listen: /);
  });

  test('prober: its admin port in use -> 71, and it exits (nothing left open)', async (t) => {
    const adminPort = await freePort();
    await holdPort(t, 'tcp', adminPort);
    const file = configFile(t, {
      redis: { url: redis.url, prefix: uniquePrefix() },
      sip: { address: HOST, tcp: false },
      admin: { address: HOST, port: adminPort },
      log: { level: 'warn' },
    });
    await expectFailure(
      t,
      ['prober', '--config', file],
      `sipfleet prober: admin tcp:${HOST}:${adminPort}: address already in use`,
      71,
    );
  });

  test('route-api: its --listen port in use -> 71', async (t) => {
    const port = await freePort();
    await holdPort(t, 'tcp', port);
    await expectFailure(
      t,
      ['route-api', '--listen', `${HOST}:${port}`, '--redis-url', redis.url],
      `sipfleet route-api: --listen tcp:${HOST}:${port}: address already in use`,
      71,
    );
  });

  test('demo-uas: its --port in use -> 71', async (t) => {
    const port = await freePort();
    await holdPort(t, 'udp', port);
    await expectFailure(
      t,
      ['demo-uas', '--port', String(port)],
      `sipfleet demo-uas: --port udp:${HOST}:${port}: address already in use`,
      71,
    );
  });

  test('up: a --sip-port in use -> 71 before anything starts', async (t) => {
    const sipPort = await freePort();
    await holdPort(t, 'tcp', sipPort);
    const dataDir = mkdtempSync(join(tmpdir(), 'sipfleet-startup-redis-'));
    t.after(() => rmSync(dataDir, { recursive: true, force: true }));
    const adminPort = await freePort();
    const proc = spawnTracked(
      process.execPath,
      [
        SIPFLEET_BIN,
        'up',
        '--edges',
        '1',
        '--sip-port',
        String(sipPort),
        '--admin-port',
        String(adminPort),
        '--data-dir',
        dataDir,
      ],
      { owner: t, name: 'sipfleet up' },
    );
    const status = await proc.waitForExit(30_000);
    assert.equal(
      proc.stderr,
      `sipfleet up: --sip-port tcp:${HOST}:${sipPort}: address already in use\n`,
      proc.output(),
    );
    assert.deepEqual(status, { code: 71, signal: null }, proc.output());
    assert.doesNotMatch(proc.stdout, /redis /, 'it started redis-server before checking the ports');
  });
});
