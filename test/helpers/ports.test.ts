import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { freePort } from './ports.js';

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
