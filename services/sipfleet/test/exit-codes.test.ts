// The exit codes of the long-running commands: the code (startup-error.ts), `sipfleet help`
// (cli.ts) and docs/errors.md list the same ones; and what start-up failures map to.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { SipfleetRedisError } from '@sipfleet/redis';
import { TransportError, TransportErrorCode } from '@sipfleet/transport';
import { EXIT_CODES } from '../src/cli.js';
import { ConfigError } from '../src/config.js';
import { EXIT, ListenError, startupFailure } from '../src/startup-error.js';

/** 0, 1 and 2 are not start-up failures: a clean stop, a fleet that lost a process, bad usage. */
const OTHER_CODES = [0, 1, 2];

test('startup-error.ts, sipfleet help and docs/errors.md list the same exit codes', () => {
  const code = [...OTHER_CODES, ...Object.values(EXIT)].sort((a, b) => a - b);
  const help = Object.keys(EXIT_CODES).map(Number);
  const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
  const section = doc.slice(doc.indexOf('## Exit codes of the long-running commands'));
  const documented = [...section.matchAll(/^\| (\d+) +\|/gm)].map((m) => Number(m[1]));
  assert.deepEqual(help, code);
  assert.deepEqual(documented, code);
});

/** A system error as Node makes them (`bind EADDRINUSE 127.0.0.1:5060`). */
function systemError(code: string, fields: Record<string, unknown>): Error {
  return Object.assign(new Error(`${code} (test)`), { code, ...fields });
}

test('each kind of start-up failure has its own code', () => {
  const inUse = systemError('EADDRINUSE', { syscall: 'bind', address: '127.0.0.1', port: 5060 });
  const listen = new TransportError(TransportErrorCode.Listen, 'cannot bind', { cause: inUse });
  assert.deepEqual(startupFailure(listen, 'sip'), {
    exitCode: EXIT.osErr,
    message: 'sip udp:127.0.0.1:5060: address already in use',
    unexpected: false,
  });
  const denied = systemError('EACCES', { syscall: 'listen', address: '0.0.0.0', port: 80 });
  const admin = new ListenError('admin', 'tcp', '0.0.0.0', 80, denied);
  assert.equal(startupFailure(admin).exitCode, EXIT.noPerm);
  assert.match(startupFailure(admin).message, /^admin tcp:0\.0\.0\.0:80: permission denied/);
  const missing = systemError('ENOENT', { syscall: 'open', path: '/etc/x.yaml' });
  const unreadable = new ConfigError('cannot read config file /etc/x.yaml', { cause: missing });
  assert.equal(startupFailure(unreadable).exitCode, EXIT.noInput);
  assert.equal(startupFailure(new ConfigError('listen: bad')).exitCode, EXIT.config);
  const mkdir = systemError('ENOTDIR', { syscall: 'mkdir', path: '/a/b' });
  assert.deepEqual(startupFailure(mkdir), {
    exitCode: EXIT.cantCreate,
    message: '/a/b: not a directory',
    unexpected: false,
  });
  const bug = startupFailure(new TypeError('x is undefined'));
  assert.deepEqual(bug, { exitCode: EXIT.software, message: 'x is undefined', unexpected: true });
});

test('an unreachable Redis is never a configuration error, even wrapped in one', () => {
  const down = new SipfleetRedisError('SIPFLEET_ERR_REDIS_UNAVAILABLE', 'redis not ready');
  assert.equal(startupFailure(down).exitCode, EXIT.unavailable);
  const wrapped = new ConfigError('redis.url: cannot open the shared state', { cause: down });
  assert.equal(startupFailure(wrapped).exitCode, EXIT.unavailable);
  const timeout = new SipfleetRedisError('SIPFLEET_ERR_REDIS_TIMEOUT', 'no answer');
  assert.equal(startupFailure(timeout).exitCode, EXIT.unavailable);
});
