// Fleet membership on a real redis-server (standalone and Cluster): records heartbeat with a TTL,
// listMembers sees the live ones, and when a member stops (cleanly, or its process is killed)
// another member's heartbeat reclaims the unanswered call-load slots it had reserved, leaving its
// answered calls and every other edge's slots alone.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { RedisConnection } from '@sipfleet/redis';
import {
  uniquePrefix,
  REDIS_BACKENDS,
  type RedisBackend,
} from '@sipfleet/test-helpers/redis-server';
import {
  CallLoad,
  DispatcherFleet,
  FleetMembership,
  type FleetMembershipOptions,
  listMembers,
} from '../src/index.js';

type TestContext = { after(fn: () => Promise<void> | void): void };

const HEARTBEAT_MS = 100;
const TTL_MS = 300;

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function total(loads: Map<string, number>): number {
  return [...loads.values()].reduce((a, b) => a + b, 0);
}

for (const [name, start] of REDIS_BACKENDS) {
  describe(`fleet membership on ${name}`, () => {
    let backend: RedisBackend;
    before(async () => (backend = await start()));
    after(() => backend.close());

    async function connect(t: TestContext, prefix: string): Promise<RedisConnection> {
      const conn = new RedisConnection({ redis: backend.url, keyPrefix: prefix });
      t.after(() => conn.close());
      await conn.waitUntilReady();
      return conn;
    }

    function member(
      t: TestContext,
      conn: RedisConnection,
      nodeId: string,
      extra: Partial<FleetMembershipOptions> = {},
    ): FleetMembership {
      const m = FleetMembership.start(conn, {
        nodeId,
        version: '1.2.3',
        sip: [`udp:127.0.0.1:50${nodeId.length}`],
        admin: '127.0.0.1:9060',
        stats: () => ({ callsInFlight: 7, maintenance: null }),
        heartbeatMs: HEARTBEAT_MS,
        ttlMs: TTL_MS,
        ...extra,
      });
      t.after(() => m.stop());
      return m;
    }

    test('live members are listed with their record; a stopped one disappears at once', async (t) => {
      const prefix = uniquePrefix();
      const admin = await connect(t, prefix);
      const a = member(t, await connect(t, prefix), 'edge-a');
      const b = member(t, await connect(t, prefix), 'edge-b', {
        stats: () => ({ callsInFlight: 0, maintenance: 'draining' }),
      });
      await until('both listed', async () => (await listMembers(admin)).length === 2);
      const [ra, rb] = await listMembers(admin);
      assert.equal(ra?.nodeId, 'edge-a');
      assert.equal(ra?.instance, a.instance);
      assert.equal(ra?.version, '1.2.3');
      assert.deepEqual(ra?.sip, ['udp:127.0.0.1:506']);
      assert.equal(ra?.callsInFlight, 7);
      assert.equal(ra?.maintenance, null);
      assert.equal(rb?.maintenance, 'draining');
      assert.ok(a.instance.startsWith('edge-a.'));
      await b.stop();
      assert.deepEqual(
        (await listMembers(admin)).map((m) => m.nodeId),
        ['edge-a'],
      );
    });

    test('a stopped member: its unanswered slots are reclaimed by the next heartbeat of another', async (t) => {
      const prefix = uniquePrefix();
      const admin = await connect(t, prefix);
      await new DispatcherFleet(admin).load('1 sip:10.0.0.1 0 0\n1 sip:10.0.0.2 0 0\n');
      const connA = await connect(t, prefix);
      const loadA = new CallLoad(connA);
      const a = member(t, connA, 'edge-a', { callLoad: loadA });
      const loadB = new CallLoad(await connect(t, prefix));
      const reclaimed: [string, number][] = [];
      member(t, await connect(t, prefix), 'edge-b', {
        callLoad: loadB,
        onReclaim: (instance, slots) => reclaimed.push([instance, slots]),
      });
      await until('both listed', async () => (await listMembers(admin)).length === 2);
      for (let i = 0; i < 6; i++) assert.ok((await loadA.reserve(1, `a-${i}`)).ok);
      for (let i = 0; i < 2; i++) assert.ok(await loadA.confirm(1, `a-${i}`));
      for (let i = 0; i < 3; i++) assert.ok((await loadB.reserve(1, `b-${i}`)).ok);
      assert.equal(total(await loadB.loads(1)), 9);
      await a.stop();
      await until('A reclaimed', () => reclaimed.length > 0);
      assert.deepEqual(reclaimed, [[a.instance, 4]]);
      assert.equal(total(await loadB.loads(1)), 5, "A's 2 answered calls and B's 3 stay");
      // The answered ones still end with their BYE, on any edge.
      assert.ok(await loadB.release(1, 'a-0'));
      assert.deepEqual(await loadB.reconcile(1), { purged: 0, live: 4, corrected: 0 });
    });

    test('kill -9 of a member with ringing calls: another member reclaims its slots (bound: ttl + heartbeat, printed)', async (t) => {
      const prefix = uniquePrefix();
      const admin = await connect(t, prefix);
      await new DispatcherFleet(admin).load('1 sip:10.0.0.1 0 0\n1 sip:10.0.0.2 0 0\n');
      const loadB = new CallLoad(await connect(t, prefix));
      const reclaimed: number[] = [];
      member(t, await connect(t, prefix), 'edge-b', {
        callLoad: loadB,
        onReclaim: (_instance, slots) => reclaimed.push(slots),
      });
      const fixture = fileURLToPath(new URL('./fixtures/ringing-member.mjs', import.meta.url));
      const child = spawn(
        process.execPath,
        [fixture, backend.url, prefix, '8', String(HEARTBEAT_MS), String(TTL_MS)],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      t.after(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      await until('the child reserved 8 slots', () => out.includes('ringing 8'));
      assert.equal(total(await loadB.loads(1)), 8);
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
      const killedAt = Date.now();
      // The reclaim's reply (onReclaim) and the test's own read come back on different
      // connections: wait for both.
      await until(
        'its slots are back',
        async () => reclaimed.length > 0 && total(await loadB.loads(1)) === 0,
      );
      const took = Date.now() - killedAt;
      t.diagnostic(`reclaimed ${reclaimed.join(',')} slots ${took} ms after kill -9`);
      assert.deepEqual(reclaimed, [8]);
    });
  });
}
