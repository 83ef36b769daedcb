import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseMessage, type SipRequest } from '@sipfleet/sip';
import { applyReceived, responseTarget, type RemoteInfo } from '../src/index.js';

function request(...vias: string[]): SipRequest {
  const msg = parseMessage(
    'INVITE sip:bob@biloxi.example.com SIP/2.0\r\n' +
      vias.map((v) => `Via: ${v}\r\n`).join('') +
      'Max-Forwards: 70\r\n' +
      'To: <sip:bob@biloxi.example.com>\r\n' +
      'From: <sip:alice@atlanta.example.com>;tag=1928301774\r\n' +
      'Call-ID: a84b4c76e66710\r\n' +
      'CSeq: 314159 INVITE\r\n' +
      'Content-Length: 0\r\n\r\n',
  );
  assert.ok(!('status' in msg));
  return msg as SipRequest;
}

function from(address: string, port: number, extra: Partial<RemoteInfo> = {}): RemoteInfo {
  return {
    protocol: 'udp',
    address,
    port,
    family: address.includes(':') ? 'IPv6' : 'IPv4',
    local: { address: '192.0.2.2', port: 5060 },
    ...extra,
  };
}

describe('applyReceived (RFC 3261 section 18.2.1, RFC 3581 section 4)', () => {
  it('RFC 3581 example: fills rport and adds received behind a NAT; other Vias untouched', () => {
    const req = request(
      'SIP/2.0/UDP 10.1.1.1:4540;rport;branch=z9hG4bKkjshdyff',
      'SIP/2.0/UDP  pc33.example.com ;branch=z9hG4bK776asdhds',
    );
    const remote = from('192.0.2.1', 9988);
    applyReceived(req, remote);
    const top = req.topVia;
    assert.equal(top?.received, '192.0.2.1');
    assert.equal(top?.rport, 9988);
    assert.equal(top?.branch, 'z9hG4bKkjshdyff');
    assert.deepEqual(req.getHeaders('via'), [
      'SIP/2.0/UDP 10.1.1.1:4540;rport=9988;branch=z9hG4bKkjshdyff;received=192.0.2.1',
      'SIP/2.0/UDP  pc33.example.com ;branch=z9hG4bK776asdhds',
    ]);
    // RFC 3581: "the response MUST be sent to the IP address listed in the "received" parameter, and
    // the port in the "rport" parameter".
    assert.deepEqual(responseTarget(top!, remote), {
      protocol: 'udp',
      address: '192.0.2.1',
      port: 9988,
    });
  });

  it('RFC 3261 18.2.1 example: a domain name in sent-by gets received', () => {
    const req = request('SIP/2.0/UDP bobspc.biloxi.com:5060;branch=z9hG4bK77ef4c2312983.1');
    const remote = from('192.0.2.4', 5060);
    applyReceived(req, remote);
    assert.equal(
      req.getHeader('via'),
      'SIP/2.0/UDP bobspc.biloxi.com:5060;branch=z9hG4bK77ef4c2312983.1;received=192.0.2.4',
    );
    assert.deepEqual(responseTarget(req.topVia!, remote), {
      protocol: 'udp',
      address: '192.0.2.4',
      port: 5060,
    });
  });

  it('leaves the message byte-identical when sent-by is the source and there is no rport', () => {
    const req = request(
      'SIP/2.0/UDP 192.0.2.4:5062;branch=z9hG4bK1',
      'SIP/2.0/TCP h;branch=z9hG4bK0',
    );
    const before = req.toBuffer();
    applyReceived(req, from('192.0.2.4', 40000));
    assert.deepEqual(req.toBuffer(), before);
    // Sent-by port, not the source port, without rport (RFC 3261 18.2.2).
    assert.deepEqual(responseTarget(req.topVia!, from('192.0.2.4', 40000)), {
      protocol: 'udp',
      address: '192.0.2.4',
      port: 5062,
    });
  });

  it('adds received with rport even when sent-by equals the source (RFC 3581 MUST)', () => {
    const req = request('SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bK1;rport');
    applyReceived(req, from('192.0.2.4', 5060));
    assert.equal(req.topVia?.received, '192.0.2.4');
    assert.equal(req.topVia?.rport, 5060);
  });

  it('overwrites a received that is not the source, in place', () => {
    const req = request('SIP/2.0/UDP 192.0.2.4;received=203.0.113.66;branch=z9hG4bK1');
    applyReceived(req, from('192.0.2.4', 5060));
    assert.equal(req.getHeader('via'), 'SIP/2.0/UDP 192.0.2.4;received=192.0.2.4;branch=z9hG4bK1');
  });

  it('keeps an rport that already has a value and only adds received', () => {
    const req = request('SIP/2.0/UDP 10.0.0.1;rport=7000;branch=z9hG4bK1');
    applyReceived(req, from('192.0.2.1', 9988));
    assert.equal(req.topVia?.rport, 7000);
    assert.equal(req.topVia?.received, '192.0.2.1');
  });

  it('compares IPv6 in canonical form and writes received without brackets', () => {
    const same = request('SIP/2.0/UDP [2001:DB8:0:0::1]:5060;branch=z9hG4bK1');
    const before = same.toBuffer();
    applyReceived(same, from('2001:db8::1', 5060));
    assert.deepEqual(same.toBuffer(), before);

    const natted = request('SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1;rport');
    applyReceived(natted, from('2001:db8::99', 6000));
    // RFC 3261 section 25.1: via-received = "received" EQUAL (IPv4address / IPv6address), no brackets.
    assert.equal(
      natted.getHeader('via'),
      'SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1;rport=6000;received=2001:db8::99',
    );
  });

  it('accepts a bracketed IPv6 received (RFC 5118 section 4.5) when choosing the target', () => {
    const req = request('SIP/2.0/UDP [2001:db8::1];branch=z9hG4bK1;received=[2001:db8::99]');
    assert.deepEqual(responseTarget(req.topVia!, from('2001:db8::99', 6000)), {
      protocol: 'udp',
      address: '2001:db8::99',
      port: 5060,
    });
  });
});

