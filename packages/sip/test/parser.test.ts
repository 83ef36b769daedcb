// Framing, start lines and header splitting (RFC 3261 sections 7, 18.3).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SipParseError, SipRequest, SipResponse, parseMessage } from '../src/index.js';
import { INVITE, OK200, SDP, rejects } from './helpers.js';

describe('parseMessage', () => {
  it('parses a request and its routing headers', () => {
    const m = parseMessage(Buffer.from(INVITE));
    assert.ok(m instanceof SipRequest);
    assert.equal(m.method, 'INVITE');
    assert.equal(m.uri, 'sip:bob@biloxi.example.com');
    assert.equal(m.callId, 'a84b4c76e66710@pc33.atlanta.example.com');
    assert.deepEqual(m.cseq, { seq: 314159, method: 'INVITE' });
    assert.equal(m.from.tag, '1928301774');
    assert.equal(m.to.tag, undefined);
    assert.equal(m.topVia?.branch, 'z9hG4bK776asdhds');
    assert.equal(m.body.toString('latin1'), SDP);
    assert.deepEqual(m.getHeaders('allow'), [
      'INVITE',
      'ACK',
      'CANCEL',
      'BYE',
      'OPTIONS',
      'UPDATE',
    ]);
  });

  it('parses a response', () => {
    const m = parseMessage(OK200);
    assert.ok(m instanceof SipResponse);
    assert.equal(m.status, 200);
    assert.equal(m.reason, 'OK');
    assert.equal(m.to.tag, 'a6c85cf');
    assert.equal(m.vias.length, 2);
    assert.equal(m.maxForwards, undefined);
  });

  it('header names are case-insensitive and compact forms are equivalent', () => {
    const text = INVITE.replace('Call-ID:', 'i:')
      .replace('From:', 'f:')
      .replace('To:', 't:')
      .replace('Via:', 'V:');
    const m = parseMessage(text);
    assert.equal(m.getHeader('CALL-ID'), m.getHeader('i'));
    assert.equal(m.callId, 'a84b4c76e66710@pc33.atlanta.example.com');
    assert.equal(m.from.tag, '1928301774');
    assert.ok(m.hasHeader('via'));
    for (const [c, long] of Object.entries({
      m: 'contact',
      e: 'content-encoding',
      c: 'content-type',
      s: 'subject',
      k: 'supported',
      o: 'event',
      r: 'refer-to',
      x: 'session-expires',
    })) {
      const x = parseMessage(
        OK200.replace('Content-Length: 0', `${c}: val-${c}\r\nContent-Length: 0`).replace(
          /^Contact:.*\r\n/m,
          '',
        ),
      );
      assert.equal(x.getHeader(long), `val-${c}`, long);
    }
  });

  it('tolerates bare LF line ends and leading CRLFs (RFC 3261 section 7.5)', () => {
    const lf = '\r\n\r\n' + OK200.replaceAll('\r\n', '\n');
    const m = parseMessage(lf);
    assert.equal(m.callId, 'a84b4c76e66710@pc33.atlanta.example.com');
    assert.equal(m.vias.length, 2);
  });

  it('UDP framing: no Content-Length means the rest; extra bytes are cut; too few is an error', () => {
    const noCl = INVITE.replace(`Content-Length: ${SDP.length}\r\n`, '');
    assert.equal(parseMessage(noCl).body.toString(), SDP);
    assert.equal(parseMessage(INVITE + 'garbage').body.toString(), SDP);
    const e = rejects(INVITE.slice(0, -5), 'SIPFLEET_ERR_PARSE_CONTENT_LENGTH');
    assert.ok(e.request, 'a request with a short body can still be answered');
  });

  it('rejects conflicting Content-Length values and accepts equal duplicates', () => {
    rejects(
      OK200.replace('Content-Length: 0', 'Content-Length: 0\r\nl: 3'),
      'SIPFLEET_ERR_PARSE_CONTENT_LENGTH',
    );
    const dup = OK200.replace('Content-Length: 0', 'Content-Length: 0\r\nl: 0');
    assert.equal(parseMessage(dup).toString(), OK200, 'the duplicate is dropped on output');
  });

  it('rejects structural faults', () => {
    rejects('', 'SIPFLEET_ERR_PARSE_EMPTY');
    rejects('\r\n\r\n', 'SIPFLEET_ERR_PARSE_EMPTY');
    rejects('INVITE sip:a@b SIP/2.0', 'SIPFLEET_ERR_PARSE_TRUNCATED');
    rejects(OK200.slice(0, OK200.length - 2), 'SIPFLEET_ERR_PARSE_TRUNCATED');
    rejects(OK200.replace('Contact:', 'Contact'), 'SIPFLEET_ERR_PARSE_HEADER');
    rejects(OK200.replace('\r\nVia:', '\r\n Via:'), 'SIPFLEET_ERR_PARSE_HEADER');
    rejects(OK200.replace('Contact:', 'Con tact:'), 'SIPFLEET_ERR_PARSE_HEADER');
    rejects(OK200.replace('SIP/2.0 200 OK', 'SIP/2.0 2000 OK'), 'SIPFLEET_ERR_PARSE_START_LINE');
    rejects(OK200.replace('SIP/2.0 200 OK', 'SIP/2.0 099 OK'), 'SIPFLEET_ERR_PARSE_START_LINE');
    rejects(OK200.replace('SIP/2.0 200 OK', 'SIP/3.0 200 OK'), 'SIPFLEET_ERR_PARSE_VERSION', 505);
    rejects(INVITE.replace('INVITE sip', 'INV<ITE sip'), 'SIPFLEET_ERR_PARSE_START_LINE');
    rejects('garbage\r\n\r\n', 'SIPFLEET_ERR_PARSE_START_LINE');
  });

  it('rejects a malformed Via below the top one, in its own line or in a list', () => {
    const second =
      'Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport=5060';
    rejects(
      OK200.replace(second, 'Via: SIP/2.0/UDP pc33.atlanta.example.com:99999'),
      'SIPFLEET_ERR_PARSE_HEADER',
    );
    rejects(OK200.replace(second, 'Via: SIP/2.0/UDP h;rport=x'), 'SIPFLEET_ERR_PARSE_HEADER');
    rejects(
      OK200.replace(second, 'Via: SIP/2.0/UDP a.example.com, SIP/2.0 b.example.com'),
      'SIPFLEET_ERR_PARSE_HEADER',
    );
    const ok = parseMessage(
      OK200.replace(second, 'Via: SIP/2.0/UDP a.example.com, SIP/2.0/TCP b.example.com:5070;rport'),
    );
    assert.deepEqual(
      ok.vias.map((v) => [v.transport, v.host, v.port, v.rport]),
      [
        ['UDP', 'edge1.example.net', undefined, undefined],
        ['UDP', 'a.example.com', undefined, undefined],
        ['TCP', 'b.example.com', 5070, null],
      ],
    );
    assert.equal(ok.vias[0], ok.topVia);
    assert.deepEqual(
      [...(ok.topVia?.params ?? [])],
      [
        ['branch', 'z9hG4bKnashds8'],
        ['received', '192.0.2.1'],
      ],
    );
  });

  it('requires Via, From, To, Call-ID and CSeq once each (RFC 3261 section 8.1.1)', () => {
    for (const h of ['Via', 'From', 'To', 'Call-ID', 'CSeq']) {
      const without = OK200.split('\r\n')
        .filter((l) => !l.startsWith(h + ':'))
        .join('\r\n');
      rejects(without, 'SIPFLEET_ERR_PARSE_MISSING_HEADER');
    }
    rejects(
      OK200.replace('Call-ID:', 'Call-ID: other\r\nCall-ID:'),
      'SIPFLEET_ERR_PARSE_MISSING_HEADER',
    );
  });

  it('Max-Forwards must be 0-255', () => {
    const e = rejects(
      INVITE.replace('Max-Forwards: 70', 'Max-Forwards: 256'),
      'SIPFLEET_ERR_PARSE_HEADER',
    );
    assert.ok(e.request);
    assert.equal(
      parseMessage(INVITE.replace('Max-Forwards: 70', 'Max-Forwards: 0')).maxForwards,
      0,
    );
  });

  it('unknown Request-URI schemes parse; parsedUri answers 416 (RFC 4475 section 3.3.2)', () => {
    const m = parseMessage(
      INVITE.replace(
        'INVITE sip:bob@biloxi.example.com',
        'INVITE nobodyknowsthisscheme:totallyopaquecontent',
      ),
    );
    assert.ok(m instanceof SipRequest);
    assert.throws(
      () => m.parsedUri,
      (e: unknown) => e instanceof SipParseError && e.status === 416,
    );
  });

  it('the 413 limit', () => {
    assert.throws(
      () => parseMessage(INVITE, { maxBytes: 100 }),
      (e: unknown) =>
        e instanceof SipParseError && e.status === 413 && e.code === 'SIPFLEET_ERR_PARSE_TOO_LARGE',
    );
    assert.ok(parseMessage(INVITE, { maxBytes: INVITE.length }));
  });

  it('getters of non-core headers throw SipParseError lazily', () => {
    const m = parseMessage(
      OK200.replace('Record-Route: <sip:edge1.example.net;lr>', 'Record-Route: <sip:edge1'),
    );
    assert.throws(() => m.recordRoutes, SipParseError);
    assert.throws(() => m.validate(), SipParseError);
  });

  it('Contact: * yields no contacts', () => {
    const m = parseMessage(OK200.replace('Contact: <sip:bob@192.0.2.4>', 'Contact: *'));
    assert.deepEqual(m.contacts, []);
    assert.equal(m.getHeader('contact'), '*');
  });

  it('getHeaders does not split headers whose values contain commas', () => {
    const m = parseMessage(
      OK200.replace(
        'Content-Length: 0',
        'WWW-Authenticate: Digest realm="a", nonce="b"\r\nDate: Thu, 21 Feb 2002 13:02:03 GMT\r\nContent-Length: 0',
      ),
    );
    assert.deepEqual(m.getHeaders('www-authenticate'), ['Digest realm="a", nonce="b"']);
    assert.deepEqual(m.getHeaders('date'), ['Thu, 21 Feb 2002 13:02:03 GMT']);
    m.validate();
  });
});
