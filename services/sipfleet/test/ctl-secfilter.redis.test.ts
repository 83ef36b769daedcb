// `sipfleet ctl secfilter …` and the redis-cli equivalents printed in docs/cli.md: the built CLI as
// a child process against a real redis-server, checked with the real redis-cli.
// Build first: `npx tsc -b services/sipfleet`.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { ctl } from './ctl-run.js';
import {
  type RedisServer,
  redisCli,
  startRedis,
  uniquePrefix,
} from '@sipfleet/test-helpers/redis-server';

const cliDoc = readFileSync(new URL('../../../docs/cli.md', import.meta.url), 'utf8');

let redis: RedisServer;

before(async () => {
  redis = await startRedis();
});

after(async () => {
  await redis.stop();
});

function scope() {
  const prefix = uniquePrefix();
  return {
    prefix,
    opts: ['--redis-url', redis.url, '--prefix', prefix],
    cli: (...args: string[]) => redisCli(redis.port, ...args),
    sf: (...args: string[]) =>
      ctl(['--redis-url', redis.url, '--prefix', prefix, 'secfilter', ...args]),
  };
}

/** `'quoted words'` and bare words, as a shell reads the doc's lines. */
function shellWords(text: string): string[] {
  assert.doesNotMatch(text, /"/, `the test splits only single quotes: ${text}`);
  return [...text.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? '');
}

/** Every key under a prefix: type, value or sorted members, and whether it has a TTL. */
async function snapshot(prefix: string): Promise<string[][]> {
  const keys = (await redisCli(redis.port, '--scan', '--pattern', `${prefix}:*`))
    .split('\n')
    .filter((k) => k !== '')
    .sort();
  const out: string[][] = [];
  for (const key of keys) {
    const type = (await redisCli(redis.port, 'TYPE', key)).trim();
    const value =
      type === 'set'
        ? (await redisCli(redis.port, 'SMEMBERS', key))
            .split('\n')
            .filter((m) => m)
            .sort()
        : [(await redisCli(redis.port, 'GET', key)).trim()];
    const ttl = Number(await redisCli(redis.port, 'TTL', key));
    out.push([key.slice(prefix.length), type, ...value, ttl > 0 ? 'ttl' : String(ttl)]);
  }
  return out;
}

describe('sipfleet ctl secfilter', () => {
  test('docs/cli.md redis-cli equivalents leave Redis exactly as the ctl commands do', async () => {
    const pairs = cliDoc
      .split('\n')
      .map((line) => /^redis-cli (.+?)\s+# sipfleet ctl (secfilter .+)$/.exec(line))
      .filter((m) => m !== null)
      .map((m) => ({ redisCli: shellWords(m[1] ?? ''), ctl: (m[2] ?? '').trim().split(/\s+/) }));
    assert.ok(pairs.length >= 5, 'docs/cli.md lists redis-cli equivalents for secfilter');
    const viaCli = scope();
    const viaCtl = scope();
    for (const pair of pairs) {
      const args = pair.redisCli.map((a) =>
        a.startsWith('sipfleet:') ? viaCli.prefix + a.slice('sipfleet'.length) : a,
      );
      await viaCli.cli(...args);
      const run = await ctl([...viaCtl.opts, ...pair.ctl]);
      assert.equal(run.code, 0, `${pair.ctl.join(' ')}: ${run.stderr}`);
      assert.deepEqual(
        await snapshot(viaCli.prefix),
        await snapshot(viaCtl.prefix),
        `redis-cli ${pair.redisCli.join(' ')} == sipfleet ctl ${pair.ctl.join(' ')}`,
      );
    }
    // The read-only lines of the doc work on what the pairs wrote.
    for (const line of cliDoc.split('\n')) {
      const m = /^redis-cli ((?:SMEMBERS|--scan|PTTL) .+?)\s+#/.exec(line);
      if (!m?.[1]) continue;
      const args = shellWords(m[1]).map((a) =>
        a.startsWith('sipfleet:') ? viaCli.prefix + a.slice('sipfleet'.length) : a,
      );
      assert.doesNotMatch(await viaCli.cli(...args), /ERR/, m[1]);
    }
  });

  test('add, list, remove; block, blocked, unblock: text and --json', async () => {
    const s = scope();
    const added = await s.sf('add', 'deny-ip', '10.0.0.0/08');
    assert.equal(added.code, 0, added.stderr);
    assert.equal(added.stdout, 'deny-ip: added 10.0.0.0/8\n');
    assert.equal(
      (await s.sf('add', 'deny-ip', '10.0.0.0/8')).stdout,
      'deny-ip: 10.0.0.0/8 was there already\n',
    );
    await s.sf('add', 'deny-ua', 'friendly-scanner');
    assert.equal(
      (await s.sf('list')).stdout,
      'allow-ip: (empty)\ndeny-ip: 10.0.0.0/8\nallow-ua: (empty)\ndeny-ua: friendly-scanner\n',
    );
    assert.deepEqual(JSON.parse((await s.sf('list', 'deny-ua', '--json')).stdout), {
      'deny-ua': ['friendly-scanner'],
    });
    assert.equal(
      (await s.sf('remove', 'deny-ip', '10.0.0.0/8')).stdout,
      'deny-ip: removed 10.0.0.0/8\n',
    );
    const gone = await s.sf('remove', 'deny-ip', '10.0.0.0/8');
    assert.equal(gone.code, 3);
    assert.equal(gone.stderr, 'sipfleet ctl: 10.0.0.0/8 is not on deny-ip\n');

    const blocked = await s.sf('block', '198.51.100.9', '--expire', '600');
    assert.equal(blocked.stdout, 'blocked 198.51.100.9 on every edge (expires in 10 min 0 s)\n');
    await s.sf('block', '2001:DB8::9');
    await s.cli('SET', `${s.prefix}:{sf}:block:192.0.2.77`, 'pike:edge-1', 'EX', '250');
    const list = (await s.sf('blocked')).stdout.split('\n');
    // Time left goes down while the test runs: only its shape is checked.
    assert.equal(list[0], 'SOURCE        BY           EXPIRES');
    assert.match(list[1] ?? '', /^192\.0\.2\.77 {4}pike:edge-1 {2}expires in \d+ min \d+ s$/);
    assert.match(list[2] ?? '', /^198\.51\.100\.9 {2}manual {7}expires in \d+ min \d+ s$/);
    assert.equal(list[3], '2001:db8::9   manual       no expiry');
    assert.equal(list[4], '3 blocked source(s)');
    const json = JSON.parse((await s.sf('blocked', '--json')).stdout) as {
      address: string;
      by: string;
    }[];
    assert.deepEqual(
      json.map((b) => [b.address, b.by]),
      [
        ['192.0.2.77', 'pike:edge-1'],
        ['198.51.100.9', 'manual'],
        ['2001:db8::9', 'manual'],
      ],
    );
    assert.equal((await s.sf('unblock', '192.0.2.77')).stdout, 'unblocked 192.0.2.77\n');
    const notBlocked = await s.sf('unblock', '192.0.2.77');
    assert.equal(notBlocked.code, 3);
    assert.equal(await s.cli('EXISTS', `${s.prefix}:{sf}:block:192.0.2.77`), '0\n');
  });

  test('misuse exits 2 with the usage text; nothing is written', async () => {
    const s = scope();
    const cases: [string[], RegExp][] = [
      [[], /missing secfilter command/],
      [['frobnicate'], /unknown secfilter command 'frobnicate'/],
      [['add', 'deny-ip'], /add needs LIST ENTRY/],
      [['add', 'deny-ip', 'example.com'], /'example.com' is not an IP address or CIDR/],
      [['add', 'block-ip', '10.0.0.1'], /unknown secfilter list 'block-ip'/],
      [['add', 'deny-ua', '  '], /empty User-Agent pattern/],
      [['block', '10.0.0.0/8'], /a range: block takes one address/],
      [['block', '10.0.0.1', '--expire', '1.5'], /--expire takes whole seconds/],
      [['unblock', '10.0.0.1', '--expire', '5'], /--expire goes with block only/],
      [['blocked', 'now'], /unexpected argument 'now'/],
    ];
    for (const [args, message] of cases) {
      const run = await s.sf(...args);
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, message, args.join(' '));
      assert.match(run.stderr, /usage: sipfleet ctl secfilter/);
    }
    assert.equal(await s.cli('--scan', '--pattern', `${s.prefix}:*`), '', 'nothing written');
  });
});
