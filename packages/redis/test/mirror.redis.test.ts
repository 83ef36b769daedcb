// The Mirror on a real redis-server: started while Redis is down it neither waits nor throws, it
// catches up when Redis appears, reads again after every reconnect (events may have been missed),
// runs reads single-flight and retries a failed read. TrackedKeys (the Mirror htables and
// secfilter build on): a key changed while a full read runs is re-read after that read, a burst
// of invalidations is re-read in one refetch, and FLUSHDB makes the mirror read everything again.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { redisCli, startRedis, uniquePrefix } from '@sipfleet/test-helpers/redis-server';
import {
  EventBus,
  Mirror,
  RedisConnection,
  SipfleetRedisError,
  TrackedKeys,
} from '../src/index.js';

async function eventually(what: string, check: () => boolean): Promise<void> {
  const until = Date.now() + 20_000;
  while (!check()) {
    if (Date.now() > until) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

interface Events extends Record<string, unknown> {
  counter: { value: number };
}

test('a mirror started while Redis is down catches up, and re-reads after a restart', async (t) => {
  const server = await startRedis();
  t.after(() => server.stop());
  await server.kill();
  const prefix = uniquePrefix();
  const conn = new RedisConnection({ redis: server.url, keyPrefix: prefix, maxRetryDelayMs: 100 });
  t.after(() => conn.close());
  const bus = new EventBus<Events>(conn);
  t.after(() => bus.close());

  // The domain part: a counter read with GET and kept fresh by events on the `counter` channel.
  let value: number | undefined;
  let reads = 0;
  const read = async () => {
    reads++;
    value = Number(await conn.call('GET', `${prefix}:counter`));
  };
  const mirror = new Mirror(conn, {
    name: 'counter',
    feeds: [bus.feed('counter', (e) => (value = e.value))],
    read,
  });
  const transitions: string[] = [];
  mirror.on('up', () => transitions.push('up'));
  mirror.on('down', () => transitions.push('down'));
  const errors: Error[] = [];
  mirror.on('error', (e) => errors.push(e));
  t.after(() => mirror.close());

  assert.equal(mirror.start(), mirror, 'start returns at once');
  assert.equal(mirror.ready, false);
  await assert.rejects(
    mirror.waitUntilReady(200),
    (e: unknown) => e instanceof SipfleetRedisError && e.code === 'SIPFLEET_ERR_REDIS_UNAVAILABLE',
  );
  assert.equal(reads, 0, 'no read is tried while Redis is away');

  await server.restart();
  await mirror.waitUntilReady(20_000);
  assert.equal(value, 0, 'the snapshot was read (nothing there yet)');

  const publisher = new RedisConnection({ redis: server.url, keyPrefix: prefix });
  t.after(() => publisher.close());
  await publisher.waitUntilReady();
  await publisher.call('PUBLISH', publisher.keys.channel('counter'), JSON.stringify({ value: 6 }));
  await eventually('the event applied', () => value === 6);

  // A change whose event nobody hears, then the subscriber connection is cut: once the channel
  // is live again the mirror reads, and finds the change.
  await redisCli(server.port, 'SET', `${prefix}:counter`, '9');
  await redisCli(server.port, 'CLIENT', 'KILL', 'TYPE', 'pubsub');
  await eventually('what was missed is read', () => mirror.ready && value === 9);

  // Redis restarted: out of step while away, in step (a new read) once back.
  const readsBefore = reads;
  await server.kill();
  await eventually('down', () => !mirror.ready);
  await server.restart();
  await eventually('in step again', () => mirror.ready);
  assert.ok(reads > readsBefore, 'read again after the restart');
  assert.deepEqual(transitions.slice(0, 2), ['up', 'down']);
  assert.equal(transitions.at(-1), 'up');
  assert.deepEqual(errors, []);
});

test('reads run single-flight and a failed read is retried', async (t) => {
  const server = await startRedis();
  t.after(() => server.stop());
  const conn = new RedisConnection({ redis: server.url, keyPrefix: uniquePrefix() });
  t.after(() => conn.close());
  await conn.waitUntilReady();
  let running = 0;
  let overlapped = false;
  let reads = 0;
  let failNext = true;
  const mirror = new Mirror(conn, {
    name: 'flaky',
    feeds: [],
    retryDelayMs: 20,
    read: async () => {
      reads++;
      running++;
      if (running > 1) overlapped = true;
      try {
        await conn.call('PING');
        if (failNext) {
          failNext = false;
          throw new SipfleetRedisError('SIPFLEET_ERR_REDIS_COMMAND', 'first read fails');
        }
      } finally {
        running--;
      }
    },
  });
  const errors: Error[] = [];
  mirror.on('error', (e) => errors.push(e));
  t.after(() => mirror.close());
  mirror.start();
  await mirror.waitUntilReady(5000);
  assert.equal(errors.length, 1, 'the failure was reported');
  assert.equal(reads, 2, 'and retried once');

  const before = reads;
  await Promise.all([mirror.resync(), mirror.resync(), mirror.resync()]);
  assert.equal(overlapped, false, 'never two reads at once');
  assert.equal(reads - before, 2, 'three requests during one read add one more pass, not three');
});

/**
 * TrackedKeys over a domain as small as a mirror gets, on its own redis-server: every string key
 * under the tracked prefixes, copied into `copy`. `gate`, when set, holds a full read between its
 * GETs and installing what it read.
 */
async function keyMirror(t: { after: (fn: () => Promise<void>) => void }, prefixes: string[]) {
  const server = await startRedis();
  t.after(() => server.stop());
  const conn = new RedisConnection({ redis: server.url, maxRetryDelayMs: 100 });
  t.after(() => conn.close());
  await conn.waitUntilReady();
  const copy = new Map<string, string>();
  const state = {
    copy,
    reads: 0,
    refetches: [] as { keys: string[]; duringRead: boolean }[],
    reading: false,
    gate: undefined as Promise<void> | undefined,
    /** What `changed` held when the held read installed its snapshot. */
    changedAtInstall: [] as string[],
  };
  const get = async (keys: string[]) =>
    keys.length === 0 ? [] : ((await conn.call('MGET', ...keys)) as (string | null)[]);
  const { mirror, tracker } = new TrackedKeys(conn, {
    name: 'keys',
    prefixes,
    read: async (changed) => {
      state.reading = true;
      try {
        const found = (await Promise.all(prefixes.map((p) => conn.scan(`${p}*`)))).flat();
        const values = await get(found);
        await state.gate;
        state.changedAtInstall = [...changed];
        copy.clear();
        found.forEach((key, n) => {
          const value = values[n];
          if (typeof value === 'string') copy.set(key, value);
        });
        state.reads++;
      } finally {
        state.reading = false;
      }
    },
    refetch: async (changed) => {
      state.refetches.push({ keys: [...changed].sort(), duringRead: state.reading });
      const values = await get(changed);
      changed.forEach((key, n) => {
        const value = values[n];
        if (typeof value === 'string') copy.set(key, value);
        else copy.delete(key);
      });
    },
  });
  t.after(() => mirror.close());
  mirror.start();
  await mirror.waitUntilReady(20_000);
  return { server, state, mirror, tracker };
}

test('a key changed while a full read runs is re-read after that read', async (t) => {
  const prefix = `${uniquePrefix()}:k:`;
  const { server, state, mirror } = await keyMirror(t, [prefix]);
  await redisCli(server.port, 'SET', `${prefix}flag`, 'old');
  await eventually('the key copied', () => state.copy.get(`${prefix}flag`) === 'old');

  // Hold the next full read after its GETs; change the key meanwhile.
  let release = () => {};
  state.gate = new Promise<void>((resolve) => (release = resolve));
  const resync = mirror.resync();
  await eventually('the read is held', () => state.reading);
  await redisCli(server.port, 'SET', `${prefix}flag`, 'new');
  await eventually('the invalidation is refetched during the read', () =>
    state.refetches.some((r) => r.duringRead && r.keys.includes(`${prefix}flag`)),
  );
  state.gate = undefined;
  release();
  await resync;

  assert.deepEqual(state.changedAtInstall, [`${prefix}flag`], 'the read knew the key changed');
  const last = state.refetches.at(-1);
  assert.deepEqual(last, { keys: [`${prefix}flag`], duringRead: false }, 're-read after the read');
  assert.equal(state.copy.get(`${prefix}flag`), 'new', 'the stale snapshot value did not stay');
});

test('a burst of invalidations is re-read in one refetch', async (t) => {
  // One invalidation message per BCAST prefix: three messages for one MSET.
  const base = uniquePrefix();
  const prefixes = ['a', 'b', 'c'].map((p) => `${base}:${p}:`);
  const { server, state, tracker } = await keyMirror(t, prefixes);
  let messages = 0;
  tracker.on('invalidate', () => messages++);
  const refetchesBefore = state.refetches.length;

  const written = prefixes.flatMap((p) => [`${p}1`, `${p}2`]);
  await redisCli(server.port, 'MSET', ...written.flatMap((k) => [k, `v-${k}`]));
  await eventually('every key copied', () => written.every((k) => state.copy.get(k) === `v-${k}`));

  assert.equal(messages, 3, 'Redis sent one invalidation per prefix');
  assert.deepEqual(
    state.refetches.slice(refetchesBefore).map((r) => r.keys),
    [[...written].sort()],
    'one refetch for the whole burst',
  );
});

test('FLUSHDB makes the mirror read everything again', async (t) => {
  const prefix = `${uniquePrefix()}:f:`;
  const { server, state } = await keyMirror(t, [prefix]);
  await redisCli(server.port, 'SET', `${prefix}x`, '1');
  await eventually('the key copied', () => state.copy.get(`${prefix}x`) === '1');
  const readsBefore = state.reads;

  await redisCli(server.port, 'FLUSHDB');
  await eventually('a full read', () => state.reads > readsBefore);
  assert.equal(state.copy.size, 0, 'the flushed key is gone from the copy');
});
