// Mutators re-render only the fields they touch: every other line leaves toBuffer() byte-for-byte.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SipParseError, SipRequest, parseMessage } from '../src/index.js';
import type { Via } from '../src/index.js';
import { INVITE, OK200, SDP } from './helpers.js';

function request(text: string): SipRequest {
  const m = parseMessage(Buffer.from(text, 'latin1'));
  assert.ok(m instanceof SipRequest);
  return m;
}
const lines = (b: Buffer): string[] => b.toString('latin1').split('\r\n');

/** Lines of `after` minus the ones listed, must equal `before` minus the ones listed. */
function untouchedEqual(
  before: string[],
  after: string[],
  added: string[],
  removed: string[],
): void {
  const a = after.filter((l) => !added.includes(l));
  const b = before.filter((l) => !removed.includes(l));
  assert.deepEqual(a, b);
}

/** A Via a mutator kept (not parsed again) must be what parsing the serialised message gives. */
function sameVia(kept: Via | undefined, parsed: Via | undefined): void {
  assert.ok(kept && parsed);
  for (const k of [
    'protocol',
    'transport',
    'host',
    'port',
    'branch',
    'received',
    'rport',
  ] as const) {
    assert.deepEqual(kept[k], parsed[k], k);
  }
  assert.deepEqual([...kept.params], [...parsed.params]);
  assert.equal(kept.toString(), parsed.toString());
}

