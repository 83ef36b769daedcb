// One request over UDP and its final response (sendRequest), and one INVITE's final status: what
// an edge gives a new call right now. A non-2xx final to an INVITE is ACKed (RFC 3261 17.1.1.3)
// so the edge's transaction ends cleanly.
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { fileURLToPath } from 'node:url';

/**
 * A routing module (`routing.module`) answering INVITEs for user `probe` with 480 from the route
 * itself, so `probeInvite` tells whether an edge refuses new calls without placing one.
 */
export const PROBE_ROUTES = fileURLToPath(new URL('./probe-routes.mjs', import.meta.url));

/**
 * Sends one request over UDP from a fresh socket on 127.0.0.1 and resolves with the first final
 * response's text (a non-2xx final to an INVITE is ACKed).
 */
export async function sendRequest(
  port: number,
  method: string,
  user: string,
  timeoutMs = 2000,
): Promise<string> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const local = socket.address().port;
  const id = randomBytes(6).toString('hex');
  const branch = `z9hG4bK${id}`;
  const head = (m: string) =>
    `${m} sip:${user}@127.0.0.1:${port} SIP/2.0\r\n` +
    `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=${branch};rport\r\n` +
    `From: <sip:tester@127.0.0.1>;tag=${id}\r\n`;
  const tail = (m: string, toTag: string) =>
    `To: <sip:${user}@127.0.0.1>${toTag}\r\nCall-ID: probe-${id}\r\nCSeq: 1 ${m}\r\n` +
    `Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n`;
  try {
    return await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no final answer from :${port}`)), timeoutMs);
      socket.on('message', (data) => {
        const text = data.toString('latin1');
        const status = Number(/^SIP\/2\.0 (\d{3})/.exec(text)?.[1] ?? 0);
        if (status < 200) return;
        clearTimeout(timer);
        const toTag = /^To:[^\r]*?(;tag=[^;\r]+)/im.exec(text)?.[1] ?? '';
        if (status >= 300 && method === 'INVITE') {
          socket.send(head('ACK') + tail('ACK', toTag), port, '127.0.0.1');
        }
        resolve(text);
      });
      socket.send(head(method) + tail(method, ''), port, '127.0.0.1');
    });
  } finally {
    socket.close();
  }
}

export async function probeInvite(port: number, user = 'probe', timeoutMs = 2000): Promise<number> {
  const text = await sendRequest(port, 'INVITE', user, timeoutMs);
  return Number(/^SIP\/2\.0 (\d{3})/.exec(text)?.[1] ?? 0);
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
