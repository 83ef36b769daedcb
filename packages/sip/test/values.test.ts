// URIs, name-addr and Via values (RFC 3261 sections 19.1, 20.10, 20.42).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SipParseError, parseNameAddr, parseUri, parseVia } from '../src/index.js';

const rejects = (fn: () => unknown, status = 400): void => {
  assert.throws(fn, (e: unknown) => e instanceof SipParseError && e.status === status);
};

describe('parseUri', () => {
  it('sip URI with every component', () => {
    const u = parseUri(
      'sips:al%69ce:se%3Acret@atlanta.example.com:5061;transport=TCP;lr;maddr=239.255.255.1?subject=project%20x&priority=urgent',
    );
    assert.equal(u.scheme, 'sips');
    assert.equal(u.user, 'alice');
    assert.equal(u.password, 'se:cret');
    assert.equal(u.host, 'atlanta.example.com');
    assert.equal(u.port, 5061);
    assert.deepEqual(
      [...u.params],
      [
        ['transport', 'TCP'],
        ['lr', null],
        ['maddr', '239.255.255.1'],
      ],
    );
    assert.deepEqual(
      [...u.headers],
      [
        ['subject', 'project x'],
        ['priority', 'urgent'],
      ],
    );
    assert.equal(
      u.toString(),
      'sips:alice:se%3Acret@atlanta.example.com:5061;transport=TCP;lr;maddr=239.255.255.1?subject=project%20x&priority=urgent',
    );
  });

  it('IPv4 and IPv6 hosts; scheme is case-insensitive', () => {
    assert.equal(parseUri('SIP:192.0.2.1:5060').host, '192.0.2.1');
    const v6 = parseUri('sip:[2001:db8::10]:5070;lr');
    assert.equal(v6.scheme, 'sip');
    assert.equal(v6.host, '[2001:db8::10]');
    assert.equal(v6.port, 5070);
    assert.equal(v6.toString(), 'sip:[2001:db8::10]:5070;lr');
  });

  it('tel URI', () => {
    const t = parseUri('tel:+1-201-555-0123;phone-context=example.com');
    assert.equal(t.scheme, 'tel');
    assert.equal(t.user, '+1-201-555-0123');
    assert.equal(t.host, '');
    assert.equal(t.params.get('phone-context'), 'example.com');
    assert.equal(t.toString(), 'tel:+1-201-555-0123;phone-context=example.com');
  });

  it('unknown schemes are 416, malformed URIs 400', () => {
    rejects(() => parseUri('http://example.com/'), 416);
    rejects(() => parseUri('nobodyknowsthisscheme:totallyopaquecontent'), 416);
    for (const bad of [
      '',
      'sip:',
      ' sip:a@b',
      'sip:a@b ',
      'sip:@host',
      'sip:a@[::1',
      'sip:host:99999',
      'sip:host:',
      'sip:user%zz@host',
      'sip:host;=x',
      'sip:host?novalue',
      '<sip:host>',
    ]) {
      rejects(() => parseUri(bad));
    }
  });
});

describe('parseNameAddr', () => {
  it('quoted display name with escapes and header params after >', () => {
    const a = parseNameAddr(
      '"A \\"quoted\\" \\\\ name" <sip:a@example.com;lr>;tag=abc;expires=60;+sip.instance="<urn:x>"',
    );
    assert.equal(a.displayName, 'A "quoted" \\ name');
    assert.equal(a.uri.params.get('lr'), null);
    assert.equal(a.tag, 'abc');
    assert.equal(a.params.get('expires'), '60');
    assert.equal(a.params.get('+sip.instance'), '"<urn:x>"');
    assert.equal(
      a.toString(),
      '"A \\"quoted\\" \\\\ name" <sip:a@example.com;lr>;tag=abc;expires=60;+sip.instance="<urn:x>"',
    );
  });

  it('token display name, and no display name', () => {
    assert.equal(parseNameAddr('Bob Smith <sip:bob@example.com>').displayName, 'Bob Smith');
    assert.equal(parseNameAddr('<sip:bob@example.com>').displayName, undefined);
  });

  it('addr-spec form: params after the URI belong to the header (RFC 3261 section 20.10)', () => {
    const a = parseNameAddr('sip:bob@example.com;tag=xyz;lr');
    assert.equal(a.tag, 'xyz');
    assert.equal(a.params.get('lr'), null);
    assert.equal(a.uri.params.size, 0);
    assert.equal(a.toString(), '<sip:bob@example.com>;tag=xyz;lr');
  });

  it('tag edits show in toString', () => {
    const a = parseNameAddr('<sip:bob@example.com>');
    a.tag = 'new';
    assert.equal(a.toString(), '<sip:bob@example.com>;tag=new');
  });

  it('rejects malformed values', () => {
    for (const bad of [
      '"unterminated <sip:a@b>',
      '"name" sip:a@b',
      '<sip:a@b',
      '< sip:a@b>',
      'Bell, Alexander <sip:a@b>',
      'sip:a@b?x=y',
      '<sip:a@b>;',
      '<sip:a@b>;tag=',
      '<sip:a@b> junk',
      '',
    ]) {
      rejects(() => parseNameAddr(bad));
    }
    rejects(() => parseNameAddr('<mailto:a@b>'), 416);
  });
});

