// The Redis half on a real redis-server: blocks published by one process reach another's filter,
// plain redis-cli writes reach both, and a Redis outage leaves local blocking working, with the
// blocks decided meanwhile published once Redis is back.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { RedisConnection, type SipfleetRedisError } from '@sipfleet/redis';
import {
  redisCli,
  startRedis,
  uniquePrefix,
  type RedisServer,
} from '@sipfleet/test-helpers/redis-server';
import {
  SecfilterError,
  SecfilterMirror,
  SecfilterStore,
  SourceFilter,
  type SecfilterList,
} from '../src/index.js';

async function eventually(what: string, check: () => boolean): Promise<void> {
  const until = Date.now() + 20_000;
  while (!check()) {
    if (Date.now() > until) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

let server: RedisServer;

before(async () => {
  server = await startRedis();
});

after(async () => {
  await server.stop();
});

interface Node {
  filter: SourceFilter;
  mirror: SecfilterMirror;
  malformed: [SecfilterList, string[]][];
  errors: SipfleetRedisError[];
}

/** A filter and its mirror, opened (waits for Redis) or started (`start`: returns at once). */
async function node(
  t: { after: (fn: () => Promise<void>) => void },
  prefix: string,
  { redis = server, start = false }: { redis?: RedisServer; start?: boolean } = {},
): Promise<Node> {
  const conn = new RedisConnection({ redis: redis.url, keyPrefix: prefix, maxRetryDelayMs: 200 });
  t.after(() => conn.close());
  const malformed: Node['malformed'] = [];
  const errors: SipfleetRedisError[] = [];
  // The filter reports blocks to the mirror, which is made with the filter.
  const late: { mirror?: SecfilterMirror } = {};
  const filter = new SourceFilter({
    reqsDensityPerUnit: 5,
    banMs: 60_000,
    onBlock: (address, banMs, reason) => void late.mirror?.publishBlock(address, banMs, reason),
  });
  const options = {
    onError: (e: SipfleetRedisError) => errors.push(e),
    onMalformed: (list: SecfilterList, entries: string[]) => malformed.push([list, entries]),
  };
  const mirror = start
    ? SecfilterMirror.start(conn, filter, options)
    : await SecfilterMirror.open(conn, filter, options);
  late.mirror = mirror;
  t.after(() => mirror.close());
  return { filter, mirror, malformed, errors };
}

const flood = (filter: SourceFilter, address: string) => {
  for (let i = 0; i < 10; i++) filter.admit(address, true);
};

describe('SecfilterMirror', () => {
  test('a block one process decides reaches the other; redis-cli SET/DEL/SADD/SREM reach both', async (t) => {
    const prefix = uniquePrefix();
    const [a, b] = [await node(t, prefix), await node(t, prefix)];
    const cli = (...args: string[]) => redisCli(server.port, ...args);

    flood(a.filter, '203.0.113.9');
    await eventually('b mirrors the block', () => b.filter.blocked().has('203.0.113.9'));
    assert.equal(b.filter.admit('203.0.113.9', false), false, 'b drops its first message');
    assert.equal(await cli('GET', `${prefix}:{sf}:block:203.0.113.9`), 'pike\n');

    await cli('SET', `${prefix}:{sf}:block:198.51.100.7`, 'manual', 'EX', '600');
    await eventually('both mirror a hand-written block', () =>
      [a, b].every((n) => n.filter.blocked().has('198.51.100.7')),
    );
    await cli('DEL', `${prefix}:{sf}:block:203.0.113.9`);
    await eventually('the DEL unblocks everywhere', () =>
      [a, b].every((n) => !n.filter.blocked().has('203.0.113.9')),
    );
    assert.equal(a.filter.admit('203.0.113.9', true), true, 'counting starts afresh');

    await cli('SADD', `${prefix}:{sf}:list:deny-ip`, '192.0.2.0/24', 'bogus');
    await eventually('both drop the denied range', () =>
      [a, b].every((n) => !n.filter.admit('192.0.2.77', false)),
    );
    assert.deepEqual(a.malformed.at(-1), ['deny-ip', ['bogus']]);
    await cli('SADD', `${prefix}:{sf}:list:allow-ip`, '192.0.2.77');
    await eventually('allow-ip wins', () =>
      [a, b].every((n) => n.filter.admit('192.0.2.77', true)),
    );
    await cli('SADD', `${prefix}:{sf}:list:deny-ua`, 'sipvicious');
    await eventually('the deny-ua list arrives', () =>
      b.filter.refuseUserAgent('192.0.2.1', 'SIPVicious 0.3'),
    );
    await eventually('its block reaches a', () => a.filter.blocked().has('192.0.2.1'));

    await cli('FLUSHDB');
    await eventually('FLUSHDB clears both', () =>
      [a, b].every((n) => n.filter.blocked().size === 0 && n.filter.admit('192.0.2.78', false)),
    );
  });

  test('store: ctl-style writes, normalized; blocks listed with their TTL', async (t) => {
    const prefix = uniquePrefix();
    const conn = new RedisConnection({ redis: server.url, keyPrefix: prefix });
    t.after(() => conn.close());
    await conn.waitUntilReady();
    const store = new SecfilterStore(conn);
    assert.equal(await store.add('deny-ip', '10.0.0.0/08'), true);
    assert.equal(await store.add('deny-ip', '10.0.0.0/8'), false, 'already there, normalized');
    await assert.rejects(
      store.add('allow-ip', 'example.com'),
      (e: unknown) => e instanceof SecfilterError && e.code === 'SIPFLEET_ERR_SECFILTER_BAD_ENTRY',
    );
    await assert.rejects(store.block('10.0.0.0/8', 1000, 'manual'), /a range/);
    await store.block('203.0.113.1', 60_000, 'manual');
    await store.block('2001:DB8::1', 0, 'manual');
    const blocks = await store.blocks();
    assert.deepEqual(
      blocks.map((b) => [b.address, b.by, b.expiresInMs === null]),
      [
        ['2001:db8::1', 'manual', true],
        ['203.0.113.1', 'manual', false],
      ],
    );
    assert.ok((blocks[1]?.expiresInMs ?? 0) > 50_000);
    assert.equal(await store.unblock('203.0.113.1'), true);
    assert.equal(await store.unblock('203.0.113.1'), false);
    await redisCli(server.port, 'SADD', `${prefix}:{sf}:list:deny-ip`, 'typo');
    assert.equal(await store.remove('deny-ip', 'typo'), true, 'a malformed entry can be removed');
    assert.deepEqual(await store.members('deny-ip'), ['10.0.0.0/8']);
  });

  test('Redis killed: local blocking goes on; blocks decided meanwhile are published when it is back', async (t) => {
    const own = await startRedis();
    t.after(() => own.stop());
    const prefix = uniquePrefix();
    const { filter, mirror: opened, errors } = await node(t, prefix, { redis: own });
    const transitions: string[] = [];
    opened.on('up', () => transitions.push('up'));
    opened.on('down', () => transitions.push('down'));

    await own.kill();
    await eventually('ready=false', () => !opened.ready);
    flood(filter, '203.0.113.50');
    assert.equal(filter.admit('203.0.113.50', true), false, 'blocked locally without Redis');
    await eventually('the failed publish is reported', () => errors.length > 0);

    await own.restart(); // empty: the block must come from this process
    await eventually('ready again', () => opened.ready);
    assert.deepEqual(transitions.slice(0, 2), ['down', 'up']);
    assert.equal(
      await redisCli(own.port, 'GET', `${prefix}:{sf}:block:203.0.113.50`),
      'pike\n',
      'published after the outage',
    );
    assert.ok(Number(await redisCli(own.port, 'PTTL', `${prefix}:{sf}:block:203.0.113.50`)) > 0);
    assert.equal(filter.admit('203.0.113.50', true), false, 'still blocked');
  });

  test('started while Redis is down: returns at once, blocks locally, catches up when Redis appears', async (t) => {
    const own = await startRedis();
    t.after(() => own.stop());
    await own.kill();
    const prefix = uniquePrefix();
    const { filter, mirror: started } = await node(t, prefix, { redis: own, start: true });
    assert.equal(started.mirror.name, 'secfilter', 'the name /readyz shows');
    assert.equal(started.ready, false);
    flood(filter, '203.0.113.60');
    assert.equal(filter.admit('203.0.113.60', true), false, 'blocked before Redis was ever seen');

    await own.restart();
    await started.mirror.waitUntilReady(20_000);
    assert.equal(
      await redisCli(own.port, 'GET', `${prefix}:{sf}:block:203.0.113.60`),
      'pike\n',
      'published once Redis appeared',
    );
    await redisCli(own.port, 'SADD', `${prefix}:{sf}:list:deny-ip`, '192.0.2.0/24');
    await eventually('the list arrives', () => !filter.admit('192.0.2.5', false));
  });
});
