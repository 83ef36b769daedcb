// A CLI run against an unreachable Redis gives up, closes its connection and must then exit by
// itself at once: nothing ioredis armed for the socket that never opened may keep the process alive.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { freePort } from '@sipfleet/test-helpers/ports';

const connectionModule = pathToFileURL(
  new URL('../src/connection.js', import.meta.url).pathname,
).href;

// The child gives up waiting (as a CLI does), closes, and reports what still holds its event loop
// after a few rounds of DISCONNECT_TIMEOUT_MS. Node runs timers in order of expiry, so the first
// round already comes after every disconnect timer armed inside close(); the later rounds leave
// room for ioredis' own tail (a Cluster slot refresh in flight fails and disconnects its helper
// client just after close()). Under ioredis' default, a 2000 ms disconnect timer outlives every
// round. A loaded machine only delays the rounds, which can't make this fail. stdout/stderr pipes
// are ours.
const CHILD = `
import { DISCONNECT_TIMEOUT_MS, RedisConnection } from ${JSON.stringify(connectionModule)};
const conn = new RedisConnection({ redis: process.argv[1], maxRetryDelayMs: 100 });
await conn.waitUntilReady(300).catch(() => {});
const closing = performance.now();
await conn.close();
process.on('exit', () => console.log('exited ' + Math.round(performance.now() - closing) + ' ms after close()'));
const held = () => process.getActiveResourcesInfo().filter((r) => r !== 'PipeWrap' && r !== 'TTYWrap');
for (let round = 1; round <= 10; round++) {
  await new Promise((resolve) => setTimeout(() => setImmediate(resolve), DISCONNECT_TIMEOUT_MS));
  if (held().length === 0 || round === 10) {
    console.log('held ' + JSON.stringify(held()) + ' after ' + round + ' round(s)');
    break;
  }
}
`;

for (const scheme of ['redis', 'redis-cluster']) {
  test(`closing a ${scheme}:// connection that never connected lets the process exit by itself`, async () => {
    const url = `${scheme}://127.0.0.1:${await freePort()}`;
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '--eval', CHILD, url],
      // A guard so a hang fails this test instead of stalling the run; not a speed check.
      { encoding: 'utf8', timeout: 60_000 },
    );
    assert.equal(r.signal, null, `the child did not exit by itself: ${r.stdout}${r.stderr}`);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^held \[\] after \d+ round\(s\)$/m, r.stdout);
    const exited = /^exited \d+ ms after close\(\)$/m.exec(r.stdout);
    assert.ok(exited, r.stdout);
    console.log(`# ${url}: ${exited[0]}, ${/after \d+ round\(s\)/.exec(r.stdout)?.[0] ?? ''}`);
  });
}
