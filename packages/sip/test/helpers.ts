// Typical messages shared by the tests and the benchmark.
import assert from 'node:assert/strict';
import { SipParseError, parseMessage } from '../src/index.js';
import type { ParseOptions } from '../src/index.js';
export const SDP = [
  'v=0',
  'o=alice 2890844526 2890844526 IN IP4 192.0.2.10',
  's=-',
  'c=IN IP4 192.0.2.10',
  't=0 0',
  'm=audio 49170 RTP/AVP 0 8 101',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=sendrecv',
  '',
].join('\r\n');

export const INVITE = [
  'INVITE sip:bob@biloxi.example.com SIP/2.0',
  'Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport',
  'Max-Forwards: 70',
  'To: Bob <sip:bob@biloxi.example.com>',
  'From: "Alice A." <sip:alice@atlanta.example.com>;tag=1928301774',
  'Call-ID: a84b4c76e66710@pc33.atlanta.example.com',
  'CSeq: 314159 INVITE',
  'Contact: <sip:alice@pc33.atlanta.example.com;transport=udp>',
  'Route: <sip:edge1.example.net;lr>, <sip:core.example.net;lr>',
  'Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE',
  'Supported: replaces, timer',
  'User-Agent: sipfleet-test/1.0',
  'Content-Type: application/sdp',
  `Content-Length: ${SDP.length}`,
  '',
  SDP,
].join('\r\n');

export const OK200 = [
  'SIP/2.0 200 OK',
  'Via: SIP/2.0/UDP edge1.example.net;branch=z9hG4bKnashds8;received=192.0.2.1',
  'Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport=5060',
  'Record-Route: <sip:edge1.example.net;lr>',
  'To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf',
  'From: "Alice A." <sip:alice@atlanta.example.com>;tag=1928301774',
  'Call-ID: a84b4c76e66710@pc33.atlanta.example.com',
  'CSeq: 314159 INVITE',
  'Contact: <sip:bob@192.0.2.4>',
  'Content-Length: 0',
  '',
  '',
].join('\r\n');

/** Parses `input` expecting a SipParseError with that code and status; returns it. */
export function rejects(
  input: string | Buffer,
  code: string,
  status = 400,
  opts?: ParseOptions,
): SipParseError {
  try {
    parseMessage(input, opts);
  } catch (e) {
    assert.ok(e instanceof SipParseError);
    assert.equal(e.code, code, e.message);
    assert.equal(e.status, status);
    return e;
  }
  assert.fail('expected a SipParseError');
}
