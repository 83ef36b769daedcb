// ParseOptions limits on what a peer controls: each one lets a message at the limit through and refuses
// one over it with the status to answer and the request attached (so it can be answered), or, for a
// response, without one (dropped).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DEFAULT_PARSE_LIMITS, SipRequest, parseMessage } from '../src/index.js';
import { rejects } from './helpers.js';

function request(opts: { uri?: string; extra?: string[]; vias?: string[]; body?: string } = {}) {
  const body = opts.body ?? '';
  return [
    `OPTIONS ${opts.uri ?? 'sip:bob@example.com'} SIP/2.0`,
    ...(opts.vias ?? ['Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKlim']),
    'Max-Forwards: 70',
    'From: <sip:alice@example.com>;tag=1',
    'To: <sip:bob@example.com>',
    'Call-ID: limits@192.0.2.1',
    'CSeq: 1 OPTIONS',
    ...(opts.extra ?? []),
    `Content-Length: ${body.length}`,
    '',
    body,
  ].join('\r\n');
}

/** Via, Max-Forwards, From, To, Call-ID, CSeq, Content-Length. */
const BASE_FIELDS = 7;

const LIMIT = 'SIPFLEET_ERR_PARSE_LIMIT';
const TOO_LARGE = 'SIPFLEET_ERR_PARSE_TOO_LARGE';

describe('parse limits', () => {
  it('maxHeaders: header fields', () => {
    const text = request({ extra: ['X-A: 1', 'X-B: 2'] });
    parseMessage(text, { maxHeaders: BASE_FIELDS + 2 });
    const err = rejects(text, LIMIT, 400, { maxHeaders: BASE_FIELDS + 1 });
    assert.ok(err.request instanceof SipRequest, 'answerable');
    assert.equal(err.request.callId, 'limits@192.0.2.1');
  });

  it('maxHeaderLineBytes: one field, folded lines included', () => {
    const value = 'x'.repeat(100);
    const line = `Subject: ${value}\r\n`.length;
    parseMessage(request({ extra: [`Subject: ${value}`] }), { maxHeaderLineBytes: line });
    rejects(request({ extra: [`Subject: ${value}`] }), LIMIT, 400, {
      maxHeaderLineBytes: line - 1,
    });
    // a fold does not split the count: the field is one
    const folded = `Subject: ${value.slice(0, 50)}\r\n ${value.slice(50)}`;
    rejects(request({ extra: [folded] }), LIMIT, 400, { maxHeaderLineBytes: line - 1 });
  });

  it('maxRequestUriBytes: 414 (RFC 3261 section 21.4.12)', () => {
    const uri = `sip:${'a'.repeat(60)}@example.com`;
    parseMessage(request({ uri }), { maxRequestUriBytes: uri.length });
    const err = rejects(request({ uri }), LIMIT, 414, { maxRequestUriBytes: uri.length - 1 });
    assert.ok(err.request);
  });

  it('maxVias: every Via value, comma lists included', () => {
    const vias = [
      'Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa, SIP/2.0/UDP 192.0.2.2;branch=z9hG4bKb',
      'Via: SIP/2.0/UDP 192.0.2.3;branch=z9hG4bKc;x="a,b"',
    ];
    parseMessage(request({ vias }), { maxVias: 3 });
    const err = rejects(request({ vias }), LIMIT, 400, { maxVias: 2 });
    assert.ok(err.request);
  });

  it('maxBodyBytes: a declared Content-Length over it is 413 even before the bytes came', () => {
    const body = 'v=0\r\n'.repeat(20);
    parseMessage(request({ body }), { maxBodyBytes: body.length });
    rejects(request({ body }), TOO_LARGE, 413, { maxBodyBytes: body.length - 1 });
    const announced = request().replace('Content-Length: 0', 'Content-Length: 1000000');
    const err = rejects(announced, TOO_LARGE, 413, { maxBodyBytes: 1000 });
    assert.ok(err.request, 'answered: the peer learns why');
  });

  it('maxBodyBytes: without Content-Length (UDP), the rest of the datagram counts', () => {
    const text = request({ body: 'x'.repeat(10) }).replace('Content-Length: 10\r\n', '');
    parseMessage(text, { maxBodyBytes: 10 });
    rejects(text, TOO_LARGE, 413, { maxBodyBytes: 9 });
  });

  it('a response over a limit carries no request: nothing to answer, it is dropped', () => {
    const text = [
      'SIP/2.0 200 OK',
      'Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa',
      'From: <sip:alice@example.com>;tag=1',
      'To: <sip:bob@example.com>;tag=2',
      'Call-ID: r@192.0.2.1',
      'CSeq: 1 OPTIONS',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    assert.equal(rejects(text, LIMIT, 400, { maxHeaders: 3 }).request, undefined);
  });

  it('the defaults leave room for the largest RFC 4475 message (longreq)', () => {
    const longreq = readFileSync(
      join(import.meta.dirname, 'fixtures', 'rfc4475', 'valid', 'longreq.sip'),
    );
    assert.ok(parseMessage(longreq, DEFAULT_PARSE_LIMITS) instanceof SipRequest);
  });
});
