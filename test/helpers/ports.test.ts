import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { freePort, freeRange } from './ports.js';

test('freePort returns a port that binds on UDP and TCP', async () => {
  const port = await freePort();
  const udp = createSocket('udp4');
  await new Promise<void>((resolve) => udp.bind(port, '127.0.0.1', resolve));
  const tcp = createServer();
  await new Promise<void>((resolve) => tcp.listen(port, '127.0.0.1', resolve));
  assert.equal(udp.address().port, port);
  await new Promise<void>((resolve) => udp.close(resolve));
  await new Promise<void>((resolve) => tcp.close(() => resolve()));
});

test('freeRange belowEphemeral: consecutive ports under the kernel range, none taken twice', async () => {
  const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').split(/\s+/);
  const taken = new Set<number>();
  const first = await freeRange(3, taken, { belowEphemeral: true });
  const second = await freeRange(3, taken, { belowEphemeral: true });
  for (const base of [first, second]) assert.ok(base + 2 < Number(low), `${base} reaches ${low}`);
  assert.equal(taken.size, 6, 'the two ranges overlap');
  for (let p = first; p < first + 3; p++) {
    const tcp = createServer();
    await new Promise<void>((resolve) => tcp.listen(p, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => tcp.close(() => resolve()));
  }
});