describe('responseTarget (RFC 3261 section 18.2.2)', () => {
  it('UDP: received with the sent-by port, 5060 by default; maddr ignored', () => {
    const req = request('SIP/2.0/UDP client.example.com;maddr=239.1.1.1;branch=z9hG4bK1');
    const remote = from('192.0.2.7', 1234);
    applyReceived(req, remote);
    assert.deepEqual(responseTarget(req.topVia!, remote), {
      protocol: 'udp',
      address: '192.0.2.7',
      port: 5060,
    });
  });

  it('UDP: a valueless rport (applyReceived skipped) means the source address and port', () => {
    const req = request('SIP/2.0/UDP 10.0.0.1:5060;rport;branch=z9hG4bK1');
    assert.deepEqual(responseTarget(req.topVia!, from('192.0.2.1', 9988)), {
      protocol: 'udp',
      address: '192.0.2.1',
      port: 9988,
    });
  });

  it('UDP: a name in sent-by without received falls back to the source address', () => {
    const req = request('SIP/2.0/UDP client.example.com:5070;branch=z9hG4bK1');
    assert.deepEqual(responseTarget(req.topVia!, from('192.0.2.1', 9988)), {
      protocol: 'udp',
      address: '192.0.2.1',
      port: 5070,
    });
  });

  it('TCP: the connection it came on, with received / sent-by port as fallback', () => {
    const req = request('SIP/2.0/TCP client.example.com;branch=z9hG4bK1');
    const remote = from('192.0.2.8', 49152, { protocol: 'tcp', connectionId: 17 });
    applyReceived(req, remote);
    assert.deepEqual(responseTarget(req.topVia!, remote), {
      protocol: 'tcp',
      address: '192.0.2.8',
      port: 5060,
      connectionId: 17,
    });
    const named = request('SIP/2.0/TCP 192.0.2.8:5070;branch=z9hG4bK1;rport');
    assert.deepEqual(responseTarget(named.topVia!, { ...remote, connectionId: undefined }), {
      protocol: 'tcp',
      address: '192.0.2.8',
      port: 5070,
    });
  });
});
