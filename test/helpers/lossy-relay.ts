// A UDP relay that loses datagrams on purpose: what a lossy network does between an edge and a
// UAS. Datagrams from the client side to `target` lose every `dropEvery`-th one (deterministic);
// replies from the target go back to the last client address untouched.
import { createSocket } from 'node:dgram';
import type { RemoteInfo } from 'node:dgram';
import type { CleanupOwner } from './processes.js';

export interface LossyRelay {
  readonly port: number;
  readonly forwarded: number;
  readonly dropped: number;
}

export async function startLossyRelay(
  owner: CleanupOwner,
  opts: { target: number; dropEvery: number; host?: string },
): Promise<LossyRelay> {
  const host = opts.host ?? '127.0.0.1';
  const front = createSocket('udp4');
  const back = createSocket('udp4');
  let client: RemoteInfo | undefined;
  let seen = 0;
  const state = { port: 0, forwarded: 0, dropped: 0 };
  front.on('message', (msg, rinfo) => {
    client = rinfo;
    seen++;
    if (seen % opts.dropEvery === 0) {
      state.dropped++;
      return;
    }
    state.forwarded++;
    back.send(msg, opts.target, host);
  });
  back.on('message', (msg) => {
    if (client) front.send(msg, client.port, client.address);
  });
  await new Promise<void>((resolve) => front.bind(0, host, resolve));
  await new Promise<void>((resolve) => back.bind(0, host, resolve));
  state.port = front.address().port;
  owner.after(async () => {
    await new Promise<void>((resolve) => front.close(() => resolve()));
    await new Promise<void>((resolve) => back.close(() => resolve()));
  });
  return state;
}