describe('parseVia', () => {
  it('all parts and params', () => {
    const v = parseVia(
      'SIP/2.0/udp [2001:db8::9]:5080;branch=z9hG4bK1;received=192.0.2.7;rport=5081;maddr=10.0.0.1;ttl=16',
    );
    assert.equal(v.protocol, 'SIP/2.0');
    assert.equal(v.transport, 'UDP');
    assert.equal(v.host, '[2001:db8::9]');
    assert.equal(v.port, 5080);
    assert.equal(v.branch, 'z9hG4bK1');
    assert.equal(v.received, '192.0.2.7');
    assert.equal(v.rport, 5081);
    assert.equal(v.params.get('ttl'), '16');
  });

  it('rport without value is null, absent is undefined', () => {
    assert.equal(parseVia('SIP/2.0/UDP h;rport;branch=z9hG4bK2').rport, null);
    assert.equal(parseVia('SIP/2.0/UDP h;branch=z9hG4bK2').rport, undefined);
  });

  it('toString writes the typed fields back', () => {
    const v = parseVia('SIP/2.0/TCP client.example.com:5060;branch=z9hG4bK3;rport');
    v.rport = 5062;
    v.received = '198.51.100.2';
    assert.equal(
      v.toString(),
      'SIP/2.0/TCP client.example.com:5060;branch=z9hG4bK3;rport=5062;received=198.51.100.2',
    );
    v.branch = undefined;
    assert.equal(
      v.toString(),
      'SIP/2.0/TCP client.example.com:5060;rport=5062;received=198.51.100.2',
    );
  });

  it('received holds a bare or a bracketed IPv6 address (RFC 3261 section 25.1, RFC 5118 section 4.5)', () => {
    const bare = parseVia(
      'SIP/2.0/UDP [2001:db8::9]:5080;received=2001:db8::99;rport=5081;branch=z9hG4bK4',
    );
    assert.equal(bare.received, '2001:db8::99');
    assert.equal(bare.rport, 5081);
    assert.equal(bare.branch, 'z9hG4bK4');
    assert.equal(
      bare.toString(),
      'SIP/2.0/UDP [2001:db8::9]:5080;received=2001:db8::99;rport=5081;branch=z9hG4bK4',
    );
    assert.equal(parseVia('SIP/2.0/UDP h;received=::ffff:192.0.2.1').received, '::ffff:192.0.2.1');
    assert.equal(parseVia('SIP/2.0/UDP h;received=[2001:db8::99]').received, '[2001:db8::99]');
    rejects(() => parseVia('SIP/2.0/UDP h;received=2001:db8::zz'));
    rejects(() => parseVia('SIP/2.0/UDP h;received=host.example:5060'));
    rejects(() => parseVia('SIP/2.0/UDP h;maddr=2001:db8::1'));
  });

  it('rejects malformed values', () => {
    for (const bad of [
      '',
      'SIP/2.0/UDP',
      'SIP/2.0 host',
      'SIP/2.0/UDPhost',
      'SIP/2.0/UDP host:port',
      'SIP/2.0/UDP host;;',
      'SIP/2.0/UDP host;branch=',
      'SIP/2.0/UDP host;rport=x',
      'SIP/2.0/UDP host junk',
    ]) {
      rejects(() => parseVia(bad));
    }
  });
});
