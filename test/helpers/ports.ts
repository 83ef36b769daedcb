import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** Ports this process has handed out: the kernel may hand the same port 0 bind out again. */
const handedOut = new Set<number>();

/**
 * A port that is free for both UDP and TCP on 127.0.0.1 right now (SIP listens on both), and not
 * handed out before by this process (two calls in a row may otherwise get the same port, since
 * nothing holds the first until its server starts).
 * The kernel picks it; we then check the other protocol can bind it too.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
      });
    });
    const udpFree = await new Promise<boolean>((resolve) => {
      const socket = createSocket('udp4');
      socket.once('error', () => resolve(false));
      socket.bind(port, '127.0.0.1', () => socket.close(() => resolve(true)));
    });
    if (udpFree && !handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('freePort: no port free for both UDP and TCP after 50 attempts');
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

/** The first port the kernel hands out on its own (outgoing connections, port 0 binds). */
function ephemeralLow(): number {
  try {
    const low = Number(
      readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').split(/\s+/)[0],
    );
    return Number.isInteger(low) && low > 10_000 ? low : 32_768;
  } catch {
    return 32_768; // Linux's default
  }
}

export interface FreeRangeOptions {
  /**
   * Pick below the kernel's ephemeral range, where no outgoing connection or port 0 bind of another
   * test takes a port on its own: for a test that binds its ports only tens of seconds later (after
   * a build). A port in the ephemeral range may be gone by then.
   * @default false
   */
  belowEphemeral?: boolean;
}

/** `count` consecutive ports free for UDP and TCP, none of them in `taken`. */
export async function freeRange(
  count: number,
  taken: Set<number>,
  opts: FreeRangeOptions = {},
): Promise<number> {
  const low = ephemeralLow();
  for (let attempt = 0; attempt < 100; attempt++) {
    const base = opts.belowEphemeral
      ? 10_000 + Math.floor(Math.random() * (low - 10_000 - count))
      : await freePort();
    let ok = base + count - 1 <= 65535;
    for (let p = base; ok && p < base + count; p++) {
      ok = !taken.has(p) && (await tcpFree(p)) && (await udpFree(p));
    }
    if (ok) {
      for (let p = base; p < base + count; p++) taken.add(p);
      return base;
    }
  }
  throw new Error(`no ${count} consecutive free ports after 100 attempts`);
}
