// `sipfleet ctl maintenance …` and the redis-cli equivalents printed in docs/cli.md: the built CLI
// as a child process against a real redis-server (and a real 3-master Cluster), checked with the
// real redis-cli. Build first: `npx tsc -b services/sipfleet`.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { ctl } from './ctl-run.js';
import {
  type RedisServer,
  redisCli,
  startCluster,
  startRedis,
  uniquePrefix,
} from '@sipfleet/test-helpers/redis-server';

const cliDoc = readFileSync(new URL('../../../docs/cli.md', import.meta.url), 'utf8');

interface FlagJson {
  key: string;
  on: boolean;
  value: string | number | null;
  expiresInMs: number | null;
}

interface StatusJson {
  fleet: FlagJson;
  nodes: (FlagJson & { node: string })[];
  malformed: string[];
}

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
    flag: (key: string) => `${prefix}:{ht:config}:${key}`,
    opts: ['--redis-url', redis.url, '--prefix', prefix],
    cli: (...args: string[]) => redisCli(redis.port, ...args),
  };
}

async function status(opts: string[]): Promise<StatusJson> {
  const run = await ctl([...opts, 'maintenance', 'status', '--json']);
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout) as StatusJson;
}

/** `'quoted words'` and bare words, as a shell reads the doc's lines (no double quotes there). */
function shellWords(text: string): string[] {
  assert.doesNotMatch(text, /"/, `the test splits only single quotes: ${text}`);
  return [...text.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? '');
}

interface Equivalent {
  redisCli: string[];
  ctl: string[];
}

/** The doc's `redis-cli … # sipfleet ctl …` lines whose ctl command starts with `group`. */
function docEquivalents(group: string): Equivalent[] {
  const out: Equivalent[] = [];
  for (const line of cliDoc.split('\n')) {
    const m = /^redis-cli (.+?)\s+# sipfleet ctl (.+)$/.exec(line);
    if (!m?.[1] || !m[2]) continue;
    const ctlWords = m[2].trim().split(/\s+/);
    if (ctlWords[0] === group) out.push({ redisCli: shellWords(m[1]), ctl: ctlWords });
  }
  return out;
}

/** The words of the doc's `redis-cli <command> …` line that mentions `about`. */
function docCommand(command: string, about: string): string[] {
  const line = cliDoc
    .split('\n')
    .find((l) => l.startsWith(`redis-cli ${command} `) && l.includes(about));
  assert.ok(line, `docs/cli.md has a redis-cli ${command} line about ${about}`);
  return shellWords(line.replace(/\s+#.*$/, '')).slice(1);
}

/** The doc is written for the default prefix; tests use their own. */
function withPrefix(args: string[], prefix: string): string[] {
  return args.map((a) => (a.startsWith('sipfleet:') ? prefix + a.slice('sipfleet'.length) : a));
}

/** Every key under a prefix, with its type, fields and whether it has a TTL. */
async function snapshot(prefix: string): Promise<string[][]> {
  const keys = (await redisCli(redis.port, '--scan', '--pattern', `${prefix}:*`))
    .split('\n')
    .filter((k) => k !== '')
    .sort();
  const out: string[][] = [];
  for (const key of keys) {
    const fields = (await redisCli(redis.port, 'HGETALL', key)).split('\n').filter((f) => f);
    const ttl = Number(await redisCli(redis.port, 'TTL', key));
    out.push([
      key.slice(prefix.length),
      (await redisCli(redis.port, 'TYPE', key)).trim(),
      ...fields,
      ttl > 0 ? 'ttl' : String(ttl),
    ]);
  }
  return out;
}

describe('sipfleet ctl maintenance', () => {
  test('fleet flag: on writes i 1, off writes i 0, status reads it', async () => {
    const s = scope();
    const unset = await ctl([...s.opts, 'maintenance', 'status']);
    assert.equal(unset.code, 0, unset.stderr);
    assert.deepEqual(unset.stdout.trimEnd().split('\n'), [
      'SCOPE  STATE  VALUE    EXPIRES',
      'fleet  off    (unset)  -',
      'maintenance: off',
    ]);

    const on = await ctl([...s.opts, 'maintenance', 'on']);
    assert.equal(on.code, 0, on.stderr);
    assert.equal(on.stdout, 'config=>maint = 1 (int, no expiry)\nmaintenance: ON fleet-wide\n');
    assert.equal(await s.cli('HGET', s.flag('maint'), 'i'), '1\n');
    assert.equal(await s.cli('HGETALL', s.flag('maint')), 'i\n1\n');
    assert.deepEqual((await status(s.opts)).fleet, {
      key: 'maint',
      on: true,
      value: 1,
      expiresInMs: null,
    });

    const off = await ctl([...s.opts, 'maintenance', 'off']);
    assert.equal(off.stdout, 'config=>maint = 0 (int, no expiry)\nmaintenance: off\n');
    assert.equal(await s.cli('HGET', s.flag('maint'), 'i'), '0\n');
    assert.equal((await status(s.opts)).fleet.on, false);
  });

  test('per-node flags: on/off --node, --expire, status lists every node, notes on the other flag', async () => {
    const s = scope();
    const a = await ctl([...s.opts, 'maintenance', 'on', '--node', 'edge-1', '--expire', '300']);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /^config=>maint:edge-1 = 1 \(int, expires in \d+ min \d+ s\)\n/);
    assert.match(a.stdout, /maintenance: ON for node\(s\) edge-1\n$/);
    const ttl = Number(await s.cli('TTL', s.flag('maint:edge-1')));
    assert.ok(ttl > 0 && ttl <= 300, String(ttl));
    await ctl([...s.opts, 'maintenance', 'on', '--node', 'edge-2']);
    assert.equal(await s.cli('HGET', s.flag('maint:edge-2'), 'i'), '1\n');
    assert.equal(await s.cli('EXISTS', s.flag('maint')), '0\n', 'the fleet flag untouched');

    const st = await status(s.opts);
    assert.equal(st.fleet.on, false);
    assert.deepEqual(
      st.nodes.map((n) => [n.node, n.key, n.on, n.value, n.expiresInMs !== null]),
      [
        ['edge-1', 'maint:edge-1', true, 1, true],
        ['edge-2', 'maint:edge-2', true, 1, false],
      ],
    );
    const human = await ctl([...s.opts, 'maintenance', 'status']);
    const rows = human.stdout.trimEnd().split('\n');
    assert.match(rows[0] ?? '', /^SCOPE\s+STATE\s+VALUE\s+EXPIRES$/);
    assert.match(rows[1] ?? '', /^fleet\s+off\s+\(unset\)\s+-$/);
    assert.match(rows[2] ?? '', /^node edge-1\s+on\s+1\s+\d+ min \d+ s$/);
    assert.match(rows[3] ?? '', /^node edge-2\s+on\s+1\s+-$/);
    assert.equal(rows[4], 'maintenance: ON for node(s) edge-1, edge-2');

    await ctl([...s.opts, 'maintenance', 'on']);
    const offNode = await ctl([...s.opts, 'maintenance', 'off', '--node', 'edge-1']);
    assert.match(offNode.stdout, /note: the fleet flag is on, so node edge-1 still refuses/);
    assert.equal(Number(await s.cli('TTL', s.flag('maint:edge-1'))), -1, 'off is permanent');
    const offFleet = await ctl([...s.opts, 'maintenance', 'off', '--json']);
    const written = JSON.parse(offFleet.stdout) as StatusJson & { written: unknown };
    assert.deepEqual(written.written, {
      table: 'config',
      key: 'maint',
      type: 'int',
      value: 0,
      expiresInMs: null,
    });
    assert.deepEqual(
      written.nodes.map((n) => [n.node, n.on]),
      [
        ['edge-1', false],
        ['edge-2', true],
      ],
    );
    const human2 = await ctl([...s.opts, 'maintenance', 'off']);
    assert.match(human2.stdout, /note: per-node flags are still on/);
  });

  test("status reads an operator's hand-written flags the way an edge does", async () => {
    const s = scope();
    await s.cli('HSET', s.flag('maint'), 's', '1'); // a string "1" is on too
    await s.cli('HSET', s.flag('maint:edge-3'), 'i', '2'); // only 1 is on
    await s.cli('SET', s.flag('maint:edge-9'), '1'); // not an item: edges ignore it
    await s.cli('HSET', s.flag('maintenance-window'), 'i', '1'); // not a flag at all
    const st = await status(s.opts);
    assert.deepEqual(st.fleet, { key: 'maint', on: true, value: '1', expiresInMs: null });
    assert.deepEqual(
      st.nodes.map((n) => [n.node, n.on, n.value]),
      [['edge-3', false, 2]],
    );
    assert.deepEqual(st.malformed, ['maint:edge-9']);
    const human = await ctl([...s.opts, 'maintenance', 'status']);
    assert.match(
      human.stdout,
      /config=>maint:edge-9 is not an htable item: edges ignore it \(off\)/,
    );
    assert.match(human.stdout, /maintenance: ON fleet-wide\n$/);
  });

  test('docs/cli.md redis-cli equivalents leave Redis exactly as the ctl commands do, both ways', async () => {
    for (const group of ['maintenance', 'htable']) {
      const pairs = docEquivalents(group);
      assert.ok(pairs.length >= 3, `docs/cli.md lists redis-cli equivalents for ${group}`);
      const viaCli = scope();
      const viaCtl = scope();
      for (const pair of pairs) {
        await viaCli.cli(...withPrefix(pair.redisCli, viaCli.prefix));
        const run = await ctl([...viaCtl.opts, ...pair.ctl]);
        assert.equal(run.code, 0, `${pair.ctl.join(' ')}: ${run.stderr}`);
        assert.deepEqual(
          await snapshot(viaCli.prefix),
          await snapshot(viaCtl.prefix),
          `redis-cli ${pair.redisCli.join(' ')} == sipfleet ctl ${pair.ctl.join(' ')}`,
        );
        if (group !== 'maintenance') continue;
        // What the flag should be now, read by ctl after redis-cli wrote it, and by the doc's
        // redis-cli HGET after ctl wrote it.
        const on = pair.ctl[1] === 'on';
        const node = pair.ctl[2] === '--node' ? pair.ctl[3] : undefined;
        const st = await status(viaCli.opts);
        const seen = node === undefined ? st.fleet : st.nodes.find((n) => n.node === node);
        assert.equal(seen?.on, on, `ctl status after redis-cli ${pair.redisCli.join(' ')}`);
        if (node === undefined) {
          const hget = withPrefix(docCommand('HGET', ":maint' i "), viaCtl.prefix);
          assert.equal(await viaCtl.cli(...hget), on ? '1\n' : '0\n');
        } else {
          const scan = withPrefix(docCommand('--scan', ":maint:*'"), viaCtl.prefix);
          assert.match(await viaCtl.cli(...scan), new RegExp(`:maint:${node}\\n`));
          const key = `${viaCtl.prefix}:{ht:config}:maint:${node}`;
          assert.equal(await viaCtl.cli('HGET', key, 'i'), on ? '1\n' : '0\n');
        }
      }
    }
  });

  test('--code, --reason, --retry-after are edge config: exit 2 naming the setting; other misuse exits 2', async () => {
    const s = scope();
    const cases: [string[], RegExp][] = [
      [['on', '--code', '500'], /--code is not a ctl option.*maintenance\.code/],
      [['on', '--reason', 'Upgrade'], /maintenance\.reason/],
      [['on', '--retry-after', '60'], /maintenance\.retryAfter/],
      [[], /missing maintenance command/],
      [['pause'], /unknown maintenance command 'pause'/],
      [['on', 'now'], /unexpected argument 'now'/],
      [['off', '--expire', '5'], /--expire goes with on only/],
      [['status', '--node', 'edge-1'], /--node goes with on and off/],
      [['on', '--node', ''], /--node needs a node id/],
      [['on', '--expire', '1.5'], /--expire takes whole seconds/],
    ];
    for (const [args, message] of cases) {
      const run = await ctl([...s.opts, 'maintenance', ...args]);
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, message, args.join(' '));
      assert.match(run.stderr, /usage: sipfleet ctl maintenance/);
    }
    assert.equal(await s.cli('--scan', '--pattern', `${s.prefix}:*`), '', 'nothing written');
  });

  test('on a 3-master Cluster: flags, status, dump, stats and flush find keys on every master', async (t) => {
    const cluster = await startCluster();
    t.after(() => cluster.stop());
    const prefix = uniquePrefix();
    const opts = ['--redis-url', cluster.url, '--prefix', prefix];
    const port = cluster.ports[0] ?? 0;
    // Ten tables: their hash tags spread over the masters.
    for (let i = 0; i < 10; i++) {
      const run = await ctl([...opts, 'htable', 'seti', `t${i}`, 'k', String(i)]);
      assert.equal(run.code, 0, run.stderr);
    }
    await ctl([...opts, 'maintenance', 'on', '--node', 'edge-1']);
    await redisCli(port, '-c', 'HSET', `${prefix}:{ht:config}:maint:edge-2`, 'i', '1');
    const st = await status(opts);
    assert.deepEqual(
      st.nodes.map((n) => [n.node, n.on]),
      [
        ['edge-1', true],
        ['edge-2', true],
      ],
    );
    assert.equal(
      await redisCli(port, '-c', 'HGET', `${prefix}:{ht:config}:maint:edge-1`, 'i'),
      '1\n',
    );
    const stats = JSON.parse((await ctl([...opts, 'htable', 'stats', '--json'])).stdout) as {
      tables: { name: string; items: number }[];
    };
    assert.deepEqual(
      stats.tables.map((x) => x.name),
      ['config', ...Array.from({ length: 10 }, (_, i) => `t${i}`)],
    );
    const dump = await ctl([...opts, 'htable', 'dump', 't7']);
    assert.match(dump.stdout, /^k\s+int\s+7\s+-$/m);
    const flush = await ctl([...opts, 'htable', 'flush', 'config']);
    assert.equal(flush.stdout, 'flushed config: 2 keys removed\n');
    assert.deepEqual((await status(opts)).nodes, []);
  });
});
