// `sipfleet ctl fleet list` and the redis-cli lines docs/cli.md gives for it: the built CLI as a
// child process against a real redis-server, with real membership heartbeats from this process.
// Build first: `npx tsc -b services/sipfleet`.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { FleetMembership, type MemberRecord } from '@sipfleet/dispatcher';
import { RedisConnection } from '@sipfleet/redis';
import {
  type RedisServer,
  redisCli,
  startRedis,
  uniquePrefix,
} from '@sipfleet/test-helpers/redis-server';
import { ctl } from './ctl-run.js';

const cliDoc = readFileSync(new URL('../../../docs/cli.md', import.meta.url), 'utf8');

/** The doc's `## fleet` section. */
function fleetSection(): string {
  const start = cliDoc.indexOf('\n## fleet\n');
  assert.ok(start >= 0, 'docs/cli.md has a fleet section');
  return cliDoc.slice(start, cliDoc.indexOf('\n## ', start + 1));
}

let redis: RedisServer;
before(async () => (redis = await startRedis()));
after(() => redis.stop());

async function fleetOf(t: { after(fn: () => Promise<void>): void }, nodes: string[]) {
  const prefix = uniquePrefix();
  const conn = new RedisConnection({ redis: redis.url, keyPrefix: prefix });
  t.after(() => conn.close());
  await conn.waitUntilReady();
  const members = nodes.map((nodeId, i) => {
    const m = FleetMembership.start(conn, {
      nodeId,
      version: '9.9.9',
      sip: [`udp:127.0.0.1:${5060 + i}`, `tcp:127.0.0.1:${5060 + i}`],
      admin: `127.0.0.1:${9060 + i}`,
      stats: () => ({ callsInFlight: 10 * i, maintenance: i === 1 ? 'draining' : null }),
      heartbeatMs: 200,
      ttlMs: 1000,
    });
    t.after(() => m.stop());
    return m;
  });
  const opts = ['--redis-url', redis.url, '--prefix', prefix];
  // Every member has written its first record.
  for (;;) {
    const run = await ctl(['fleet', 'list', '--json', ...opts]);
    if ((JSON.parse(run.stdout) as { edges: unknown[] }).edges.length === nodes.length) break;
    await sleep(50);
  }
  return { prefix, opts, members };
}

describe('sipfleet ctl fleet', () => {
  test('list --json: one record per live edge, sorted by node id', async (t) => {
    const { opts, members } = await fleetOf(t, ['edge-b', 'edge-a']);
    const run = await ctl(['fleet', 'list', '--json', ...opts]);
    assert.equal(run.code, 0, run.stderr);
    const { edges } = JSON.parse(run.stdout) as { edges: MemberRecord[] };
    assert.deepEqual(
      edges.map((e) => [e.nodeId, e.instance, e.version, e.sip, e.admin, e.callsInFlight]),
      [
        ['edge-a', members[1]?.instance, '9.9.9', ['udp:127.0.0.1:5061', 'tcp:127.0.0.1:5061'], '127.0.0.1:9061', 10],
        ['edge-b', members[0]?.instance, '9.9.9', ['udp:127.0.0.1:5060', 'tcp:127.0.0.1:5060'], '127.0.0.1:9060', 0],
      ],
    ); // prettier-ignore
    assert.equal(edges[0]?.maintenance, 'draining');
    // The doc's JSON example has exactly these fields.
    const example = /\$ sipfleet ctl fleet list --json\n(\{[\s\S]*?\n\})\n/.exec(fleetSection());
    assert.ok(example?.[1], 'docs/cli.md shows fleet list --json');
    const documented = (JSON.parse(example[1]) as { edges: object[] }).edges[0] ?? {};
    assert.deepEqual(Object.keys(edges[0] ?? {}).sort(), Object.keys(documented).sort());
  });

  test('list: the columns docs/cli.md shows, one row per edge, then the count', async (t) => {
    const { opts } = await fleetOf(t, ['edge-a', 'edge-b']);
    const run = await ctl(['fleet', 'list', ...opts]);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trimEnd().split('\n');
    const docHeader = /\$ sipfleet ctl fleet list\n(.*)\n/.exec(fleetSection())?.[1];
    assert.deepEqual(lines[0]?.split(/\s+/), docHeader?.split(/\s+/));
    assert.match(
      lines[1] ?? '',
      /^edge-a\s+9\.9\.9\s+udp:127\.0\.0\.1:5060,tcp:127\.0\.0\.1:5060\s+127\.0\.0\.1:9060\s+\d+ s\s+0\s+serving\s+\d+ s ago$/,
    );
    assert.match(lines[2] ?? '', /^edge-b\s.*\s10\s+draining\s/);
    assert.equal(lines[3], '2 edge(s)');
  });

  test('a stopped edge is gone at once; with none left the list says so', async (t) => {
    const { opts, members } = await fleetOf(t, ['edge-a']);
    await members[0]?.stop();
    const run = await ctl(['fleet', 'list', ...opts]);
    assert.equal(run.stdout, 'no live edges (none has heartbeated within its TTL)\n');
    const json = await ctl(['fleet', 'list', '--json', ...opts]);
    assert.deepEqual(JSON.parse(json.stdout), { edges: [] });
  });

  test('docs/cli.md redis-cli lines show what fleet list reads', async (t) => {
    const { prefix, opts, members } = await fleetOf(t, ['edge-a']);
    const instance = members[0]?.instance ?? '';
    const lines = [...fleetSection().matchAll(/^redis-cli (.+?)\s+#/gm)].map((m) => m[1] ?? '');
    assert.equal(lines.length, 2, 'two redis-cli lines');
    const words = (line: string) =>
      [...line.matchAll(/'([^']*)'|(\S+)/g)].map((m) =>
        (m[1] ?? m[2] ?? '').replace(/^sipfleet:/, `${prefix}:`).replace('<instance>', instance),
      );
    const zrange = (await redisCli(redis.port, ...words(lines[0] ?? ''))).trim().split('\n');
    assert.equal(zrange[0], instance);
    assert.ok(Number(zrange[1]) > Date.now() - 5000, 'scored by expiry time in ms');
    const record = JSON.parse(await redisCli(redis.port, ...words(lines[1] ?? ''))) as MemberRecord;
    const listed = JSON.parse((await ctl(['fleet', 'list', '--json', ...opts])).stdout) as {
      edges: MemberRecord[];
    };
    assert.equal(record.instance, listed.edges[0]?.instance);
    assert.equal(record.nodeId, 'edge-a');
  });

  test('misuse exits 2 with the usage', async () => {
    for (const [args, message] of [
      [['fleet'], /missing fleet command \(list\)/],
      [['fleet', 'show'], /unknown fleet command 'show'/],
      [['fleet', 'list', 'extra'], /unexpected argument 'extra'/],
    ] as const) {
      const run = await ctl([...args, '--redis-url', redis.url]);
      assert.equal(run.code, 2, args.join(' '));
      assert.match(run.stderr, message);
      assert.match(run.stderr, /usage: sipfleet ctl fleet list/);
    }
  });
});
