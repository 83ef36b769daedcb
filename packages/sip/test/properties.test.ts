// Property-based robustness (fast-check): arbitrary and mutated input never escapes as anything but a
// SipParseError, and what parses round-trips through toBuffer(). Iteration counts are generous; there are
// no timing assertions (a pathological slow path shows up as a test timeout instead).
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { SipParseError, SipRequest, parseMessage } from '../src/index.js';
import type { SipMessage, SipResponse } from '../src/index.js';
import { mutation } from './arbitraries.js';
import { INVITE, OK200 } from './helpers.js';

const validDir = join(import.meta.dirname, 'fixtures', 'rfc4475', 'valid');
const BASES: Buffer[] = [
  Buffer.from(INVITE, 'latin1'),
  Buffer.from(OK200, 'latin1'),
  ...readdirSync(validDir).map((f) => readFileSync(join(validDir, f))),
];

/** Runs `fn`; anything thrown must be a SipParseError. Returns the result or undefined. */
function guarded<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch (e) {
    if (e instanceof SipParseError) return undefined;
    throw e;
  }
}

/** Everything a caller may touch on a parsed message, each access allowed to fail only with SipParseError. */
function exercise(m: SipMessage): void {
  guarded(() => m.topVia?.toString());
  guarded(() => m.vias.map(String));
  guarded(() => m.from.toString() + m.to.toString());
  guarded(() => m.from.uri.toString());
  guarded(() => m.routes.map((r) => r.uri.toString()));
  guarded(() => m.recordRoutes.map(String));
  guarded(() => m.contacts.map((c) => c.uri.toString()));
  guarded(() => m.maxForwards);
  guarded(() => m.validate());
  if (m instanceof SipRequest) guarded(() => m.parsedUri.toString());
  m.getHeaders('accept');
  m.toBuffer();
}

/** Comparable view of a message; Content-Length is compared through the body. */
function snapshot(m: SipRequest | SipResponse): unknown {
  return {
    start: m instanceof SipRequest ? [m.method, m.uri] : [m.status, m.reason],
    headers: m
      .headerFields()
      .filter((f) => f.key !== 'content-length')
      .map((f) => [f.key, f.value]),
    body: m.body.toString('latin1'),
  };
}

/** Does the input contain exactly what toBuffer() would write back for an untouched message? */
function canonicalFraming(input: Buffer, m: SipMessage): boolean {
  const cl = m.headerFields().filter((f) => f.key === 'content-length');
  const bodyStart = input.length - m.body.length;
  return (
    input[0] !== 13 &&
    input[0] !== 10 &&
    cl.length === 1 &&
    cl[0]?.value === String(m.body.length) &&
    // the header block must end right where the body starts: bytes after Content-Length are dropped
    input.indexOf('\r\n\r\n', 0, 'latin1') + 4 === bodyStart
  );
}

const mutated = fc
  .tuple(fc.constantFrom(...BASES), fc.array(mutation, { minLength: 1, maxLength: 4 }))
  .map(([base, ms]) => ms.reduce((b, m) => m(b), base));

/** Parse, touch, and check the round-trip properties on whatever parses. */
function check(input: Buffer): void {
  const m = guarded(() => parseMessage(input));
  if (m === undefined) return;
  exercise(m);
  const again = parseMessage(m.toBuffer());
  assert.deepEqual(snapshot(again), snapshot(m));
  if (canonicalFraming(input, m))
    assert.ok(m.toBuffer().equals(input), 'untouched message is copied verbatim');
  // a proxy's touch, then the round trip again
  const touched = m.clone();
  touched.prependHeader('Via', 'SIP/2.0/UDP edge.example.net;branch=z9hG4bKprop');
  touched.setHeader('Max-Forwards', '69');
  const reparsed = parseMessage(touched.toBuffer());
  assert.deepEqual(snapshot(reparsed), snapshot(touched));
  assert.equal(reparsed.topVia?.branch, 'z9hG4bKprop');
}

describe('parser properties', () => {
  it('random bytes only ever raise SipParseError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1500 }), (bytes) => check(Buffer.from(bytes))),
      { numRuns: 500 },
    );
  });

  it('random SIP-looking text only ever raises SipParseError', () => {
    const core = [
      'Via: SIP/2.0/UDP h.example.com;branch=z9hG4bK1',
      'From: <sip:a@example.com>;tag=1',
      'To: <sip:b@example.com>',
      'Call-ID: c1',
      'CSeq: 1 INVITE',
    ];
    const line = fc.oneof(
      fc.constantFrom(...core),
      fc.stringMatching(/^[A-Za-z-]{1,12} ?: ?[ -~]{0,60}$/),
      fc
        .tuple(
          fc.constantFrom('Route', 'Contact', 'm', 'Max-Forwards', 'v', 'To', 'l'),
          fc.string({ unit: 'binary-ascii', maxLength: 60 }),
        )
        .map(([n, v]) => `${n}: ${v}`),
    );
    const text = fc
      .tuple(
        fc.constantFrom('INVITE sip:a@b SIP/2.0', 'SIP/2.0 200 OK', 'ACK sip:x SIP/2.0'),
        fc.array(line, { maxLength: 15 }),
        fc.string(),
      )
      .map(([start, lines, body]) =>
        Buffer.from([start, ...lines, '', body].join('\r\n'), 'latin1'),
      );
    fc.assert(fc.property(text, check), { numRuns: 300 });
  });

  it('mutated valid messages only raise SipParseError and round-trip when they parse', () => {
    fc.assert(fc.property(mutated, check), { numRuns: 1200 });
  });

  it('every valid base message round-trips byte-for-byte', () => {
    for (const base of BASES) check(base);
  });
});
