// One INVITE over UDP, answered or not: the final status an edge gives a new call right now.
// The non-2xx final is ACKed (RFC 3261 17.1.1.3) so the edge's transaction ends cleanly.
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { fileURLToPath } from 'node:url';

/**
 * A routing module (`routing.module`) answering INVITEs for user `probe` with 480 from the route
 * itself, so `probeInvite` tells whether an edge refuses new calls without placing one.
 */
export const PROBE_ROUTES = fileURLToPath(new URL('./probe-routes.mjs', import.meta.url));

export async function probeInvite(port: number, user = 'probe', timeoutMs = 2000): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const local = socket.address().port;
  const id = randomBytes(6).toString('hex');
  const branch = `z9hG4bK${id}`;
  const head = (method: string) =>
    `${method} sip:${user}@127.0.0.1:${port} SIP/2.0\r\n` +
    `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=${branch};rport\r\n` +
    `From: <sip:tester@127.0.0.1>;tag=${id}\r\n`;
  const tail = (method: string, toTag: string) =>
    `To: <sip:${user}@127.0.0.1>${toTag}\r\nCall-ID: probe-${id}\r\nCSeq: 1 ${method}\r\n` +
    `Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n`;
  try {
    return await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no final answer from :${port}`)), timeoutMs);
      socket.on('message', (data) => {
        const text = data.toString('latin1');
        const status = Number(/^SIP\/2\.0 (\d{3})/.exec(text)?.[1] ?? 0);
        if (status < 200) return;
        clearTimeout(timer);
        const toTag = /^To:[^\r]*?(;tag=[^;\r]+)/im.exec(text)?.[1] ?? '';
        if (status >= 300) socket.send(head('ACK') + tail('ACK', toTag), port, '127.0.0.1');
        resolve(status);
      });
      socket.send(head('INVITE') + tail('INVITE', ''), port, '127.0.0.1');
    });
  } finally {
    socket.close();
  }
}

/**
 * Probes until the edge on `port` answers `status` (a condition, not a sleep); returns how long
 * that took after `since`. Throws after `deadlineMs`.
 */
export async function probeUntil(
  port: number,
  status: number,
  since = Date.now(),
  deadlineMs = 10_000,
): Promise<number> {
  const deadline = since + deadlineMs;
  for (;;) {
    if ((await probeInvite(port)) === status) return Date.now() - since;
    if (Date.now() > deadline) throw new Error(`edge :${port} never answered ${status}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
