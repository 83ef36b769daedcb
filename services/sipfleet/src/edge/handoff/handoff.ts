// Any edge takes any message (docs/architecture.md, "Any edge takes any message"): behind a load
// balancer that spreads datagrams, a CANCEL, an INVITE retransmission or a non-2xx ACK may reach an
// edge that does not hold its INVITE transaction. That edge finds the one that does in Redis
// (`txOwner`, written when the INVITE first arrived) and hands the message over on the fleet's own
// network, signed (wire.ts); the owner processes it as if it had received it itself.
//
// Cost: a request that starts a server transaction (INVITE, BYE, ...) costs one `SET NX PX GET`
// (the claim, which is also the look-up for a retransmission that reached another edge first); an
// unmatched ACK (every 2xx ACK) one GET; an unmatched CANCEL one GET. Messages a local transaction
// matches cost nothing.
import { createHash } from 'node:crypto';
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { listMembers } from '@sipfleet/dispatcher';
import type { UnmatchedMessages } from '@sipfleet/proxy';
import type { RedisConnection } from '@sipfleet/redis';
import { createResponse } from '@sipfleet/sip';
import type { SipRequest } from '@sipfleet/sip';
import { isRfc2543Key, serverTransactionKey } from '@sipfleet/transaction';
import type { SipEndpoint } from '@sipfleet/transaction';
import type { RemoteInfo } from '@sipfleet/transport';
import type { Logger } from 'pino';
import type { EdgeMetrics } from '../../metrics.js';
import { HandoffWire } from './wire.js';

export interface HandoffOptions {
  readonly conn: RedisConnection;
  /** The fleet's shared secret (`handoff.secret` or `handoff.secretFile`). */
  readonly secret: Buffer;
  /** `handoff.maxSkewMs`. */
  readonly maxSkewMs: number;
  /** Lifetime of an owner key: the longest a server transaction of the kind can live. */
  readonly ttl: { readonly inviteMs: number; readonly nonInviteMs: number };
  /** How often the live edges' hand-off addresses are re-read (`fleet.heartbeatMs`). */
  readonly refreshMs: number;
  readonly metrics: EdgeMetrics;
  readonly log: Logger;
}

/** A hand-off peer: another live edge's hand-off socket. */
interface Peer {
  readonly host: string;
  readonly port: number;
}

/**
 * The hand-off: its socket, the live peers, and the claim and look-ups behind the proxy's
 * `UnmatchedMessages`. Until `attach()` (membership and receive path ready) every message is
 * handled here, as a lone edge would.
 */
export class Handoff {
  /** The edges that take hand-offs, by membership instance (refreshed every `refreshMs`). */
  private peers = new Map<string, Peer>();
  private instance: string | undefined;
  private endpoint: SipEndpoint | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** True while a handed-over message runs through the receive path (synchronously): it stays here. */
  private inbound = false;
  private closed = false;
  /** While Redis fails: one log line per outage. */
  private failing = false;
  private readonly wire: HandoffWire;

  private constructor(
    private readonly socket: Socket,
    private readonly options: HandoffOptions,
  ) {
    this.wire = new HandoffWire(options.secret, options.maxSkewMs);
    socket.on('message', (data, rinfo) => this.received(data, rinfo.family));
  }

