// Any edge takes any message (docs/architecture.md, "Any edge takes any message"): behind a load
// balancer that spreads datagrams, a CANCEL, an INVITE retransmission or a non-2xx ACK may reach an
// edge that does not hold its INVITE transaction. Ownership is announced, not looked up: an edge
// that starts a server transaction relays the request at once and tells its live peers "I hold
// <tx>" (one signed datagram each, wire.ts); every edge keeps those announcements in memory
// (owners.ts). A message matching no local transaction is looked up there (a map look-up) and, if
// another live edge holds its transaction, handed over on the fleet's own network, signed; the
// owner processes it as if it had received it itself.
//
// Cost: no Redis command on the call path. A request that starts a server transaction (INVITE,
// BYE, ...) costs one HMAC and one datagram per peer; each peer one HMAC check and one map entry.
// The peers and their hand-off addresses come from the membership records, re-read every
// `fleet.heartbeatMs` off the call path.
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
import { OwnerTable } from './owners.js';
import { HandoffWire } from './wire.js';

export interface HandoffOptions {
  readonly conn: RedisConnection;
  /** The fleet's shared secret (`handoff.secret` or `handoff.secretFile`). */
  readonly secret: Buffer;
  /** `handoff.maxSkewMs`. */
  readonly maxSkewMs: number;
  /** How long an announced owner is kept: the longest a server transaction of the kind can live. */
  readonly ttl: { readonly inviteMs: number; readonly nonInviteMs: number };
  /** `handoff.maxOwners`: announced transactions kept at most, per kind. */
  readonly maxOwners: number;
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
 * The hand-off: its socket, the live peers, and the announcements and look-ups behind the proxy's
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
  private readonly wire: HandoffWire;
  /** Transactions other edges announced, INVITE and the others (their lifetimes differ). */
  private readonly owners: { readonly invite: OwnerTable; readonly other: OwnerTable };

  private constructor(
    private readonly socket: Socket,
    private readonly options: HandoffOptions,
  ) {
    this.wire = new HandoffWire(options.secret, options.maxSkewMs);
    const evicted = (): void => options.metrics.handoffOwnersEvicted.inc();
    this.owners = {
      invite: new OwnerTable(options.ttl.inviteMs, options.maxOwners, evicted),
      other: new OwnerTable(options.ttl.nonInviteMs, options.maxOwners, evicted),
    };
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

  /** From now on: announcements carry `instance`, handed messages enter `endpoint`. */
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
      const txid = this.txid(req, req.method, remote);
      const invite = req.method === 'INVITE';
      const peer = txid === undefined ? undefined : this.ownerOf(txid, invite, req.method);
      if (peer !== undefined) {
        // A retransmission of a transaction another edge started.
        this.send(peer, req, remote);
        tx.discard();
        return;
      }
      if (txid !== undefined) this.announce(txid, invite);
      proceed();
    },
    cancel: (cancel, tx, remote) => {
      const peer = this.ownerOfInvite(cancel, remote);
      if (peer !== undefined) {
        this.send(peer, cancel, remote);
        tx.discard();
        return;
      }
      // RFC 3261 §9.2: a CANCEL for a transaction nobody here knows is answered 481.
      tx.respond(createResponse(cancel, 481));
      this.options.metrics.responseSent(481, 'transaction');
    },
    ack: (ack, remote, relay) => {
      const peer = this.ownerOfInvite(ack, remote);
      // Not found: a 2xx ACK (its own branch), relayed end to end as without the hand-off.
      if (peer === undefined) relay();
      else this.send(peer, ack, remote);
    },
  };

  /**
   * The id of the `method` server transaction `req` belongs to (INVITE for an ACK or a CANCEL), or
   * undefined when the message stays here: a handed-over one, one that came over TCP (a
   * connection ends at one edge), an RFC 2543 peer's (no branch to match on across edges), or
   * before `attach()`.
   */
  private txid(req: SipRequest, method: string, remote: RemoteInfo): Buffer | undefined {
    if (this.inbound || remote.protocol !== 'udp' || this.instance === undefined) return undefined;
    const txKey = serverTransactionKey(req, method);
    if (isRfc2543Key(txKey)) return undefined;
    // Hashed: the branch and sent-by are the peer's to choose, the announcement's size is ours.
    return createHash('sha1').update(txKey).digest();
  }

  /**
   * The live peer that announced `txid` (an INVITE transaction or not), if any. An owner that left
   * the fleet took its transactions with it: the message (`method`) is handled here, as unknown.
   */
  private ownerOf(txid: Buffer, invite: boolean, method: string): Peer | undefined {
    const table = invite ? this.owners.invite : this.owners.other;
    const owner = table.get(txid.toString('latin1'), Date.now());
    if (owner === undefined || owner === this.instance) return undefined;
    const peer = this.peers.get(owner);
    if (peer === undefined) this.options.metrics.handoffOwnerGone.inc({ message: method });
    return peer;
  }

  /** The live peer holding the INVITE transaction of a CANCEL or ACK, if any. */
  private ownerOfInvite(req: SipRequest, remote: RemoteInfo): Peer | undefined {
    const txid = this.txid(req, 'INVITE', remote);
    return txid === undefined ? undefined : this.ownerOf(txid, true, req.method);
  }

  /** Tells every live peer this edge holds `txid`: fire and forget, nothing waits for it. */
  private announce(txid: Buffer, invite: boolean): void {
    if (this.closed || this.instance === undefined || this.peers.size === 0) return;
    const datagram = this.wire.sealOwner({ owner: this.instance, invite, tx: txid });
    for (const peer of this.peers.values()) this.socket.send(datagram, peer.port, peer.host);
  }

  private send(peer: Peer, req: SipRequest, remote: RemoteInfo): void {
    if (this.closed) return;
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
    if ('owner' in opened) {
      const table = opened.invite ? this.owners.invite : this.owners.other;
      table.set(opened.tx.toString('latin1'), opened.owner, Date.now());
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

  /**
   * Re-reads the live edges and their hand-off addresses (three commands, off the call path), and
   * forgets expired announcements.
   */
  private refresh(): void {
    const now = Date.now();
    this.owners.invite.sweep(now);
    this.owners.other.sweep(now);
    this.options.metrics.handoffOwners.set(this.owners.invite.size + this.owners.other.size);
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
}

/** `host:port` or `[v6]:port`. */
function parsePeer(text: string): Peer | undefined {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(text);
  return m?.[1] === undefined || m[2] === undefined
    ? undefined
    : { host: m[1], port: Number(m[2]) };
}
