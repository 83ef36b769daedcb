// The hand-off datagrams between edges, signed with the fleet's secret: a SIP message another edge
// received, with the address it came from, or an owner announcement ("this edge holds transaction
// <tx>"). Nothing outside the fleet can inject either through the hand-off socket: without the
// secret no signature verifies, and a captured datagram replays neither after `maxSkewMs` (its
// timestamp) nor within it (its signature is remembered).
//
//   "SFH2" | sent at: ms since the epoch, 6 bytes | type, 1 byte | body | HMAC-SHA256 over
//   everything before, 32 bytes
//   type 1, a message: source port, 2 bytes | source address length, 1 byte | source address
//   (ASCII) | SIP message
//   type 2, an owner: INVITE transaction (1) or not (0), 1 byte | owner length, 2 bytes | owner
//   (membership instance, ASCII) | transaction id (the rest)
import { createHmac, timingSafeEqual } from 'node:crypto';

const MAGIC = Buffer.from('SFH2', 'latin1');
const MAC_BYTES = 32;
/** Magic, timestamp and type. */
const HEAD_BYTES = MAGIC.length + 6 + 1;
const TYPE_MESSAGE = 1;
const TYPE_OWNER = 2;

/** Where the handed message came from: the UDP source the receiving edge saw. */
export interface HandoffSource {
  readonly address: string;
  readonly port: number;
}

export interface HandoffMessage {
  readonly source: HandoffSource;
  readonly sip: Buffer;
}

/** An edge's word that it holds a server transaction (handoff.ts). */
export interface OwnerAnnouncement {
  /** The announcing edge's membership instance. */
  readonly owner: string;
  readonly invite: boolean;
  /** The transaction id (a digest of its RFC 3261 §17.2.3 key). */
  readonly tx: Buffer;
}

export type HandoffRejection = 'malformed' | 'signature' | 'stale' | 'replay';

/** Signs and checks hand-off datagrams with one fleet secret. */
export class HandoffWire {
  /** Signatures accepted within the skew window, by when they stop mattering (ms). */
  private readonly seen = new Map<string, number>();
  private sweptAt = 0;

  constructor(
    private readonly secret: Buffer,
    /** How far the sender's clock may be from ours; older datagrams are refused. */
    private readonly maxSkewMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  seal(message: HandoffMessage): Buffer {
    const address = Buffer.from(message.source.address, 'latin1');
    const fields = Buffer.alloc(3);
    fields.writeUInt16BE(message.source.port, 0);
    fields.writeUInt8(address.length, 2);
    return this.signed(TYPE_MESSAGE, [fields, address, message.sip]);
  }

  sealOwner(announcement: OwnerAnnouncement): Buffer {
    const owner = Buffer.from(announcement.owner, 'latin1');
    const fields = Buffer.alloc(3);
    fields.writeUInt8(announcement.invite ? 1 : 0, 0);
    fields.writeUInt16BE(owner.length, 1);
    return this.signed(TYPE_OWNER, [fields, owner, announcement.tx]);
  }

  /** The message or announcement, or why the datagram was refused. */
  open(datagram: Buffer): HandoffMessage | OwnerAnnouncement | HandoffRejection {
    if (datagram.length < HEAD_BYTES + MAC_BYTES || !datagram.subarray(0, 4).equals(MAGIC)) {
      return 'malformed';
    }
    const macStart = datagram.length - MAC_BYTES;
    const body = datagram.subarray(HEAD_BYTES, macStart);
    const type = datagram.readUInt8(HEAD_BYTES - 1);
    const parsed =
      type === TYPE_MESSAGE
        ? parseMessage(body)
        : type === TYPE_OWNER
          ? parseOwner(body)
          : undefined;
    if (parsed === undefined) return 'malformed';
    const mac = datagram.subarray(macStart);
    if (!timingSafeEqual(this.mac(datagram.subarray(0, macStart)), mac)) return 'signature';
    const now = this.now();
    const sentAt = datagram.readUIntBE(MAGIC.length, 6);
    if (Math.abs(now - sentAt) > this.maxSkewMs) return 'stale';
    this.sweep(now);
    const id = mac.toString('base64');
    if (this.seen.has(id)) return 'replay';
    // Past sentAt + maxSkewMs the timestamp check refuses it: no need to remember it longer.
    this.seen.set(id, sentAt + this.maxSkewMs);
    return parsed;
  }

  private signed(type: number, body: Buffer[]): Buffer {
    const head = Buffer.alloc(HEAD_BYTES);
    MAGIC.copy(head, 0);
    head.writeUIntBE(this.now(), MAGIC.length, 6);
    head.writeUInt8(type, HEAD_BYTES - 1);
    const signed = Buffer.concat([head, ...body]);
    return Buffer.concat([signed, this.mac(signed)]);
  }

  private mac(data: Buffer): Buffer {
    return createHmac('sha256', this.secret).update(data).digest();
  }

  /** Forgets expired signatures, at most once per skew window (bounded by the hand-off rate). */
  private sweep(now: number): void {
    if (now - this.sweptAt < this.maxSkewMs) return;
    this.sweptAt = now;
    for (const [id, until] of this.seen) if (until < now) this.seen.delete(id);
  }
}

function parseMessage(body: Buffer): HandoffMessage | undefined {
  if (body.length < 3) return undefined;
  const addressEnd = 3 + body.readUInt8(2);
  if (addressEnd > body.length) return undefined;
  return {
    source: { address: body.toString('latin1', 3, addressEnd), port: body.readUInt16BE(0) },
    sip: body.subarray(addressEnd),
  };
}

function parseOwner(body: Buffer): OwnerAnnouncement | undefined {
  if (body.length < 3) return undefined;
  const ownerEnd = 3 + body.readUInt16BE(1);
  if (ownerEnd >= body.length) return undefined;
  return {
    owner: body.toString('latin1', 3, ownerEnd),
    invite: body.readUInt8(0) === 1,
    tx: body.subarray(ownerEnd),
  };
}
