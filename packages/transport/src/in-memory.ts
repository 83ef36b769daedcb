/**
 * An in-process network for the unit tier of upper layers (transaction, proxy core): several
 * endpoints, each a MessageSender with onMessage, exchanging Buffers with no sockets. Delivery is
 * queued and happens when the test calls {@link InMemoryNetwork.flush} (or on a microtask with
 * `autoFlush`), so a test with a fake clock decides exactly when packets move.
 *
 * Faults on UDP are chosen per packet by the test's `fate` function (deterministic: no randomness
 * here): drop (loss), duplicate, or hold (delivered later by {@link InMemoryNetwork.release}, i.e.
 * reordering). Every endpoint is reachable over UDP and TCP; TCP packets are never lost, duplicated or
 * reordered, as on a stream, and sending over TCP to an address nobody listens on reports
 * SIPFLEET_ERR_TRANSPORT_CONNECT (asynchronously). No connectionId is assigned.
 */
import { TransportError, TransportErrorCode, reportLater } from './errors.js';
import type { MessageSender, RemoteInfo, SendTarget, TransportProtocol } from './types.js';

export type PacketFate = 'deliver' | 'drop' | 'duplicate' | 'hold';

export interface InMemoryPacket {
  /** 1, 2, 3, ... in send order over the whole network. */
  readonly seq: number;
  readonly data: Buffer;
  /** As the receiver will see it. */
  readonly from: RemoteInfo;
  readonly to: { protocol: TransportProtocol; address: string; port: number };
}

export class InMemoryEndpoint implements MessageSender {
  onMessage: (data: Buffer, remote: RemoteInfo) => void = () => undefined;
  closed = false;

  constructor(
    private readonly network: InMemoryNetwork,
    readonly address: string,
    readonly port: number,
  ) {}

  send(target: SendTarget, data: Buffer, onError?: (err: Error) => void): void {
    if (this.closed) {
      reportLater(onError, new TransportError(TransportErrorCode.Closed, 'endpoint closed'));
      return;
    }
    this.network.transmit(this, target, data, onError);
  }

  /** Same shape as TransportLayer.sentBy, for code that builds Via headers. */
  sentBy(): { host: string; port: number } {
    return {
      host: this.address.includes(':') ? `[${this.address}]` : this.address,
      port: this.port,
    };
  }

  close(): void {
    this.closed = true;
    this.network.remove(this);
  }
}

export class InMemoryNetwork {
  /** Decides what happens to each UDP packet. @default () => 'deliver' */
  fate: (packet: InMemoryPacket) => PacketFate = () => 'deliver';
  /** Packets whose fate was 'hold', oldest first. */
  readonly held: InMemoryPacket[] = [];
  /** Every packet sent, in order (for assertions on what went over the wire). */
  readonly log: InMemoryPacket[] = [];

  private readonly endpoints = new Map<string, InMemoryEndpoint>();
  private readonly inFlight: InMemoryPacket[] = [];
  private seq = 0;
  private flushScheduled = false;

  /**
   * @param opts.autoFlush deliver queued packets on a microtask instead of waiting for flush().
   *   @default false
   */
  constructor(private readonly opts: { autoFlush?: boolean } = {}) {}

  /** Adds an endpoint reachable at address:port over both UDP and TCP. */
  endpoint(address: string, port: number): InMemoryEndpoint {
    const key = endpointKey(address, port);
    if (this.endpoints.has(key)) throw new Error(`in-memory endpoint ${key} exists`);
    const endpoint = new InMemoryEndpoint(this, address, port);
    this.endpoints.set(key, endpoint);
    return endpoint;
  }

  /** Delivers queued packets, including those sent while delivering, until none is left. */
  flush(): number {
    let delivered = 0;
    for (let packet = this.inFlight.shift(); packet; packet = this.inFlight.shift()) {
      if (++delivered > 100_000)
        throw new Error('in-memory network: message loop (100000 deliveries)');
      this.deliver(packet);
    }
    return delivered;
  }

  /** Delivers held packets (all, or the one with that seq) now, in the order given. */
  release(seq?: number): void {
    for (let i = 0; i < this.held.length;) {
      const packet = this.held[i] as InMemoryPacket;
      if (seq !== undefined && packet.seq !== seq) {
        i++;
        continue;
      }
      this.held.splice(i, 1);
      this.deliver(packet);
    }
  }

  /** @internal used by InMemoryEndpoint */
  transmit(
    from: InMemoryEndpoint,
    target: SendTarget,
    data: Buffer,
    onError: ((err: Error) => void) | undefined,
  ): void {
    const to = { protocol: target.protocol, address: target.address, port: target.port };
    const packet: InMemoryPacket = {
      seq: ++this.seq,
      data,
      to,
      from: {
        protocol: target.protocol,
        address: from.address,
        port: from.port,
        family: from.address.includes(':') ? 'IPv6' : 'IPv4',
        local: { address: target.address, port: target.port },
      },
    };
    this.log.push(packet);
    if (target.protocol === 'tcp') {
      if (!this.endpoints.has(endpointKey(to.address, to.port))) {
        reportLater(
          onError,
          new TransportError(
            TransportErrorCode.Connect,
            `in-memory: nobody listens on tcp ${to.address}:${to.port}`,
          ),
        );
        return;
      }
      this.enqueue(packet);
      return;
    }
    switch (this.fate(packet)) {
      case 'deliver':
        this.enqueue(packet);
        break;
      case 'duplicate':
        this.enqueue(packet);
        this.enqueue(packet);
        break;
      case 'hold':
        this.held.push(packet);
        break;
      case 'drop':
        break;
    }
  }

  /** @internal used by InMemoryEndpoint */
  remove(endpoint: InMemoryEndpoint): void {
    const key = endpointKey(endpoint.address, endpoint.port);
    if (this.endpoints.get(key) === endpoint) this.endpoints.delete(key);
  }

  private enqueue(packet: InMemoryPacket): void {
    this.inFlight.push(packet);
    if (this.opts.autoFlush === true && !this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => {
        this.flushScheduled = false;
        this.flush();
      });
    }
  }

  private deliver(packet: InMemoryPacket): void {
    // A packet to nobody (or to a closed endpoint) is lost, as on a real network.
    this.endpoints
      .get(endpointKey(packet.to.address, packet.to.port))
      ?.onMessage(packet.data, packet.from);
  }
}

function endpointKey(address: string, port: number): string {
  return `${address}:${port}`;
}
