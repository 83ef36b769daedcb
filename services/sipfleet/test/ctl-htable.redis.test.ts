// `sipfleet ctl htable …` as an operator runs it: the built CLI as a child process against a real
// redis-server, checked with the real redis-cli. Build first: `npx tsc -b services/sipfleet`.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ctl, type Run } from './ctl-run.js';
import { freePort } from '@sipfleet/test-helpers/ports';
import {
  type RedisServer,
  redisCli,
  startRedis,
  uniquePrefix,
} from '@sipfleet/test-helpers/redis-server';

function json<T>(run: Run): T {
  assert.equal(run.code === 0 || run.code === 3, true, `exit ${run.code}: ${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}

let redis: RedisServer;
const dirs: string[] = [];

before(async () => {
  redis = await startRedis();
});

after(async () => {
  await redis.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A fresh prefix and the options that point ctl at it. */
function scope() {
  const prefix = uniquePrefix();
  const item = (table: string, key: string) => `${prefix}:{ht:${table}}:${key}`;
  return {
    prefix,
    item,
    opts: ['--redis-url', redis.url, '--prefix', prefix],
    cli: (...args: string[]) => redisCli(redis.port, ...args),
  };
}

function configFile(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'sipfleet-ctl-'));
  dirs.push(dir);
  const file = join(dir, 'edge.yaml');
  writeFileSync(file, yaml);
  return file;
}

describe('sipfleet ctl htable', () => {
  test('seti and get: integer item, human and --json output, redis-cli sees the same hash', async () => {
    const s = scope();
    const set = await ctl([...s.opts, 'htable', 'seti', 'config', 'maint', '1']);
    assert.equal(set.code, 0, set.stderr);
    assert.equal(set.stdout, 'config=>maint = 1 (int, no expiry)\n');
    assert.equal(await s.cli('HGETALL', s.item('config', 'maint')), 'i\n1\n');

    const get = await ctl([...s.opts, 'htable', 'get', 'config', 'maint']);
    assert.equal(get.code, 0);
    assert.equal(get.stdout, 'config=>maint = 1 (int, no expiry)\n');
    assert.deepEqual(json(await ctl([...s.opts, '--json', 'htable', 'get', 'config', 'maint'])), {
      table: 'config',
      found: true,
      key: 'maint',
      type: 'int',
      value: 1,
      expiresInMs: null,
    });
    const negative = await ctl([...s.opts, 'htable', 'seti', 'config', 'n', '-42', '--json']);
    assert.deepEqual(json(negative), {
      table: 'config',
      key: 'n',
      type: 'int',
      value: -42,
      expiresInMs: null,
    });
  });

  test('sets keeps the type: "1" is a string, seti over it removes the s field', async () => {
    const s = scope();
    const set = await ctl([...s.opts, 'htable', 'sets', 'motd', 'text', 'hello world']);
    assert.equal(set.stdout, 'motd=>text = "hello world" (str, no expiry)\n');
    await ctl([...s.opts, 'htable', 'sets', 'motd', 'one', '1']);
    const one = json<{ type: string; value: unknown }>(
      await ctl([...s.opts, 'htable', 'get', 'motd', 'one', '--json']),
    );
    assert.equal(one.type, 'str');
    assert.equal(one.value, '1');
    await ctl([...s.opts, 'htable', 'seti', 'motd', 'one', '7']);
    assert.equal(await s.cli('HGETALL', s.item('motd', 'one')), 'i\n7\n');
    // An empty string is a value too.
    await ctl([...s.opts, 'htable', 'sets', 'motd', 'empty', '']);
    assert.equal(
      (await ctl([...s.opts, 'htable', 'get', 'motd', 'empty'])).stdout,
      'motd=>empty = "" (str, no expiry)\n',
    );
  });

  test('--expire sets a TTL, a write without it removes the TTL, and Redis expires the item', async () => {
    const s = scope();
    const set = json<{ expiresInMs: number }>(
      await ctl([
        ...s.opts,
        'htable',
        'sets',
        'ipban',
        '10.0.0.1',
        'x',
        '--expire',
        '60',
        '--json',
      ]),
    );
    assert.ok(set.expiresInMs > 0 && set.expiresInMs <= 60_000, String(set.expiresInMs));
    const ttl = Number(await s.cli('TTL', s.item('ipban', '10.0.0.1')));
    assert.ok(ttl > 0 && ttl <= 60, String(ttl));
    assert.match(
      (await ctl([...s.opts, 'htable', 'get', 'ipban', '10.0.0.1'])).stdout,
      /^ipban=>10\.0\.0\.1 = "x" \(str, expires in \d+ s\)\n$/,
    );

    // Undeclared table: autoexpire 0, updateexpire true, so a plain write makes it permanent.
    await ctl([...s.opts, 'htable', 'sets', 'ipban', '10.0.0.1', 'y']);
    assert.equal((await s.cli('TTL', s.item('ipban', '10.0.0.1'))).trim(), '-1');

    await ctl([...s.opts, 'htable', 'seti', 'ipban', 'short', '1', '--expire', '1']);
    let last: Run | undefined;
    for (let i = 0; i < 100; i++) {
      last = await ctl([...s.opts, 'htable', 'get', 'ipban', 'short']);
      if (last.code !== 0) break;
      await sleep(100);
    }
    assert.equal(last?.code, 3, 'the item expired');
  });

  test('setex sets the expiry of an existing item, 0 makes it permanent; a missing item exits 3', async () => {
    const s = scope();
    await ctl([...s.opts, 'htable', 'sets', 'ipban', '10.0.0.9', 'flood']);
    const set = await ctl([...s.opts, 'htable', 'setex', 'ipban', '10.0.0.9', '50']);
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /^ipban=>10\.0\.0\.9 = "flood" \(str, expires in \d+ s\)\n$/);
    const ttl = Number(await s.cli('TTL', s.item('ipban', '10.0.0.9')));
    assert.ok(ttl > 0 && ttl <= 50, String(ttl));
    const persist = json<{ expiresInMs: unknown; value: unknown }>(
      await ctl([...s.opts, 'htable', 'setex', 'ipban', '10.0.0.9', '0', '--json']),
    );
    assert.deepEqual([persist.value, persist.expiresInMs], ['flood', null]);
    assert.equal((await s.cli('TTL', s.item('ipban', '10.0.0.9'))).trim(), '-1');
    const missing = await ctl([...s.opts, 'htable', 'setex', 'ipban', 'nope', '5']);
    assert.equal(missing.code, 3);
    assert.equal(missing.stdout, 'ipban=>nope: no such item\n');
    assert.equal(await s.cli('EXISTS', s.item('ipban', 'nope')), '0\n');
    const bad = await ctl([...s.opts, 'htable', 'setex', 'ipban', '10.0.0.9', 'soon']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /SECONDS takes whole seconds >= 0 \(got 'soon'\)/);
  });

  test('get of a missing item exits 3; a key that is not an item exits 1 for get and writes', async () => {
    const s = scope();
    const missing = await ctl([...s.opts, 'htable', 'get', 'config', 'nope']);
    assert.equal(missing.code, 3);
    assert.equal(missing.stdout, 'config=>nope: no such item\n');
    assert.deepEqual(json(await ctl([...s.opts, 'htable', 'get', 'config', 'nope', '--json'])), {
      table: 'config',
      key: 'nope',
      found: false,
    });

    await s.cli('SET', s.item('config', 'junk'), 'x');
    await s.cli('HSET', s.item('config', 'nofield'), 'z', '1');
    for (const args of [
      ['get', 'config', 'junk'],
      ['get', 'config', 'nofield'],
      ['seti', 'config', 'junk', '1'],
    ]) {
      const run = await ctl([...s.opts, 'htable', ...args]);
      assert.equal(run.code, 1, args.join(' '));
      assert.match(run.stderr, /^sipfleet ctl: config=>\w+ is not an htable item/);
      assert.equal(run.stderr.trim().split('\n').length, 1);
    }
    assert.equal((await s.cli('GET', s.item('config', 'junk'))).trim(), 'x', 'left alone');
  });

  test('delete removes one item and reports whether it existed', async () => {
    const s = scope();
    await ctl([...s.opts, 'htable', 'seti', 'config', 'a', '1']);
    await ctl([...s.opts, 'htable', 'seti', 'config', 'b', '2']);
    const first = await ctl([...s.opts, 'htable', 'delete', 'config', 'a']);
    assert.equal(first.code, 0);
    assert.equal(first.stdout, 'deleted config=>a\n');
    assert.equal((await s.cli('EXISTS', s.item('config', 'a'))).trim(), '0');
    assert.equal((await s.cli('EXISTS', s.item('config', 'b'))).trim(), '1');
    const again = await ctl([...s.opts, 'htable', 'delete', 'config', 'a', '--json']);
    assert.equal(again.code, 0);
    assert.deepEqual(JSON.parse(again.stdout), { table: 'config', key: 'a', deleted: false });
  });

  test('dump lists items sorted with type and expiry, and names keys that are not items', async () => {
    const s = scope();
    await s.cli('HSET', s.item('config', 'maint'), 'i', '0');
    await s.cli('HSET', s.item('config', 'motd'), 's', 'hello world');
    await s.cli('EXPIRE', s.item('config', 'motd'), '90');
    await s.cli('SET', s.item('config', 'junk'), 'x');
    await s.cli('HSET', s.item('other', 'x'), 'i', '5');

    const human = await ctl([...s.opts, 'htable', 'dump', 'config']);
    assert.equal(human.code, 0, human.stderr);
    const lines = human.stdout.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^KEY\s+TYPE\s+VALUE\s+EXPIRES$/);
    assert.match(lines[1] ?? '', /^maint\s+int\s+0\s+-$/);
    assert.match(lines[2] ?? '', /^motd\s+str\s+"hello world"\s+\d+ s$/);
    assert.deepEqual(lines.slice(3), ['config: 2 items', 'not items (ignored by edges): junk']);

    const dump = json<{
      table: string;
      items: { key: string; type: string; value: unknown; expiresInMs: number | null }[];
      malformed: string[];
    }>(await ctl([...s.opts, 'htable', 'dump', 'config', '--json']));
    assert.equal(dump.table, 'config');
    assert.deepEqual(
      dump.items.map((i) => [i.key, i.type, i.value, i.expiresInMs === null]),
      [
        ['maint', 'int', 0, true],
        ['motd', 'str', 'hello world', false],
      ],
    );
    assert.deepEqual(dump.malformed, ['junk']);

    const empty = await ctl([...s.opts, 'htable', 'dump', 'nothing']);
    assert.equal(empty.stdout, 'nothing: 0 items\n');
  });

  test('list finds tables by SCAN and adds the declared ones from --config', async () => {
    const s = scope();
    const none = await ctl([...s.opts, 'htable', 'list']);
    assert.equal(none.stdout, 'no htables in Redis\n');
    await s.cli('HSET', s.item('config', 'maint'), 'i', '1');
    await s.cli('HSET', s.item('ipban', '10.0.0.1'), 'i', '1');
    await s.cli('HSET', s.item('ipban', '10.0.0.2'), 'i', '1');
    // Another prefix is another fleet: not listed.
    await s.cli('HSET', `${uniquePrefix()}:{ht:foreign}:x`, 'i', '1');

    const human = await ctl([...s.opts, 'htable', 'list']);
    assert.deepEqual(
      human.stdout
        .trimEnd()
        .split('\n')
        .map((l) => l.split(/\s+/)),
      [
        ['TABLE', 'KEYS', 'AUTOEXPIRE', 'UPDATEEXPIRE', 'INITVAL'],
        ['config', '1', '-', '-', '-'],
        ['ipban', '2', '-', '-', '-'],
      ],
    );

    const config = configFile(
      'htables:\n  - { name: ipban, autoexpire: 300, initval: 0 }\n  - { name: empty }\n',
    );
    const listed = json<{ tables: Record<string, unknown>[] }>(
      await ctl([...s.opts, '--config', config, 'htable', 'list', '--json']),
    );
    assert.deepEqual(listed.tables, [
      {
        name: 'config',
        keys: 1,
        declared: false,
        autoexpire: null,
        updateexpire: null,
        initval: null,
      },
      { name: 'empty', keys: 0, declared: true, autoexpire: 0, updateexpire: true, initval: null },
      { name: 'ipban', keys: 2, declared: true, autoexpire: 300, updateexpire: true, initval: 0 },
    ]);
  });

  test('flush removes every key of one table and nothing else', async () => {
    const s = scope();
    for (let i = 0; i < 3; i++) await s.cli('HSET', s.item('ipban', `k${i}`), 'i', '1');
    await s.cli('SET', s.item('ipban', 'junk'), 'x');
    await s.cli('HSET', s.item('config', 'maint'), 'i', '1');
    const run = await ctl([...s.opts, 'htable', 'flush', 'ipban']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'flushed ipban: 4 keys removed\n');
    assert.equal(await s.cli('--scan', '--pattern', `${s.prefix}:{ht:ipban}:*`), '');
    assert.equal(await s.cli('HGET', s.item('config', 'maint'), 'i'), '1\n');
    assert.deepEqual(json(await ctl([...s.opts, 'htable', 'flush', 'ipban', '--json'])), {
      table: 'ipban',
      removed: 0,
    });
  });

  test('stats counts items, types, TTLs and malformed keys per table', async () => {
    const s = scope();
    await s.cli('HSET', s.item('config', 'maint'), 'i', '1');
    await s.cli('HSET', s.item('config', 'motd'), 's', 'hi');
    await s.cli('EXPIRE', s.item('config', 'motd'), '100');
    await s.cli('SET', s.item('config', 'junk'), 'x');
    await s.cli('HSET', s.item('ipban', 'a'), 'i', '1');
    const stats = json<{ tables: unknown[] }>(await ctl([...s.opts, 'htable', 'stats', '--json']));
    assert.deepEqual(stats.tables, [
      { name: 'config', items: 2, int: 1, str: 1, expiring: 1, malformed: 1 },
      { name: 'ipban', items: 1, int: 1, str: 0, expiring: 0, malformed: 0 },
    ]);
    const human = await ctl([...s.opts, 'htable', 'stats']);
    assert.deepEqual(
      human.stdout
        .trimEnd()
        .split('\n')
        .map((l) => l.split(/\s+/)),
      [
        ['TABLE', 'ITEMS', 'INT', 'STR', 'EXPIRING', 'MALFORMED'],
        ['config', '2', '1', '1', '1', '1'],
        ['ipban', '1', '1', '0', '0', '0'],
      ],
    );
  });

  test('--config: Redis location and prefix from the file, autoexpire applied, reload writes only missing initial values', async () => {
    const s = scope();
    const config = configFile(
      [
        'redis:',
        `  url: ${redis.url}`,
        `  prefix: ${s.prefix}`,
        'htables:',
        '  - name: ipban',
        '    autoexpire: 300',
        '    initial: { seed: 1, banner: "welcome" }',
        '  - name: plain',
        '    initial: { x: 5 }',
        '',
      ].join('\n'),
    );
    const set = json<{ expiresInMs: number }>(
      await ctl(['--config', config, 'htable', 'seti', 'ipban', '10.0.0.1', '1', '--json']),
    );
    assert.ok(set.expiresInMs > 60_000 && set.expiresInMs <= 300_000, String(set.expiresInMs));
    const ttl = Number(await s.cli('TTL', s.item('ipban', '10.0.0.1')));
    assert.ok(ttl > 60 && ttl <= 300, String(ttl));

    // An operator changed one initial value: reload must not overwrite it.
    await s.cli('HSET', s.item('ipban', 'banner'), 's', 'changed');
    const reload = await ctl(['--config', config, 'htable', 'reload', 'ipban']);
    assert.equal(reload.code, 0, reload.stderr);
    assert.equal(reload.stdout, 'ipban: wrote 1 missing initial value (seed), 1 already present\n');
    assert.equal(await s.cli('HGETALL', s.item('ipban', 'seed')), 'i\n1\n');
    assert.equal(await s.cli('HGETALL', s.item('ipban', 'banner')), 's\nchanged\n');
    assert.equal(Number(await s.cli('TTL', s.item('ipban', 'seed'))) > 0, true, 'autoexpire');
    assert.equal(await s.cli('EXISTS', s.item('plain', 'x')), '0\n', 'only the named table');

    const all = json<{ tables: unknown[] }>(
      await ctl(['--config', config, 'htable', 'reload', '--json']),
    );
    assert.deepEqual(all.tables, [
      { table: 'ipban', written: [], present: ['seed', 'banner'] },
      { table: 'plain', written: ['x'], present: [] },
    ]);

    const undeclared = await ctl(['--config', config, 'htable', 'reload', 'nope']);
    assert.equal(undeclared.code, 3);
    assert.match(undeclared.stderr, /htable "nope" is not declared/);
    const noConfig = await ctl([...s.opts, 'htable', 'reload']);
    assert.equal(noConfig.code, 2);
    assert.match(noConfig.stderr, /reload needs --config FILE/);
    const bad = configFile('htables:\n  - { name: ipban, autoexpire: -1 }\n');
    const invalid = await ctl([...s.opts, '--config', bad, 'htable', 'list']);
    assert.equal(invalid.code, 78);
    assert.match(invalid.stderr, /htables\.0\.autoexpire/);
  });

  test('SIPFLEET_REDIS_URL and SIPFLEET_PREFIX are used when no option is given', async () => {
    const s = scope();
    await s.cli('HSET', s.item('config', 'maint'), 'i', '1');
    const run = await ctl(['htable', 'get', 'config', 'maint'], {
      SIPFLEET_REDIS_URL: redis.url,
      SIPFLEET_PREFIX: s.prefix,
    });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'config=>maint = 1 (int, no expiry)\n');
  });

  test('bad usage exits 2 with the message and the usage text on stderr, touching nothing', async () => {
    const s = scope();
    const cases: [string[], RegExp][] = [
      [[], /usage: sipfleet ctl <group>/],
      [['frob'], /unknown group 'frob'/],
      [['htable'], /missing htable command/],
      [['htable', 'frob'], /unknown htable command 'frob'/],
      [['htable', 'get', 'config'], /expected TABLE KEY, got 1 argument/],
      [['htable', 'get', 'config', 'a', 'b'], /expected TABLE KEY, got 3 argument/],
      [['htable', 'seti', 'config', 'maint', '1.5'], /seti takes an integer \(got '1\.5'\)/],
      [['htable', 'seti', 'config', 'maint', '99999999999999999999'], /seti takes an integer/],
      [['htable', 'sets', 'config', 'a', 'b', '--expire', '-1'], /--expire takes whole seconds/],
      [['htable', 'get', 'config', 'a', '--expire', '5'], /--expire goes with sets and seti/],
      [['htable', 'list', '--bogus'], /Unknown option '--bogus'/],
      [['htable', 'get', 'bad{name}', 'a'], /cannot be used in a Redis key/],
      [['--redis-url', 'http://x', 'htable', 'list'], /not a redis URL|unknown scheme/],
    ];
    for (const [args, message] of cases) {
      const run = await ctl([...s.opts, ...args]);
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, message, args.join(' '));
      assert.match(run.stderr, /usage: sipfleet ctl/, args.join(' '));
      assert.equal(run.stdout, '');
    }
    assert.equal(await s.cli('--scan', '--pattern', `${s.prefix}:*`), '');
    const help = await ctl(['htable', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /get TABLE KEY/);
  });

  test('Redis unreachable: exit 1, one line naming the URL (password hidden), no hang', async () => {
    const port = await freePort(); // nothing listens there
    const url = `redis://operator:secret@127.0.0.1:${port}`;
    const started = Date.now();
    const run = await ctl(['--redis-url', url, 'htable', 'get', 'config', 'maint']);
    // A figure for the log, not an assertion: tests do not assert speed.
    process.stdout.write(
      `# ctl gave up on an unreachable Redis after ${Date.now() - started} ms\n`,
    );
    assert.equal(run.code, 1);
    assert.equal(run.stdout, '');
    const lines = run.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, run.stderr);
    assert.match(
      lines[0] ?? '',
      new RegExp(
        `^sipfleet ctl: cannot reach Redis at redis://operator:\\*\\*\\*@127\\.0\\.0\\.1:${port} `,
      ),
    );
    assert.doesNotMatch(run.stderr, /secret/);
  });
});
