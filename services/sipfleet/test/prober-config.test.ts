import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../src/config.js';
import { loadProberConfig, parseProberConfig } from '../src/prober/config.js';
import { main } from '../src/cli.js';

test('prober config: defaults around a required redis.url; env fills it in', () => {
  const c = loadProberConfig(undefined, {
    SIPFLEET_REDIS_URL: 'redis://127.0.0.1:1',
    SIPFLEET_PREFIX: 'p',
  });
  assert.equal(c.redis.url, 'redis://127.0.0.1:1');
  assert.equal(c.redis.prefix, 'p');
  assert.equal(c.admin.port, 9070);
  assert.equal(c.shardSize, 50);
  assert.deepEqual(c.dispatcher.registerSets, []);
  assert.equal(c.keepalive.pingIntervalMs, 30_000);
});

test('prober config errors name the setting', () => {
  const bad: [unknown, RegExp][] = [
    [{}, /redis/],
    [{ redis: { url: 'redis://x' }, dispatcher: { probingMode: 5 } }, /dispatcher\.probingMode/],
    [
      { redis: { url: 'redis://x' }, dispatcher: { pingIntervalMs: 10 } },
      /dispatcher\.pingIntervalMs/,
    ],
    [
      { redis: { url: 'redis://x' }, keepalive: { destinations: [''] } },
      /keepalive\.destinations\.0/,
    ],
    [{ redis: { url: 'redis://x' }, nope: 1 }, /nope|unrecognized/i],
    [
      { redis: { url: 'redis://x' }, dispatcher: { pingReplyCodes: 'class=9' } },
      /ds_ping_reply_codes/,
    ],
    [
      { redis: { url: 'redis://x' }, dispatcher: { pingIntervalMs: 1000, timeoutMs: 2000 } },
      /timeoutMs/,
    ],
  ];
  for (const [raw, message] of bad) {
    assert.throws(
      () => parseProberConfig(raw),
      (e: unknown) => e instanceof ConfigError && message.test(e.message),
      JSON.stringify(raw),
    );
  }
  assert.throws(() => loadProberConfig(undefined, { SIPFLEET_ADMIN: 'nope' }), /SIPFLEET_ADMIN/);
});

test('sipfleet prober exits 78 with the setting named when the config is bad', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sipfleet-prober-config-'));
  try {
    const file = join(dir, 'p.yaml');
    writeFileSync(file, 'redis:\n  url: redis://127.0.0.1:1\ndispatcher:\n  pingReplyCodes: 3\n');
    const saved = process.stderr.write.bind(process.stderr);
    let err = '';
    process.stderr.write = ((chunk: string) => (
      (err += chunk),
      true
    )) as typeof process.stderr.write;
    let code: number;
    try {
      code = await main(['prober', '--config', file]);
    } finally {
      process.stderr.write = saved;
    }
    assert.equal(code, 78);
    assert.match(err, /dispatcher\.pingReplyCodes/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
