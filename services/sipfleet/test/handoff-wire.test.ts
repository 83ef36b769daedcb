// The hand-off datagram: only an edge with the fleet secret can make one the receiver accepts, and
// an accepted one cannot be played again (within the skew window: remembered; after it: too old).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HandoffWire } from '../src/edge/handoff/wire.js';

const SECRET = Buffer.from('fleet-secret-0123456789');
const SIP = Buffer.from(
  'CANCEL sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\n\r\n',
);
const SOURCE = { address: '192.0.2.7', port: 5062 };

/** A wire whose clock the test moves. */
function wireAt(secret: Buffer, clock: { now: number }): HandoffWire {
  return new HandoffWire(secret, 5000, () => clock.now);
}

test('a sealed message opens with the same secret: source and SIP bytes as sent', () => {
  const clock = { now: 1_700_000_000_000 };
  const opened = wireAt(SECRET, clock).open(
    wireAt(SECRET, clock).seal({ source: SOURCE, sip: SIP }),
  );
  assert.ok(typeof opened !== 'string' && 'sip' in opened, `a SIP message, got ${String(opened)}`);
  assert.deepEqual(opened.source, SOURCE);
  assert.ok(opened.sip.equals(SIP));
});

test('another secret, a changed byte or a truncated datagram is refused', () => {
  const clock = { now: 1_700_000_000_000 };
  const receiver = wireAt(SECRET, clock);
  const forged = wireAt(Buffer.from('not-the-fleet-secret'), clock).seal({
    source: SOURCE,
    sip: SIP,
  });
  assert.equal(receiver.open(forged), 'signature');
  const sealed = wireAt(SECRET, clock).seal({ source: SOURCE, sip: SIP });
  const tampered = Buffer.from(sealed);
  tampered[20] = (tampered[20] ?? 0) ^ 1;
  assert.equal(receiver.open(tampered), 'signature');
  assert.equal(receiver.open(sealed.subarray(0, 20)), 'malformed');
  assert.equal(
    receiver.open(Buffer.from('INVITE sip:x SIP/2.0\r\n\r\n' + 'x'.repeat(40))),
    'malformed',
  );
});

test('a replay is refused: inside the skew window as a replay, after it as stale', () => {
  const clock = { now: 1_700_000_000_000 };
  const receiver = wireAt(SECRET, clock);
  const sealed = wireAt(SECRET, clock).seal({ source: SOURCE, sip: SIP });
  assert.notEqual(typeof receiver.open(sealed), 'string');
  clock.now += 1000;
  assert.equal(receiver.open(sealed), 'replay');
  clock.now += 10_000;
  assert.equal(receiver.open(sealed), 'stale');
  // A sender whose clock runs ahead by more than the window is refused too.
  const ahead = wireAt(SECRET, { now: clock.now + 6000 }).seal({ source: SOURCE, sip: SIP });
  assert.equal(receiver.open(ahead), 'stale');
});

test('an owner announcement opens as sent; a forged one is refused', () => {
  const clock = { now: 1_700_000_000_000 };
  const announcement = { owner: 'edge-1.lq2x3.abcdef', invite: true, tx: Buffer.alloc(20, 7) };
  const opened = wireAt(SECRET, clock).open(wireAt(SECRET, clock).sealOwner(announcement));
  assert.deepEqual(opened, announcement);
  const forged = wireAt(Buffer.from('not-the-fleet-secret'), clock).sealOwner(announcement);
  assert.equal(wireAt(SECRET, clock).open(forged), 'signature');
});