  /** Binds the hand-off socket (UDP) on `listen`. */
  static async open(
    listen: { address: string; port: number },
    options: HandoffOptions,
  ): Promise<Handoff> {
    const socket = createSocket(listen.address.includes(':') ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(listen.port, listen.address, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    // A send to a peer that just died may come back as an ICMP error: the caller retransmits.
    socket.on('error', () => undefined);
    return new Handoff(socket, options);
  }

  /** `host:port` of the hand-off socket as bound, for the membership record. */
  get address(): string {
    const { address, port } = this.socket.address();
    return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
  }

  /** From now on: claims carry `instance`, handed messages enter `endpoint`. */
  attach(instance: string, endpoint: SipEndpoint): void {
    this.instance = instance;
    this.endpoint = endpoint;
    this.refresh();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.instance = undefined;
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }

  /** The proxy's hooks for messages whose transaction may be another edge's. */
  readonly unmatched: UnmatchedMessages = {
    request: (req, tx, remote, proceed) => {
      const key = this.ownerKey(req, req.method, remote);
      if (key === undefined) {
        proceed();
        return;
      }
      this.claim(key, req.method)
        .then(
          (peer) => {
            if (peer === undefined) proceed();
            else {
              this.send(peer, req, remote);
              tx.discard();
            }
          },
          (err: unknown) => {
            this.redisFailed(err);
            proceed();
          },
        )
        .catch(this.bug);
    },
    cancel: (cancel, tx, remote) => {
      const unknown = (): void => {
        // RFC 3261 §9.2: a CANCEL for a transaction nobody here knows is answered 481.
        tx.respond(createResponse(cancel, 481));
        this.options.metrics.responseSent(481, 'transaction');
      };
      this.lookUp(cancel, remote)
        .then((peer) => {
          if (peer === undefined) unknown();
          else {
            this.send(peer, cancel, remote);
            tx.discard();
          }
        }, unknown)
        .catch(this.bug);
    },
    ack: (ack, remote, relay) => {
      // Not found: a 2xx ACK (its own branch), relayed end to end as without the hand-off.
      this.lookUp(ack, remote)
        .then((peer) => {
          if (peer === undefined) relay();
          else this.send(peer, ack, remote);
        }, relay)
        .catch(this.bug);
    },
  };

  /**
   * The owner key of the `method` server transaction `req` belongs to (INVITE for an ACK or a
   * CANCEL), or undefined when the message stays here: a handed-over one, one that came over TCP
   * (a connection ends at one edge), an RFC 2543 peer's (no branch to match on across edges), or
   * before `attach()`.
   */
  private ownerKey(req: SipRequest, method: string, remote: RemoteInfo): string | undefined {
    if (this.inbound || remote.protocol !== 'udp' || this.instance === undefined) return undefined;
    const txKey = serverTransactionKey(req, method);
    if (isRfc2543Key(txKey)) return undefined;
    // Hashed: the branch and sent-by are the peer's to choose, the key's length is ours.
    return this.options.conn.keys.txOwner(createHash('sha1').update(txKey).digest('base64url'));
  }

  /**
   * Takes the transaction for this edge unless a live peer holds it (then that peer). An owner
   * that left the fleet is replaced: its transactions went with it.
   */
  private async claim(key: string, method: string): Promise<Peer | undefined> {
    const { conn, ttl } = this.options;
    const me = this.instance ?? '';
    const ms = method === 'INVITE' ? ttl.inviteMs : ttl.nonInviteMs;
    const held = await conn.call('SET', key, me, 'NX', 'PX', ms, 'GET');
    this.failing = false;
    if (held === null || held === me) return undefined;
    const peer = this.peers.get(String(held));
    if (peer !== undefined) return peer;
    this.options.metrics.handoffOwnerGone.inc({ message: method });
    // Not awaited: the retransmission is processed here either way.
    conn.call('SET', key, me, 'PX', ms).catch((err: unknown) => this.redisFailed(err));
    return undefined;
  }

  /** The live peer holding the INVITE transaction of a CANCEL or ACK, if any. */
  private async lookUp(req: SipRequest, remote: RemoteInfo): Promise<Peer | undefined> {
    const key = this.ownerKey(req, 'INVITE', remote);
    if (key === undefined) return undefined;
    let held: unknown;
    try {
      held = await this.options.conn.call('GET', key);
      this.failing = false;
    } catch (err) {
      this.redisFailed(err);
      return undefined;
    }
    if (held === null || held === this.instance) return undefined;
    const peer = this.peers.get(String(held));
    if (peer === undefined) this.options.metrics.handoffOwnerGone.inc({ message: req.method });
    return peer;
  }

  /** What runs after a claim or look-up threw: only a bug can get here (the layer is synchronous). */
  private readonly bug = (err: unknown): void => {
    this.options.log.error({ err }, 'hand-off: handling a message failed');
  };

  private send(peer: Peer, req: SipRequest, remote: RemoteInfo): void {
    if (this.closed) return; // a look-up that finished after close()
    const datagram = this.wire.seal({
      source: { address: remote.address, port: remote.port },
      sip: req.toBuffer(),
    });
    this.socket.send(datagram, peer.port, peer.host);
    this.options.metrics.handoffSent.inc({ message: req.method });
  }

  private received(datagram: Buffer, family: string): void {
    const endpoint = this.endpoint;
    if (endpoint === undefined) return;
    const opened = this.wire.open(datagram);
    if (typeof opened === 'string') {
      this.options.metrics.handoffRejected.inc({ reason: opened });
      return;
    }
    const { sip, source } = opened;
    const space = sip.indexOf(0x20);
    this.options.metrics.handoffReceived.inc({
      message: space > 0 && space <= 10 ? sip.toString('latin1', 0, space) : 'other',
    });
    const remote: RemoteInfo = {
      protocol: 'udp',
      address: source.address,
      port: source.port,
      family: family === 'IPv6' || source.address.includes(':') ? 'IPv6' : 'IPv4',
      local: this.socket.address(),
    };
    this.inbound = true;
    try {
      endpoint.receive(sip, remote);
    } finally {
      this.inbound = false;
    }
  }

  /** Re-reads the live edges and their hand-off addresses (three commands, off the call path). */
  private refresh(): void {
    listMembers(this.options.conn)
      .then((members) => {
        const peers = new Map<string, Peer>();
        for (const m of members) {
          const peer = m.handoff === undefined ? undefined : parsePeer(m.handoff);
          if (peer !== undefined && m.instance !== this.instance) peers.set(m.instance, peer);
        }
        this.peers = peers;
        this.options.metrics.handoffPeers.set(peers.size);
      })
      // Redis down: keep the last view (the membership heartbeat reports the outage).
      .catch(() => undefined)
      .finally(() => {
        if (this.instance === undefined) return;
        this.timer = setTimeout(() => this.refresh(), this.options.refreshMs);
        this.timer.unref();
      });
  }

  private redisFailed(err: unknown): void {
    this.options.metrics.handoffErrors.inc();
    if (this.failing) return;
    this.failing = true;
    this.options.log.warn(
      { err },
      'hand-off: Redis failed; messages are handled on the edge that received them',
    );
  }
}

/** `host:port` or `[v6]:port`. */
function parsePeer(text: string): Peer | undefined {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(text);
  return m?.[1] === undefined || m[2] === undefined
    ? undefined
    : { host: m[1], port: Number(m[2]) };
}