describe('mutators', () => {
  it('an untouched message serialises to the input bytes', () => {
    assert.equal(request(INVITE).toBuffer().toString('latin1'), INVITE);
    assert.equal(parseMessage(OK200).toString(), OK200);
  });

  it('Via push: the new field goes on top, the other lines are byte-identical', () => {
    const m = request(INVITE);
    m.prependHeader('Via', 'SIP/2.0/UDP edge1.example.net;branch=z9hG4bKnew');
    const out = lines(m.toBuffer());
    assert.equal(out[1], 'Via: SIP/2.0/UDP edge1.example.net;branch=z9hG4bKnew');
    untouchedEqual(lines(Buffer.from(INVITE)), out, [out[1] ?? ''], []);
    assert.equal(m.topVia?.host, 'edge1.example.net');
    assert.equal(m.vias.length, 2);
  });

  it('Via pop on a response: removes the top field, keeps the rest verbatim', () => {
    const m = parseMessage(OK200);
    const popped = m.removeFirstValue('via');
    assert.equal(popped, 'SIP/2.0/UDP edge1.example.net;branch=z9hG4bKnashds8;received=192.0.2.1');
    assert.equal(m.topVia?.host, 'pc33.atlanta.example.com');
    assert.equal(m.topVia?.rport, 5060);
    assert.equal(m.toString(), OK200.replace(`Via: ${popped}\r\n`, ''));
  });

  it('Via pop from a comma-listed field re-renders only that field', () => {
    const text = INVITE.replace(
      'Via: SIP/2.0/UDP pc33',
      'Via: SIP/2.0/UDP p1.example.net;branch=z9hG4bKa , SIP/2.0/TCP pc33',
    );
    const m = request(text);
    assert.equal(m.vias.length, 2);
    assert.equal(m.removeFirstValue('v'), 'SIP/2.0/UDP p1.example.net;branch=z9hG4bKa');
    assert.equal(m.vias.length, 1);
    assert.equal(m.topVia?.transport, 'TCP');
    const out = lines(m.toBuffer());
    assert.equal(
      out[1],
      'Via: SIP/2.0/TCP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport',
    );
    assert.deepEqual(out.slice(2), lines(Buffer.from(text)).slice(2));
  });

  it('pop from a list of three: the rest re-rendered without empty elements; quoted commas stay', () => {
    const m = request(
      INVITE.replace(
        /Route: .*\r\n/,
        'Route: <sip:a.example.net;lr>,"x, y" <sip:b.example.net;lr>, ,<sip:c.example.net;lr>\r\n',
      ),
    );
    assert.equal(m.valueCount('route'), 3);
    assert.equal(m.removeFirstValue('route'), '<sip:a.example.net;lr>');
    assert.equal(m.getHeader('route'), '"x, y" <sip:b.example.net;lr>, <sip:c.example.net;lr>');
    assert.equal(m.valueCount('route'), 2);
  });

  it('valueCount is the length of getHeaders, for lists and single values alike', () => {
    const cases: [string, string][] = [
      ['Via', 'SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2'],
      ['Via', 'SIP/2.0/UDP a;branch=z9hG4bK1,'],
      ['Route', ' , <sip:x;lr> ,, <sip:y;lr>'],
      ['Route', '"a,b" <sip:x;lr>'],
      ['Supported', ''],
      ['Subject', 'one, two'],
      ['WWW-Authenticate', 'Digest realm="a", nonce="b"'],
    ];
    for (const [name, value] of cases) {
      const m = request(INVITE);
      m.appendHeader(name, value);
      assert.equal(m.valueCount(name), m.getHeaders(name).length, `${name}: ${value}`);
    }
  });

  it('Record-Route insert before existing ones', () => {
    const m = parseMessage(OK200);
    m.prependHeader('Record-Route', '<sip:edge2.example.net;lr>');
    assert.deepEqual(
      m.recordRoutes.map((r) => r.uri.host),
      ['edge2.example.net', 'edge1.example.net'],
    );
    const out = m.toString();
    assert.equal(
      out,
      OK200.replace('Record-Route:', 'Record-Route: <sip:edge2.example.net;lr>\r\nRecord-Route:'),
    );
  });

  it('Record-Route insert with none present goes before the first header line', () => {
    const m = request(INVITE);
    m.prependHeader('record-route', '<sip:edge1.example.net;lr>');
    const out = lines(m.toBuffer());
    assert.equal(out[1], 'Record-Route: <sip:edge1.example.net;lr>');
    untouchedEqual(lines(Buffer.from(INVITE)), out, [out[1] ?? ''], []);
  });

  it('Route pop (RFC 3261 section 16.4) from a comma list', () => {
    const m = request(INVITE);
    assert.equal(m.routes.length, 2);
    assert.equal(m.removeFirstValue('Route'), '<sip:edge1.example.net;lr>');
    assert.deepEqual(
      m.routes.map((r) => r.uri.host),
      ['core.example.net'],
    );
    assert.equal(m.removeFirstValue('Route'), '<sip:core.example.net;lr>');
    assert.equal(m.hasHeader('route'), false);
    assert.equal(m.removeFirstValue('Route'), undefined);
    assert.equal(m.toBuffer().toString('latin1'), INVITE.replace(/Route: .*\r\n/, ''));
  });

  it('Max-Forwards rewrite keeps the field position and the other lines', () => {
    const m = request(INVITE);
    assert.equal(m.maxForwards, 70);
    m.setHeader('Max-Forwards', String((m.maxForwards ?? 70) - 1));
    assert.equal(m.maxForwards, 69);
    assert.equal(
      m.toBuffer().toString('latin1'),
      INVITE.replace('Max-Forwards: 70', 'Max-Forwards: 69'),
    );
  });

  it('header removal', () => {
    const m = request(INVITE);
    assert.equal(m.removeHeader('user-agent'), 1);
    assert.equal(m.removeHeader('user-agent'), 0);
    assert.equal(
      m.toBuffer().toString('latin1'),
      INVITE.replace('User-Agent: sipfleet-test/1.0\r\n', ''),
    );
  });

  it('setHeader collapses repeated fields into one at the first position', () => {
    const m = request(
      INVITE.replace('Supported: replaces, timer', 'Supported: replaces\r\nk: timer'),
    );
    assert.deepEqual(m.getHeaders('supported'), ['replaces', 'timer']);
    m.setHeader('supported', '100rel');
    assert.deepEqual(m.getHeaders('k'), ['100rel']);
    assert.equal(
      m.toBuffer().toString('latin1'),
      INVITE.replace('Supported: replaces, timer', 'Supported: 100rel'),
    );
  });

  it('appendHeader goes after the last field of that name, or at the end', () => {
    const m = request(INVITE);
    m.appendHeader('Route', '<sip:last.example.net;lr>');
    m.appendHeader('X-Fleet', 'edge-1');
    const out = lines(m.toBuffer());
    const routeAt = out.indexOf('Route: <sip:last.example.net;lr>');
    assert.equal(out[routeAt - 1], 'Route: <sip:edge1.example.net;lr>, <sip:core.example.net;lr>');
    assert.equal(out[out.indexOf('') - 1], 'X-Fleet: edge-1');
  });

  it('setBody re-renders Content-Length and Content-Type only', () => {
    const m = request(INVITE);
    m.setBody('v=0\r\n', 'application/sdp');
    const out = m.toBuffer().toString('latin1');
    assert.equal(
      out,
      INVITE.replace(`Content-Length: ${SDP.length}`, 'Content-Length: 5').replace(SDP, 'v=0\r\n'),
    );
    m.body = Buffer.from('v=0\r\nx\r\n');
    assert.match(m.toBuffer().toString('latin1'), /Content-Length: 8\r\n/);
  });

  it('a missing Content-Length is added on output', () => {
    const text = OK200.replace('Content-Length: 0\r\n', '');
    const m = parseMessage(text);
    assert.equal(m.toString(), text.replace('\r\n\r\n', '\r\nContent-Length: 0\r\n\r\n'));
  });

  it('changing the Request-URI re-renders only the start line', () => {
    const m = request(INVITE);
    m.setUri('sip:bob@192.0.2.4:5070;transport=tcp');
    assert.equal(m.parsedUri.port, 5070);
    assert.equal(
      m.toBuffer().toString('latin1'),
      INVITE.replace(
        'INVITE sip:bob@biloxi.example.com',
        'INVITE sip:bob@192.0.2.4:5070;transport=tcp',
      ),
    );
    assert.throws(() => m.setUri('sip:a b'), SipParseError);
  });

  it('mutators refuse CR/LF injection and bad names', () => {
    const m = request(INVITE);
    assert.throws(() => m.setHeader('X-A', 'v\r\nVia: evil'), SipParseError);
    assert.throws(() => m.appendHeader('Bad Name', 'v'), SipParseError);
    assert.equal(m.toBuffer().toString('latin1'), INVITE);
  });

  it('clone is independent', () => {
    const m = request(INVITE);
    void m.topVia;
    const c = m.clone();
    c.prependHeader('Via', 'SIP/2.0/UDP fork.example.net;branch=z9hG4bKfork');
    c.setUri('sip:bob@fork.example.net');
    c.body[0] = 0x56; // 'V'
    assert.equal(m.toBuffer().toString('latin1'), INVITE);
    assert.equal(m.topVia?.host, 'pc33.atlanta.example.com');
    assert.equal(c.topVia?.host, 'fork.example.net');
    assert.ok(c instanceof SipRequest);
    assert.equal(c.parsedUri.host, 'fork.example.net');
  });

  it('a parsed Via edited and written back (received/rport, RFC 3581)', () => {
    const m = request(INVITE);
    const via = m.topVia;
    assert.ok(via);
    via.received = '203.0.113.9';
    via.rport = 40000;
    m.removeFirstValue('via');
    m.prependHeader('via', via.toString());
    assert.equal(
      lines(m.toBuffer())[1],
      'Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport=40000;received=203.0.113.9',
    );
    assert.equal(m.topVia?.received, '203.0.113.9');
  });

  it('a bare IPv6 received written back parses again, relayed and re-parsed (RFC 5118 section 4.5)', () => {
    const m = request(INVITE);
    const via = m.topVia;
    assert.ok(via);
    via.received = '2001:db8::99';
    via.rport = 40000;
    m.removeFirstValue('via');
    m.prependHeader('via', via.toString());
    assert.equal(m.topVia?.received, '2001:db8::99');
    const again = request(m.toBuffer().toString('latin1'));
    assert.equal(again.topVia?.received, '2001:db8::99');
    assert.equal(again.topVia?.rport, 40000);
    assert.equal(again.vias.length, 1);
  });

  it('pushVia: our Via on top with its parse ready, equal to a parse of what goes out', () => {
    for (const prefix of [
      'SIP/2.0/UDP 192.0.2.7:5060;branch=',
      'SIP/2.0/TCP [2001:db8::7]:5070;branch=',
    ]) {
      const m = request(INVITE);
      m.pushVia(prefix, 'z9hG4bKsf1234.ab');
      const again = request(m.toBuffer().toString('latin1'));
      assert.equal(again.getHeader('via'), prefix + 'z9hG4bKsf1234.ab');
      sameVia(m.topVia, again.topVia);
      assert.equal(m.vias.length, 2);
    }
    const m = request(INVITE);
    assert.throws(() => m.pushVia('SIP/2.0/UDP h:5060;rport', 'z9hG4bK1'), SipParseError);
    assert.throws(() => m.pushVia('SIP/2.0/UDP h:5060;branch=', 'z9hG4bK1\r\nX: y'), SipParseError);
    assert.equal(m.vias.length, 1);
  });

  describe('stampTopVia (received and rport, RFC 3261 section 18.2.1, RFC 3581 section 4)', () => {
    /** A request whose Via lines are `vias`, stamped; the top Via it keeps must be what a parse gives. */
    function stamped(vias: string[], received?: string, rport?: number): SipRequest {
      const m = request(INVITE.replace(/^Via: .*\r\n/m, vias.map((v) => `${v}\r\n`).join('')));
      m.stampTopVia(received, rport);
      const again = request(m.toBuffer().toString('latin1'));
      sameVia(m.topVia, again.topVia);
      assert.deepEqual(m.getHeaders('via'), again.getHeaders('via'));
      return m;
    }

    it('fills a valueless rport in place and appends received; the other lines stay as received', () => {
      const m = stamped(
        [
          'Via: SIP/2.0/UDP 10.1.1.1:4540;rport;branch=z9hG4bKa',
          'Via: SIP/2.0/UDP b ;branch=z9hG4bKb',
        ],
        '192.0.2.1',
        9988,
      );
      assert.deepEqual(m.getHeaders('via'), [
        'SIP/2.0/UDP 10.1.1.1:4540;rport=9988;branch=z9hG4bKa;received=192.0.2.1',
        'SIP/2.0/UDP b ;branch=z9hG4bKb',
      ]);
      const out = lines(m.toBuffer());
      assert.equal(out[2], 'Via: SIP/2.0/UDP b ;branch=z9hG4bKb');
    });

    it('replaces a received value in place and keeps spacing, case and quoted params', () => {
      const m = stamped(
        ['v: SIP/2.0/UDP 192.0.2.4 ; RECEIVED = 203.0.113.66 ;x="a;b" ;branch=z9hG4bK1'],
        '192.0.2.4',
      );
      assert.equal(
        m.getHeader('via'),
        'SIP/2.0/UDP 192.0.2.4 ; RECEIVED = 192.0.2.4 ;x="a;b" ;branch=z9hG4bK1',
      );
    });

    it('gives a flag followed by whitespace its value right after the name', () => {
      const m = stamped(['Via: SIP/2.0/UDP h ;rport  ;received;branch=z9hG4bK1'], '192.0.2.9', 7);
      assert.equal(
        m.getHeader('via'),
        'SIP/2.0/UDP h ;rport=7  ;received=192.0.2.9;branch=z9hG4bK1',
      );
    });

    it('adds both when absent, rport first, to the first value of a comma list only', () => {
      const m = stamped(
        ['Via: SIP/2.0/UDP [2001:db8::1]:5062;branch=z9hG4bK1, SIP/2.0/TCP h2;branch=z9hG4bK2'],
        '2001:db8::9',
        4000,
      );
      assert.deepEqual(m.getHeaders('via'), [
        'SIP/2.0/UDP [2001:db8::1]:5062;branch=z9hG4bK1;rport=4000;received=2001:db8::9',
        'SIP/2.0/TCP h2;branch=z9hG4bK2',
      ]);
    });

    it('keeps an rport value when only received is set, and a params map read before', () => {
      const m = request(
        INVITE.replace(/^Via: .*$/m, 'Via: SIP/2.0/UDP h;rport=7000;branch=z9hG4bK1'),
      );
      assert.equal(m.topVia?.params.get('rport'), '7000');
      m.stampTopVia('192.0.2.1', undefined);
      assert.equal(m.topVia?.rport, 7000);
      assert.equal(m.topVia?.params.get('received'), '192.0.2.1');
      assert.equal(
        m.getHeader('via'),
        'SIP/2.0/UDP h;rport=7000;branch=z9hG4bK1;received=192.0.2.1',
      );
    });
  });
});
