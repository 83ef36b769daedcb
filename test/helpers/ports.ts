import { createSocket } from 'node:dgram';
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Test ports come from below the kernel's ephemeral range, where no outgoing connection and no
 * port 0 bind takes a port on its own, and each is reserved with a lock file shared by every test
 * process on the machine: the runner has two files going at once, and a port picked by one and
 * not yet bound (an edge binds it a second later) must not be picked by the other.
 */
/** One directory per user: a directory another user made is not ours to write in. */
const LOCKS = join(tmpdir(), `sipfleet-test-ports-${process.getuid?.() ?? 0}`);
const LOWEST = 10_000;

/** Ports this process holds a lock file for, released when it exits. */
const held = new Set<number>();
let cleanupInstalled = false;

function ephemeralLow(): number {
  try {
    const low = Number(
      readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').split(/\s+/)[0],
    );
    return Number.isInteger(low) && low > LOWEST + 1_000 ? low : 32_768;
  } catch {
    return 32_768; // Linux's default
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readSilently(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function unlinkSilently(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

/** Takes the machine-wide lock on `port`; false when this or another live process holds it. */
function lock(port: number): boolean {
  if (held.has(port)) return false;
  mkdirSync(LOCKS, { recursive: true });
  const path = join(LOCKS, String(port));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      held.add(port);
      if (!cleanupInstalled) {
        cleanupInstalled = true;
        process.once('exit', () => {
          for (const p of held) unlinkSilently(join(LOCKS, String(p)));
        });
      }
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(readSilently(path));
      if (owner > 0 && alive(owner)) return false;
      unlinkSilently(path); // left by a process that died before its exit handler ran
    }
  }
  return false;
}

function release(port: number): void {
  held.delete(port);
  unlinkSilently(join(LOCKS, String(port)));
}

async function tcpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

async function udpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    socket.once('error', () => resolve(false));
    socket.bind(port, '127.0.0.1', () => socket.close(() => resolve(true)));
  });
}

/**
 * `count` consecutive ports free for UDP and TCP on 127.0.0.1 (SIP listens on both), below the
 * ephemeral range, none handed out before by a test process that is still running.
 */
export async function freeRange(count: number): Promise<number> {
  const high = ephemeralLow();
  for (let attempt = 0; attempt < 100; attempt++) {
    const base = LOWEST + Math.floor(Math.random() * (high - LOWEST - count));
    const locked: number[] = [];
    let ok = true;
    for (let p = base; ok && p < base + count; p++) {
      ok = lock(p);
      if (ok) locked.push(p);
      ok = ok && (await tcpFree(p)) && (await udpFree(p));
    }
    if (ok) return base;
    for (const p of locked) release(p);
  }
  throw new Error(`freeRange: no ${count} consecutive free ports after 100 attempts`);
}

/** One port, as freeRange(1). */
export async function freePort(): Promise<number> {
  return freeRange(1);
}
