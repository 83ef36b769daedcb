// The hand-off datagram between edges: a SIP message another edge received, with the address it
// came from, signed with the fleet's secret. Nothing outside the fleet can inject a message through
// the hand-off socket: without the secret no signature verifies, and a captured datagram replays
// neither after `maxSkewMs` (its timestamp) nor within it (its signature is remembered).
//
//   "SFH1" | sent at: ms since the epoch, 6 bytes | source port, 2 bytes | source address length,
//   1 byte | source address (ASCII) | SIP message | HMAC-SHA256 over everything before, 32 bytes
import { createHmac, timingSafeEqual } from 'node:crypto';

const MAGIC = Buffer.from('SFH1', 'latin1');
const MAC_BYTES = 32;
/** Magic, timestamp, port and address length. */
const FIXED_BYTES = MAGIC.length + 6 + 2 + 1;

/** Where the handed message came from: the UDP source the receiving edge saw. */
export interface HandoffSource {
  readonly address: string;
  readonly port: number;
}

export interface HandoffMessage {
  readonly source: HandoffSource;
  readonly sip: Buffer;
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
    const head = Buffer.alloc(FIXED_BYTES);
    MAGIC.copy(head, 0);
    head.writeUIntBE(this.now(), MAGIC.length, 6);
    head.writeUInt16BE(message.source.port, MAGIC.length + 6);
    head.writeUInt8(address.length, MAGIC.length + 8);
    const signed = Buffer.concat([head, address, message.sip]);
    return Buffer.concat([signed, this.mac(signed)]);
  }

  /** The message, or why the datagram was refused. */
  open(datagram: Buffer): HandoffMessage | HandoffRejection {
    if (datagram.length < FIXED_BYTES + MAC_BYTES || !datagram.subarray(0, 4).equals(MAGIC)) {
      return 'malformed';
    }
    const addressEnd = FIXED_BYTES + datagram.readUInt8(MAGIC.length + 8);
    const macStart = datagram.length - MAC_BYTES;
    if (addressEnd > macStart) return 'malformed';
    const signed = datagram.subarray(0, macStart);
    const mac = datagram.subarray(macStart);
    if (!timingSafeEqual(this.mac(signed), mac)) return 'signature';
    const now = this.now();
    const sentAt = datagram.readUIntBE(MAGIC.length, 6);
    if (Math.abs(now - sentAt) > this.maxSkewMs) return 'stale';
    this.sweep(now);
    const id = mac.toString('base64');
    if (this.seen.has(id)) return 'replay';
    // Past sentAt + maxSkewMs the timestamp check refuses it: no need to remember it longer.
    this.seen.set(id, sentAt + this.maxSkewMs);
    return {
      source: {
        address: datagram.toString('latin1', FIXED_BYTES, addressEnd),
        port: datagram.readUInt16BE(MAGIC.length + 6),
      },
      sip: datagram.subarray(addressEnd, macStart),
    };
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
