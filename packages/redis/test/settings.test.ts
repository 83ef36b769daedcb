import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SipfleetRedisError, parseRedisSetting } from '../src/index.js';

test('standalone URLs, with ACL user, TLS and db', () => {
  assert.deepEqual(parseRedisSetting('redis://127.0.0.1:6380'), {
    mode: 'standalone', host: '127.0.0.1', port: 6380, db: 0,
  }); // prettier-ignore
  assert.deepEqual(parseRedisSetting('rediss://edge:p%40ss@redis.example:6390/3'), {
    mode: 'standalone', host: 'redis.example', port: 6390, db: 3,
    username: 'edge', password: 'p@ss', tls: true,
  }); // prettier-ignore
  assert.deepEqual(parseRedisSetting('redis://:secret@[::1]'), {
    mode: 'standalone', host: '::1', port: 6379, db: 0, password: 'secret',
  }); // prettier-ignore
});

test('sentinel and cluster URLs list several hosts', () => {
  assert.deepEqual(parseRedisSetting('redis-sentinel://u:p@10.0.0.1:26379,10.0.0.2/mymaster'), {
    mode: 'sentinel',
    sentinels: [
      { host: '10.0.0.1', port: 26379 },
      { host: '10.0.0.2', port: 26379 },
    ],
    name: 'mymaster', db: 0, username: 'u', password: 'p',
  }); // prettier-ignore
  assert.deepEqual(parseRedisSetting('redis-cluster://a:7000,b:7001'), {
    mode: 'cluster',
    nodes: [
      { host: 'a', port: 7000 },
      { host: 'b', port: 7001 },
    ],
  });
});

test('object form gets defaults and is validated', () => {
  assert.deepEqual(parseRedisSetting({ mode: 'standalone', host: 'h', port: 1 }), {
    mode: 'standalone', host: 'h', port: 1, db: 0,
  }); // prettier-ignore
  assert.throws(() => parseRedisSetting({ mode: 'cluster', nodes: [] }), SipfleetRedisError);
});

test('malformed settings are typed errors that never echo the password', () => {
  for (const bad of [
    'http://x:1',
    'redis://',
    'redis://h:99999',
    'redis://h:1,h:2',
    'redis-sentinel://h:1',
    'redis://h/notadb',
    'redis-cluster://h:1/0',
    'nonsense',
    'redis://u:%zz@h',
  ]) {
    // prettier-ignore
    assert.throws(
      () => parseRedisSetting(bad),
      (e: unknown) => e instanceof SipfleetRedisError && e.code === 'SIPFLEET_ERR_REDIS_CONFIG',
      bad,
    );
  }
  try {
    parseRedisSetting('redis://user:topsecret@h:99999');
    assert.fail('should throw');
  } catch (e) {
    assert.ok(e instanceof Error && !e.message.includes('topsecret'));
  }
});
