// What the benches that route through a dispatcher set share: a redis-server, two sipp UASes
// and a dispatcher.list naming them as set 1, all stopped by the owner.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@sipfleet/test-helpers/ports';
import { startRedis } from '@sipfleet/test-helpers/redis-server';
import { startSipp } from '@sipfleet/test-helpers/sipp';
import type { Owner } from './ramp.js';

/** The Redis server, a scratch folder (the list file is in it), the list file and its URIs. */
export async function dispatcherWorld(owner: Owner, name: string) {
  const redis = await startRedis();
  owner.after(() => redis.stop());
  const dir = mkdtempSync(join(tmpdir(), `sipfleet-${name}-`));
  owner.after(() => rmSync(dir, { recursive: true, force: true }));
  const uris: string[] = [];
  for (let i = 0; i < 2; i++) {
    const port = await freePort();
    await startSipp({ scenario: 'uas-call', localPort: port, autoAnswer: true, owner });
    uris.push(`sip:127.0.0.1:${port}`);
  }
  const listFile = join(dir, 'dispatcher.list');
  writeFileSync(listFile, uris.map((u) => `1 ${u} 0 0`).join('\n') + '\n');
  return { redis, dir, listFile, uris };
}
