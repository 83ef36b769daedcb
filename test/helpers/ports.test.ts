import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { freePort, freeRange } from './ports.js';

const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').split(/\s+/)[0]);
const lockOf = (port: number) =>
  join(tmpdir(), `sipfleet-test-ports-${process.getuid?.() ?? 0}`, String(port));

test('freePort: below the ephemeral range, binds on UDP and TCP, locked for other test processes', async () => {
  const port = await freePort();
  assert.ok(port < low, `${port} is in the kernel's range from ${low}`);
  assert.equal(readFileSync(lockOf(port), 'utf8'), String(process.pid));
  const udp = createSocket('udp4');
  await new Promise<void>((resolve) => udp.bind(port, '127.0.0.1', resolve));
  const tcp = createServer();
  await new Promise<void>((resolve) => tcp.listen(port, '127.0.0.1', resolve));
  assert.equal(udp.address().port, port);
  await new Promise<void>((resolve) => udp.close(resolve));
  await new Promise<void>((resolve) => tcp.close(() => resolve()));
});

test('freeRange: consecutive ports, never handed out twice while their holder runs', async () => {
  const ranges = await Promise.all([freeRange(3), freeRange(3), freeRange(3)]);
  const ports = ranges.flatMap((base) => [base, base + 1, base + 2]);
  assert.equal(new Set(ports).size, 9, `overlap in ${ranges.join(', ')}`);
  for (const p of ports) assert.ok(existsSync(lockOf(p)), `no lock for ${p}`);
});

test('a test process releases its port locks when it exits', async () => {
  const child = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '-e',
      "import('./test/helpers/ports.ts').then(async (m) => { console.log(await m.freePort()); })",
    ],
    { encoding: 'utf8' },
  );
  assert.equal(child.status, 0, child.stderr);
  const port = Number(child.stdout.trim());
  assert.ok(port > 0, child.stdout);
  assert.equal(existsSync(lockOf(port)), false, 'the exited process left its lock');
});
