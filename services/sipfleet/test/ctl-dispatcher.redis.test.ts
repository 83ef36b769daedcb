// `sipfleet ctl dispatcher …` as an operator runs it: the built CLI as a child process against a
// real redis-server, checked against what an edge holds (a DispatcherView on its own connection),
// the package's own readers and the real redis-cli. Build first: `npx tsc -b services/sipfleet`.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ctl, type Run } from './ctl-run.js';
import { Queue } from 'bullmq';
import { type CallInput, DispatcherFleet, DispatcherView, formatFlags } from '@sipfleet/dispatcher';
import { PROBE_QUEUE, bullConnection, getPingActive } from '@sipfleet/keepalive';
import { RedisConnection } from '@sipfleet/redis';
import {
  type RedisServer,
  redisCli,
  startRedis,
  uniquePrefix,
} from '@sipfleet/test-helpers/redis-server';

function json<T>(run: Run): T {
  assert.equal(run.code, 0, `exit ${run.code}: ${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}

const LIST = `# gateways
1 sip:10.0.0.1:5060 0 0 duid=gw1;maxload=20;region=eu
1 sip:10.0.0.2:5060 8 5 weight=50;rweight=10;socket=udp:192.168.0.125:5060;ping_from=sip:ka@edge Main gateway
1 sip:10.0.0.3 0 5
1 sip:10.0.0.4:5080 0 0 duid=gw4
2 sip:gw.example.com 0 0
`;

let redis: RedisServer;
const dirs: string[] = [];

before(async () => {
  redis = await startRedis();
});

after(async () => {
  await redis.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempFile(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'sipfleet-ctl-ds-'));
  dirs.push(dir);
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

type TestContext = { after(fn: () => Promise<void> | void): void };

/** A fresh prefix, the options that point ctl at it, and helpers on the same prefix. */
function scope(t: TestContext) {
  const prefix = uniquePrefix();
  const opts = ['--redis-url', redis.url, '--prefix', prefix];
  return {
    prefix,
    opts,
    ds: (...args: string[]) => ctl([...opts, 'dispatcher', ...args]),
    cli: (...args: string[]) => redisCli(redis.port, ...args),
    /** A connection of our own, as an edge or the prober would hold. */
    async connect(): Promise<RedisConnection> {
      const conn = new RedisConnection({ redis: redis.url, keyPrefix: prefix });
      t.after(() => conn.close());
      await conn.waitUntilReady();
      return conn;
    },
    /** What an edge holds: a view on its own connection. */
    async edge(): Promise<DispatcherView> {
      const view = await DispatcherView.open(await this.connect(), { reconcileIntervalMs: 0 });
      t.after(() => view.close());
      return view;
    },
    /** The list loaded by ctl itself. */
    async loaded(text = LIST): Promise<void> {
      const run = await this.ds('reload', '--file', tempFile('dispatcher.list', text));
      assert.equal(run.code, 0, run.stderr);
    },
  };
}

interface ListJson {
  version: number;
  sets: {
    setid: number;
    destinations: {
      uri: string;
      flags: number;
      flagsText: string;
      priority: number;
      attrsText: string;
      attrs: Record<string, unknown>;
      description: string | null;
      load: number;
      latency: {
        estimate: number;
        average: number;
        samples: number;
        std: number;
        max: number;
        timeouts: number;
      } | null;
    }[];
  }[];
}

/** Waits (no deadline assertion beyond a generous bound) until `check` holds. */
async function eventually(what: string, check: () => boolean): Promise<void> {
  const until = Date.now() + 20_000;
  while (!check()) {
    if (Date.now() > until) assert.fail(`never happened: ${what}`);
    await sleep(5);
  }
}

function destination(list: ListJson, setid: number, uri: string) {
  const dst = list.sets.find((s) => s.setid === setid)?.destinations.find((d) => d.uri === uri);
  assert.ok(dst, `set ${setid} ${uri} listed`);
  return dst;
}

describe('sipfleet ctl dispatcher', () => {
  test('reload --file loads the list fleet-wide; an edge reads the same sets', async (t) => {
    const s = scope(t);
    const file = tempFile('dispatcher.list', LIST);
    const run = await s.ds('reload', '--file', file);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(
      run.stdout,
      `loaded ${file}: 2 sets, 5 destinations (list version 1); states restart from the file's flags\n`,
    );
    const view = await s.edge();
    assert.deepEqual(
      [...view.snapshot.sets.values()].map((set) => [set.id, set.destinations.map((d) => d.uri)]),
      [
        // Kamailio's order: priority descending, ties in reverse file order.
        [1, ['sip:10.0.0.3', 'sip:10.0.0.2:5060', 'sip:10.0.0.4:5080', 'sip:10.0.0.1:5060']],
        [2, ['sip:gw.example.com']],
      ],
    );

    // A second reload replaces the list (set 2 goes) and the edge re-reads it.
    const reread = once(view, 'reload');
    const next = tempFile('d.list', '3 sip:10.9.9.9 0 0\n');
    assert.deepEqual(json(await s.ds('reload', '--file', next, '--json')), {
      file: next,
      version: 2,
      sets: 1,
      destinations: 1,
    });
    await reread;
    assert.deepEqual([...view.snapshot.sets.keys()], [3]);
  });

  test('a bad file exits 78 naming every bad line, and changes nothing', async (t) => {
    const s = scope(t);
    await s.loaded();
    const bad = tempFile(
      'bad.list',
      '1 sip:a.example.com 0 0\n# comment\n1 sip:b.example.com x 0\n2 sip:c.example.com 0 0 weight=150\n',
    );
    const run = await s.ds('reload', '--file', bad);
    assert.equal(run.code, 78);
    assert.equal(run.stdout, '');
    assert.equal(
      run.stderr,
      `sipfleet ctl: ${bad}: line 3: flags must be an integer bit set 0-63, got 'x'; ` +
        `line 4: weight must be an integer 0-100, got '150' (nothing loaded)\n`,
    );
    const missing = await s.ds('reload', '--file', join(tmpdir(), 'sipfleet-no-such-dir', 'x'));
    assert.equal(missing.code, 78);
    assert.match(missing.stderr, /^sipfleet ctl: cannot read .*ENOENT/);
    const empty = await s.ds('reload', '--file', tempFile('empty.list', '# nothing\n'));
    assert.equal(empty.code, 78);
    assert.match(empty.stderr, /lists no destinations/);
    // Still the first list, version 1.
    const list = json<ListJson>(await s.ds('list', '--json'));
    assert.equal(list.version, 1);
    assert.deepEqual(
      list.sets.map((set) => set.setid),
      [1, 2],
    );
    const usage = await s.ds('reload');
    assert.equal(usage.code, 2);
    assert.match(
      usage.stderr,
      /reload needs --file FILE, or --config FILE with dispatcher.listFile/,
    );
  });

  test('reload --config uses the edge config dispatcher.listFile (relative to the config)', async (t) => {
    const s = scope(t);
    const dir = mkdtempSync(join(tmpdir(), 'sipfleet-ctl-ds-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'gw.list'), '7 sip:10.7.7.7 0 0\n');
    const config = join(dir, 'edge.yaml');
    writeFileSync(
      config,
      `redis: { url: "${redis.url}", prefix: ${s.prefix} }\ndispatcher: { listFile: gw.list }\n`,
    );
    const run = await ctl(['dispatcher', 'reload', '--config', config]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /gw\.list: 1 set, 1 destination \(list version 1\)/);
    const list = json<ListJson>(await s.ds('list', '7', '--json'));
    assert.equal(destination(list, 7, 'sip:10.7.7.7').flagsText, 'AX');
  });

  test('list: text like kamctl dispatcher dump, --json with attrs, load and latency (est, avg, std, max, timeouts)', async (t) => {
    const s = scope(t);
    await s.loaded();
    // One live call on gw1's load key (alg 10 as an edge reserves it) and a latency estimate in
    // the prober's format.
    const view = await s.edge();
    const reserved = await view.callLoad.reserve(1, 'call-1@test');
    assert.equal(reserved.ok && reserved.uri, 'sip:10.0.0.3');
    const second = await view.callLoad.reserve(1, 'call-2@test');
    assert.equal(second.ok && second.uri, 'sip:10.0.0.2:5060');
    await s.cli(
      'HSET',
      `${s.prefix}:{ds:1}:latency`,
      'sip:10.0.0.2:5060',
      '12.5 10.25 40 1.5 31 2 90',
    );

    const text = await s.ds('list');
    assert.equal(text.code, 0, text.stderr);
    const lines = text.stdout.split('\n');
    // Exact cells; columns are padded to the widest cell, at least two spaces apart.
    assert.deepEqual(lines[0]?.split(/ {2,}/), [
      'SET',
      'URI',
      'FLAGS',
      'PRIORITY',
      'LOAD',
      'LATENCY',
      'ATTRS',
      'DESCRIPTION',
    ]);
    const rows = lines.slice(1, -2).map((l) => l.split(/ {2,}/));
    assert.deepEqual(rows, [
      ['1', 'sip:10.0.0.3', 'AX', '5', '1', '-', '-'],
      [
        '1',
        'sip:10.0.0.2:5060',
        'AP',
        '5',
        '1',
        '12.5 ms (avg 10.3, std 1.5, max 31.0, 2 timeouts)',
        'weight=50;rweight=10;socket=udp:192.168.0.125:5060;ping_from=sip:ka@edge',
        'Main gateway',
      ],
      ['1', 'sip:10.0.0.4:5080', 'AX', '0', '0', '-', 'duid=gw4'],
      ['1', 'sip:10.0.0.1:5060', 'AX', '0', '0', '-', 'duid=gw1;maxload=20;region=eu'],
      ['2', 'sip:gw.example.com', 'AX', '0', '0', '-', '-'],
    ]);
    assert.equal(lines.at(-2), '2 sets, 5 destinations (list version 1)');
    assert.equal(lines.at(-1), '');

    const list = json<ListJson>(await s.ds('list', '--json'));
    assert.equal(list.version, 1);
    assert.deepEqual(destination(list, 1, 'sip:10.0.0.2:5060'), {
      uri: 'sip:10.0.0.2:5060',
      flags: 8,
      flagsText: 'AP',
      priority: 5,
      attrsText: 'weight=50;rweight=10;socket=udp:192.168.0.125:5060;ping_from=sip:ka@edge',
      attrs: {
        weight: 50,
        rweight: 10,
        socket: 'udp:192.168.0.125:5060',
        ping_from: 'sip:ka@edge',
        extra: {},
      },
      description: 'Main gateway',
      load: 1,
      latency: { estimate: 12.5, average: 10.25, samples: 40, std: 1.5, max: 31, timeouts: 2 },
    });
    assert.deepEqual(destination(list, 1, 'sip:10.0.0.1:5060').attrs, {
      duid: 'gw1',
      maxload: 20,
      extra: { region: 'eu' },
    });
    // The same numbers as the package's own dispatcher.list.
    const fleet = await new DispatcherFleet(await s.connect()).list();
    assert.deepEqual(
      list.sets.map((set) => set.destinations.map((d) => [d.uri, d.flagsText, d.load])),
      fleet.map((set) => set.destinations.map((d) => [d.uri, d.flagsText, d.load])),
    );

    const one = await s.ds('list', '2');
    assert.equal(one.code, 0);
    assert.match(one.stdout, /^SET .*\n2 +sip:gw\.example\.com +AX .*\n1 set, 1 destination/);
    const none = await s.ds('list', '9', '--json');
    assert.equal(none.code, 3);
    assert.deepEqual(JSON.parse(none.stdout), { version: 1, sets: [] });
  });

  test('list on an empty Redis says how to load one', async (t) => {
    const s = scope(t);
    const run = await s.ds('list');
    assert.equal(run.code, 0, run.stderr);
    assert.equal(
      run.stdout,
      "no dispatcher list in Redis (load one: 'sipfleet ctl dispatcher reload --file FILE')\n",
    );
  });

  test('set-state changes the letters and an edge sees the new flags', async (t) => {
    const s = scope(t);
    await s.loaded();
    const view = await s.edge();
    const flagsAtEdge = (uri: string) =>
      formatFlags(view.snapshot.sets.get(1)?.destinations.find((d) => d.uri === uri)?.flags ?? -1);
    assert.equal(flagsAtEdge('sip:10.0.0.1:5060'), 'AX');

    const down = once(view, 'dst-down');
    const run = await s.ds('set-state', 'ip', '1', 'sip:10.0.0.1:5060');
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'set 1 sip:10.0.0.1:5060: AX -> IP (dst-down published)\n');
    const [event] = await down;
    assert.equal(event.reason, 'ctl');
    assert.equal(flagsAtEdge('sip:10.0.0.1:5060'), 'IP');
    assert.equal(
      destination(json<ListJson>(await s.ds('list', '--json')), 1, 'sip:10.0.0.1:5060').flagsText,
      'IP',
    );

    // Disabled (d), trying (t), probing kept or dropped exactly as dispatcher.set_state sets it.
    const cases: [string, string, string][] = [
      ['d', 'sip:10.0.0.3', 'DX'],
      ['tp', 'sip:10.0.0.3', 'TP'],
      ['a', 'sip:10.0.0.2:5060', 'AX'],
      ['2', 'sip:10.0.0.4:5080', 'DX'],
    ];
    for (const [state, uri, letters] of cases) {
      const changed = once(
        view,
        state === 'a' ? 'dst-state' : state === 'tp' ? 'dst-up' : 'dst-down',
      );
      const r = json<{ new: { flagsText: string }; changed: boolean }>(
        await s.ds('set-state', state, '1', uri, '--json', '--reason', 'maintenance window'),
      );
      assert.equal(r.new.flagsText, letters, `${state} on ${uri}`);
      assert.equal(r.changed, true);
      const [e] = await changed;
      assert.equal(e.reason, 'maintenance window');
      assert.equal(flagsAtEdge(uri), letters);
    }

    // Unchanged: nothing published, said so.
    const same = await s.ds('set-state', 'd', '1', 'sip:10.0.0.4:5080');
    assert.equal(same.stdout, 'set 1 sip:10.0.0.4:5080: DX (unchanged)\n');

    // `all`: every destination of the set (10.0.0.2 is already active: unchanged, no event).
    const all = json<{ changes: { uri: string; changed: boolean; new: { flagsText: string } }[] }>(
      await s.ds('set-state', 'a', '1', 'all', '--json'),
    );
    assert.deepEqual(
      all.changes.map((c) => [c.uri, c.new.flagsText, c.changed]),
      [
        ['sip:10.0.0.3', 'AX', true],
        ['sip:10.0.0.2:5060', 'AX', false],
        ['sip:10.0.0.4:5080', 'AX', true],
        ['sip:10.0.0.1:5060', 'AX', true],
      ],
    );
    await eventually('the edge sees every destination active', () =>
      all.changes.every((c) => flagsAtEdge(c.uri) === 'AX'),
    );

    const bad = await s.ds('set-state', 'p', '1', 'sip:10.0.0.3');
    assert.equal(bad.code, 2);
    assert.match(
      bad.stderr,
      /^sipfleet ctl: dispatcher state 'p' must start with a, i, d, t or 0-3\n/,
    );
    const unknown = await s.ds('set-state', 'i', '1', 'sip:10.9.9.9');
    assert.equal(unknown.code, 3);
    assert.equal(unknown.stderr, 'sipfleet ctl: no destination sip:10.9.9.9 in dispatcher set 1\n');
  });

  test('add and remove: the edge re-reads, attrs and description kept', async (t) => {
    const s = scope(t);
    await s.loaded();
    const view = await s.edge();
    const added = once(view, 'reload');
    const run = await s.ds(
      'add',
      '1',
      'sip:10.0.0.9:5070',
      '--flags',
      '8',
      '--priority',
      '-3',
      '--attrs',
      'duid=gw9;maxload=5;zone=b',
      '--description',
      'spare box',
    );
    assert.equal(run.code, 0, run.stderr);
    assert.equal(
      run.stdout,
      'added sip:10.0.0.9:5070 to set 1 (AP, priority -3, duid=gw9;maxload=5;zone=b; list version 2)\n',
    );
    await added;
    const dst = view.snapshot.sets.get(1)?.destinations.at(-1);
    assert.equal(dst?.uri, 'sip:10.0.0.9:5070');
    assert.equal(dst?.priority, -3);
    assert.equal(dst?.attrs.duid, 'gw9');
    assert.equal(dst?.attrs.extra.get('zone'), 'b');
    assert.equal(dst?.description, 'spare box');

    // Same URI again: replaced in place.
    const replaced = json<{ replaced: boolean; destination: { attrsText: string } }>(
      await s.ds('add', '1', 'sip:10.0.0.9:5070', '--attrs', 'duid=gw9', '--json'),
    );
    assert.equal(replaced.replaced, true);
    assert.equal(replaced.destination.attrsText, 'duid=gw9');

    const bad = await s.ds('add', '1', 'sip:10.0.0.8', '--attrs', 'weight=300');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^sipfleet ctl: weight must be an integer 0-100, got '300'\n/);
    const badFlags = await s.ds('add', '1', 'sip:10.0.0.8', '--flags', '64');
    assert.equal(badFlags.code, 2);
    assert.match(badFlags.stderr, /--flags takes an integer 0-63/);

    const gone = once(view, 'reload');
    const removed = await s.ds('remove', '1', 'sip:10.0.0.9:5070');
    assert.equal(removed.code, 0, removed.stderr);
    assert.equal(removed.stdout, 'removed sip:10.0.0.9:5070 from set 1\n');
    await gone;
    assert.equal(
      view.snapshot.sets.get(1)?.destinations.some((d) => d.uri === 'sip:10.0.0.9:5070'),
      false,
    );
    const again = await s.ds('remove', '1', 'sip:10.0.0.9:5070', '--json');
    assert.equal(again.code, 3);
    assert.deepEqual(JSON.parse(again.stdout), {
      setid: 1,
      uri: 'sip:10.0.0.9:5070',
      removed: false,
    });
  });

  test('hash answers exactly what an edge selects, for algorithms 0, 1, 2, 3, 5 and 7', async (t) => {
    const s = scope(t);
    await s.loaded();
    const view = await s.edge();
    const keys: [number, string, (key: string) => CallInput][] = [
      [0, '--callid', (k) => ({ callId: k })],
      [1, '--from', (k) => ({ fromUri: k })],
      [2, '--to', (k) => ({ toUri: k })],
      [3, '--ruri', (k) => ({ ruri: k })],
      [5, '--auth', (k) => ({ authUser: k })],
      [7, '--value', (k) => ({ hashValue: k })],
    ];
    // Two keys per algorithm per round: each answer is a CLI start, and the machine is shared.
    const inputs = (alg: number, round: number) =>
      (alg >= 1 && alg <= 3
        ? [
            'sip:alice@example.com',
            'sip:bob@10.1.1.1:5070',
            'sips:carol@example.org',
            'sip:+49301@gw',
          ]
        : ['a84b4c76e66710@pc33.atlanta.com', 'alice', '1234@x', 'f81d4fae-7dec']
      ).slice(2 * round, 2 * round + 2);

    interface HashJson {
      selected: { uri: string; index: number } | null;
      candidates: { uri: string; index: number }[];
      hash: number | null;
      index: number | null;
    }
    /** Compares every answer with the edge's; returns how many hashes landed on a skipped one. */
    const check = async (round: number, limit: number) => {
      let skipped = 0;
      for (const [alg, option, input] of keys) {
        for (const key of inputs(alg, round)) {
          const answer = json<HashJson>(
            await s.ds(
              'hash',
              '--alg',
              String(alg),
              '--set',
              '1',
              option,
              key,
              '--limit',
              String(limit),
              '--json',
            ),
          );
          const edge = await view.selectDestinations(1, alg, input(key), { limit });
          assert.deepEqual(
            answer.candidates.map((c) => [c.uri, c.index]),
            edge.candidates.map((c) => [c.destination.uri, c.index]),
            `alg ${alg} ${key}`,
          );
          assert.equal(answer.selected?.uri, edge.candidates[0]?.destination.uri);
          if (answer.selected?.index !== answer.index) skipped++;
        }
      }
      return skipped;
    };
    assert.equal(await check(0, 0), 0);
    // Two destinations down: hashes that land on them move on, as on the edge.
    const down = once(view, 'dst-down');
    await s.ds('set-state', 'i', '1', 'sip:10.0.0.3');
    await down;
    const down2 = once(view, 'dst-down');
    await s.ds('set-state', 'd', '1', 'sip:10.0.0.4:5080');
    await down2;
    // Some of these keys hash onto the two that are down, so the skip rule is compared too.
    assert.ok((await check(1, 2)) > 0);

    // The human answer explains the skip.
    const human = await s.ds('hash', '--alg', '0', '--set', '1', '--callid', 'alice');
    assert.equal(human.code, 0, human.stderr);
    const j = json<HashJson>(
      await s.ds('hash', '--alg', '0', '--set', '1', '--callid', 'alice', '--json'),
    );
    assert.match(
      human.stdout,
      new RegExp(
        `^set 1, alg 0 \\(Call-ID hash\\) of "alice": hash ${j.hash} -> index ${j.index} of 4\n`,
      ),
    );
    assert.match(
      human.stdout,
      new RegExp(`selected: ${j.selected?.uri.replace(/\./g, '\\.')} \\(A[XP]\\)\n`),
    );
  });

  test('hash: defaults from --config routing.dispatcher; usage and not-found errors', async (t) => {
    const s = scope(t);
    await s.loaded();
    const view = await s.edge();
    const config = tempFile(
      'edge.yaml',
      `redis: { url: "${redis.url}", prefix: ${s.prefix} }\nrouting:\n  dispatcher: { set: 1, algorithm: 0, limit: 2 }\n`,
    );
    const answer = json<{ alg: number; setid: number; candidates: { uri: string }[] }>(
      await ctl(['dispatcher', 'hash', '--config', config, '--callid', 'xyz@host', '--json']),
    );
    const edge = await view.selectDestinations(1, 0, { callId: 'xyz@host' }, { limit: 2 });
    assert.equal(answer.alg, 0);
    assert.equal(answer.setid, 1);
    assert.deepEqual(
      answer.candidates.map((c) => c.uri),
      edge.candidates.map((c) => c.destination.uri),
    );
    assert.equal(answer.candidates.length, 2);

    const rr = await s.ds('hash', '--alg', '4', '--set', '1', '--callid', 'x');
    assert.equal(rr.code, 2);
    assert.match(rr.stderr, /algorithm 4 does not hash a key/);
    const wrongKey = await s.ds('hash', '--alg', '1', '--set', '1', '--callid', 'x');
    assert.equal(wrongKey.code, 2);
    assert.match(wrongKey.stderr, /algorithm 1 hashes the From URI: give --from/);
    const emptyAuth = await s.ds('hash', '--alg', '5', '--set', '1', '--auth', ' ');
    assert.equal(emptyAuth.code, 2);
    const noSet = await s.ds('hash', '--alg', '0', '--set', '9', '--callid', 'x');
    assert.equal(noSet.code, 3);
    assert.equal(noSet.stderr, 'sipfleet ctl: dispatcher set 9 does not exist\n');

    // Every destination down: the answer is "none", exit 3, as the edge's 404.
    await s.ds('set-state', 'i', '2', 'all');
    const none = await s.ds('hash', '--alg', '0', '--set', '2', '--callid', 'x', '--json');
    assert.equal(none.code, 3);
    const body = JSON.parse(none.stdout) as { selected: unknown; failure: { reason: string } };
    assert.equal(body.selected, null);
    assert.equal(body.failure.reason, 'no-active-destination');
  });

  test('ping-active on|off|status round trip, shared with the prober and redis-cli', async (t) => {
    const s = scope(t);
    const conn = await s.connect();
    const key = `${s.prefix}:{ds}:ping-active`;
    const status = await s.ds('ping-active', 'status');
    assert.equal(status.stdout, 'ping-active: on (not set: on by default)\n');

    const off = await s.ds('ping-active', 'off');
    assert.equal(off.code, 0, off.stderr);
    assert.equal(off.stdout, 'ping-active: off (probers skip every ping, probe-now included)\n');
    assert.equal(await s.cli('GET', key), '0\n');
    assert.equal(await getPingActive(conn), false);
    assert.deepEqual(json(await s.ds('ping-active', 'status', '--json')), {
      active: false,
      value: '0',
    });

    assert.deepEqual(json(await s.ds('ping-active', 'on', '--json')), { active: true, value: '1' });
    assert.equal(await getPingActive(conn), true);

    // An operator's redis-cli SET is what status reads.
    await s.cli('SET', key, '0');
    assert.equal((await s.ds('ping-active', 'status')).stdout.startsWith('ping-active: off'), true);

    const bad = await s.ds('ping-active', 'maybe');
    assert.equal(bad.code, 2);
  });

  test('docs/cli.md: each redis-cli line marked with a dispatcher command does what ctl does', async (t) => {
    const doc = readFileSync(new URL('../../../docs/cli.md', import.meta.url), 'utf8');
    const pairs = doc
      .split('\n')
      .map((line) => /^redis-cli (.+?)\s+# sipfleet ctl (dispatcher .+)$/.exec(line))
      .filter((m) => m !== null)
      .map((m) => ({
        redisCli: (m[1] ?? '').replace(/'/g, '').split(/\s+/),
        ctl: (m[2] ?? '').split(/\s+/),
      }));
    assert.ok(pairs.length >= 2, 'docs/cli.md lists redis-cli equivalents for dispatcher');
    const viaCli = scope(t);
    const viaCtl = scope(t);
    const cliConn = await viaCli.connect();
    for (const pair of pairs) {
      const args = pair.redisCli.map((a) => a.replace(/^sipfleet:/, `${viaCli.prefix}:`));
      await viaCli.cli(...args);
      const run = await viaCtl.ds(...pair.ctl.slice(1));
      assert.equal(run.code, 0, run.stderr);
      const key = (prefix: string) => `${prefix}:{ds}:ping-active`;
      assert.equal(
        await viaCli.cli('GET', key(viaCli.prefix)),
        await viaCtl.cli('GET', key(viaCtl.prefix)),
      );
      // What the prober reads (getPingActive) agrees with ctl's own status.
      const status = json<{ active: boolean }>(await viaCtl.ds('ping-active', 'status', '--json'));
      assert.equal(await getPingActive(cliConn), status.active, pair.ctl.join(' '));
    }
  });

  test('probe queues a probe-now job for the prober; unknown destinations exit 3', async (t) => {
    const s = scope(t);
    await s.loaded();
    const conn = await s.connect();
    const run = await s.ds('probe', '1', 'SIP:10.0.0.1:5060');
    assert.equal(run.code, 0, run.stderr);
    assert.equal(
      run.stdout,
      "probe of sip:10.0.0.1:5060 in set 1 queued: a prober pings it now ('dispatcher list' shows the result)\n",
    );
    const bull = bullConnection(conn.target, 'ctl-test');
    const queue = new Queue(PROBE_QUEUE, {
      connection: bull.connection,
      prefix: conn.keys.probeQueue(),
    });
    t.after(async () => {
      await queue.close();
      await bull.close();
    });
    const jobs = await queue.getJobs(['wait']);
    assert.deepEqual(
      jobs.map((j) => j.data as unknown),
      [{ k: 'now', setid: 1, uri: 'sip:10.0.0.1:5060' }],
    );

    await s.ds('ping-active', 'off');
    const noted = await s.ds('probe', '1', 'sip:10.0.0.1:5060');
    assert.match(noted.stdout, /note: ping-active is off/);

    const unknown = await s.ds('probe', '1', 'sip:10.9.9.9');
    assert.equal(unknown.code, 3);
    assert.equal(unknown.stderr, 'sipfleet ctl: no destination sip:10.9.9.9 in dispatcher set 1\n');
    assert.equal((await queue.getJobs(['wait'])).length, 2);
  });

  test('options belong to their commands; unknown commands are usage errors', async (t) => {
    const s = scope(t);
    const misplaced = await s.ds('list', '--file', 'x');
    assert.equal(misplaced.code, 2);
    assert.match(misplaced.stderr, /^sipfleet ctl: --file goes with reload only\n/);
    const unknown = await s.ds('frobnicate');
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown dispatcher command 'frobnicate'/);
    const help = await s.ds('--help');
    assert.equal(help.code, 0);
    assert.match(help.stdout, /set-state STATE SET URI\|all/);
    const badSet = await s.ds('remove', 'x', 'sip:a');
    assert.equal(badSet.code, 2);
    assert.match(badSet.stderr, /SET must be a set id/);
  });
});
