// Test helpers: real sockets only (a raw TCP peer to feed exact bytes), no mocks.
import net from 'node:net';
import type { RemoteInfo, TransportLayer } from '../src/index.js';

export function sipMessage(callId: string, body = '', extraHeaders = ''): Buffer {
  return Buffer.from(
    'OPTIONS sip:probe@example.com SIP/2.0\r\n' +
      'Via: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK' +
      callId +
      '\r\n' +
      `Call-ID: ${callId}\r\n` +
      'CSeq: 1 OPTIONS\r\n' +
      extraHeaders +
      `Content-Length: ${Buffer.byteLength(body, 'latin1')}\r\n\r\n` +
      body,
    'latin1',
  );
}

/** Collects what a layer receives; `next()` waits for the next message. */
export function inbox(layer: TransportLayer): {
  messages: { data: Buffer; remote: RemoteInfo }[];
  dropped: { reason: string; remote: RemoteInfo }[];
  next(): Promise<{ data: Buffer; remote: RemoteInfo }>;
  nextDrop(): Promise<{ reason: string; remote: RemoteInfo }>;
} {
  const messages: { data: Buffer; remote: RemoteInfo }[] = [];
  const dropped: { reason: string; remote: RemoteInfo }[] = [];
  let read = 0;
  let readDrop = 0;
  let wake: (() => void) | undefined;
  layer.onMessage = (data, remote) => {
    messages.push({ data, remote });
    wake?.();
  };
  layer.onDropped = (reason, remote) => {
    dropped.push({ reason, remote });
    wake?.();
  };
  const waitFor = async <T>(list: T[], index: () => number, advance: () => void): Promise<T> => {
    while (list.length <= index()) await new Promise<void>((resolve) => (wake = resolve));
    const item = list[index()] as T;
    advance();
    return item;
  };
  return {
    messages,
    dropped,
    next: () =>
      waitFor(
        messages,
        () => read,
        () => read++,
      ),
    nextDrop: () =>
      waitFor(
        dropped,
        () => readDrop,
        () => readDrop++,
      ),
  };
}

/** A raw TCP client that records every byte it receives. */
export async function rawClient(
  port: number,
  host = '127.0.0.1',
): Promise<{
  socket: net.Socket;
  received: () => string;
  waitFor(text: string): Promise<void>;
  closed: Promise<void>;
}> {
  const socket = net.connect({ port, host });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let data = '';
  let wake: (() => void) | undefined;
  socket.on('data', (chunk: Buffer) => {
    data += chunk.toString('latin1');
    wake?.();
  });
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return {
    socket,
    received: () => data,
    async waitFor(text) {
      while (!data.includes(text)) await new Promise<void>((resolve) => (wake = resolve));
    },
    closed,
  };
}

/** A TCP port on which nothing listens (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
