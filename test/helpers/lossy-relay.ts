// UDP relays that lose datagrams on purpose: what a lossy network does. Loss is deterministic:
// every `dropEvery`-th datagram of a direction is dropped.
// - startLossyRelay: between an edge and a UAS. Datagrams from the client side to `target` are
//   lossy; replies from the target go back to the last client address untouched.
// - startSpreadingRelay: a load balancer without affinity in front of several edges. Each datagram
//   from the client goes to the next edge in turn (round robin, per datagram, whatever the call or
//   transaction), a retransmission (the same bytes again) always to another edge than its last
//   copy, and whatever the edges send to the relay goes back to the client; each way lossy or not.
import { createSocket } from 'node:dgram';
import type { RemoteInfo } from 'node:dgram';
import type { CleanupOwner } from './processes.js';

export interface LossyRelay {
  readonly port: number;
  readonly forwarded: number;
  readonly dropped: number;
}

/** Counts datagrams; true for every `dropEvery`-th one. */
function lossEvery(
  dropEvery: number,
  state: { forwarded: number; dropped: number },
): () => boolean {
  let seen = 0;
  return () => {
    seen++;
    if (seen % dropEvery === 0) {
      state.dropped++;
      return true;
    }
    state.forwarded++;
    return false;
  };
}

export async function startLossyRelay(
  owner: CleanupOwner,
  opts: { target: number; dropEvery: number; host?: string },
): Promise<LossyRelay> {
  const host = opts.host ?? '127.0.0.1';
  const front = createSocket('udp4');
  const back = createSocket('udp4');
  let client: RemoteInfo | undefined;
  const state = { port: 0, forwarded: 0, dropped: 0 };
  const lost = lossEvery(opts.dropEvery, state);
  front.on('message', (msg, rinfo) => {
    client = rinfo;
    if (!lost()) back.send(msg, opts.target, host);
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

export interface SpreadingRelay {
  readonly port: number;
  /** The edges' UDP ports on 127.0.0.1, in the order datagrams go round them. Set before use. */
  edges: number[];
  /** Datagrams from the client sent to each edge (index as in `edges`). */
  readonly perEdge: number[];
  /** Client to edges. */
  readonly toEdges: { forwarded: number; dropped: number };
  /** Edges to client. */
  readonly toClient: { forwarded: number; dropped: number };
}

/**
 * One socket: the client sends to `port`; a sender whose port is in `edges` is an edge (its
 * datagrams go to the last client seen), anyone else is the client. The edges answer the relay
 * because the client's Via carries `rport` (RFC 3581), as they would answer a load balancer.
 */
export async function startSpreadingRelay(
  owner: CleanupOwner,
  /** Every n-th datagram lost, per direction. @default no loss that way */
  opts: {
    dropToEdges?: number;
    dropToClient?: number;
    /** The first copy of each datagram to the client whose text matches is lost. @default none */
    dropFirstToClient?: RegExp;
  },
): Promise<SpreadingRelay> {
  const host = '127.0.0.1';
  const socket = createSocket('udp4');
  let client: RemoteInfo | undefined;
  let next = 0;
  const relay: SpreadingRelay = {
    port: 0,
    edges: [],
    perEdge: [],
    toEdges: { forwarded: 0, dropped: 0 },
    toClient: { forwarded: 0, dropped: 0 },
  };
  const lostToEdges = lossEvery(opts.dropToEdges ?? Infinity, relay.toEdges);
  const lostToClient = lossEvery(opts.dropToClient ?? Infinity, relay.toClient);
  // Datagram text -> the edge its last copy went to / whether its first copy to the client was lost.
  const lastEdge = new Map<string, number>();
  const droppedOnce = new Set<string>();
  const firstLost = (text: string): boolean => {
    if (opts.dropFirstToClient?.test(text) !== true || droppedOnce.has(text)) return false;
    droppedOnce.add(text);
    relay.toClient.dropped++;
    return true;
  };
  socket.on('message', (msg, rinfo) => {
    if (relay.edges.includes(rinfo.port)) {
      if (client && !firstLost(msg.toString('latin1')) && !lostToClient()) {
        socket.send(msg, client.port, client.address);
      }
      return;
    }
    client = rinfo;
    const text = msg.toString('latin1');
    const last = lastEdge.get(text);
    const index =
      last === undefined ? next++ % relay.edges.length : (last + 1) % relay.edges.length;
    if (lastEdge.size > 10_000) lastEdge.clear(); // a test's worth of transactions
    lastEdge.set(text, index);
    relay.perEdge[index] = (relay.perEdge[index] ?? 0) + 1;
    if (!lostToEdges()) socket.send(msg, relay.edges[index] as number, host);
  });
  await new Promise<void>((resolve) => socket.bind(0, host, resolve));
  const port = socket.address().port;
  owner.after(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return Object.assign(relay, { port });
}
