// RFC 4475 section 3.1 torture messages: every valid one parses (with the fields that matter checked),
// every invalid one is rejected with the status an element should answer.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { SipParseError, SipRequest, SipResponse, parseMessage } from '../src/index.js';
import type { SipMessage } from '../src/index.js';

const root = join(import.meta.dirname, 'fixtures', 'rfc4475');
const load = (dir: string, name: string): Buffer => readFileSync(join(root, dir, name + '.sip'));
const names = (dir: string): string[] =>
  readdirSync(join(root, dir))
    .filter((f) => f.endsWith('.sip'))
    .map((f) => f.slice(0, -4))
    .sort();

function request(m: SipMessage): SipRequest {
  assert.ok(m instanceof SipRequest);
  return m;
}

/** Semantic checks of RFC 4475 section 3.1.1, keyed by test name. */
const VALID: Record<string, (m: SipMessage, raw: Buffer) => void> = {
  wsinv: (m) => {
    const r = request(m);
    assert.equal(r.method, 'INVITE');
    assert.equal(r.parsedUri.params.get('unknownparam'), null);
    assert.equal(r.to.tag, '1918181833n');
    assert.equal(r.from.displayName, 'J Rosenberg \\"');
    assert.equal(r.from.tag, '98asjd8');
    assert.equal(r.maxForwards, 68);
    assert.deepEqual(r.cseq, { seq: 9, method: 'INVITE' });
    assert.deepEqual(
      r.vias.map((v) => [v.transport, v.host, v.branch]),
      [
        ['UDP', '192.0.2.2', '390skdjuw'],
        ['TCP', 'spindle.example.com', 'z9hG4bK9ikj8'],
        ['UDP', '192.168.255.111', 'z9hG4bK30239'],
      ],
    );
    assert.equal(r.getHeader('NewFangledHeader'), 'newfangled value continued newfangled value');
    assert.equal(r.getHeader('subject'), '');
    assert.deepEqual(r.getHeaders('UnknownHeaderWithUnusualValue'), [';;', ';;', ';']);
    const [route] = r.routes;
    assert.equal(route?.uri.host, 'services.example.com');
    assert.equal(route?.uri.params.get('lr'), null);
    assert.equal(route?.uri.params.get('unknownwith'), 'value');
    const [contact] = r.contacts;
    assert.equal(contact?.displayName, 'Quoted string ""');
    assert.equal(contact?.params.get('newparam'), 'newvalue');
    assert.equal(contact?.params.get('secondparam'), null);
    assert.equal(contact?.params.get('q'), '0.33');
    assert.equal(r.body.length, Number(r.getHeader('content-length')));
  },
  intmeth: (m) => {
    const r = request(m);
    assert.equal(r.method, "!interesting-Method0123456789_*+`.%indeed'~");
    assert.equal(r.cseq.method, r.method);
    assert.equal(r.parsedUri.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
    assert.equal(r.parsedUri.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
    assert.equal(r.parsedUri.host, 'example.com');
    assert.equal(r.to.displayName, 'BEL:\x07 NUL:\x00 DEL:\x7f');
    assert.equal(r.from.displayName, "token1~` token2'+_ token3*%!.-");
    assert.equal(r.from.tag, "_token~1'+`*%!-.");
    assert.equal(r.callId, 'intmeth.word%ZK-!.*_+\'@word`~)(><:\\/"][?}{');
    assert.equal(r.maxForwards, 255);
    assert.equal(
      Buffer.from(r.getHeader("extensionHeader-!.%*+_`'~") ?? '', 'latin1').toString('utf8'),
      '\ufeff大停電',
    );
  },
  esc01: (m) => {
    const r = request(m);
    assert.equal(r.parsedUri.user, 'sips:user@example.com');
    assert.equal(r.parsedUri.host, 'example.net');
    assert.equal(r.to.uri.user, 'user');
    assert.equal(r.from.uri.user, 'I have spaces');
    assert.equal(r.callId, 'esc01.239409asdfakjkn23onasd0-3234');
    assert.equal(r.getHeader('content-type'), 'application/sdp');
    const [contact] = r.contacts;
    assert.equal(contact?.uri.user, 'caller');
    assert.equal(contact?.uri.params.get('lr'), null);
    assert.equal(contact?.uri.params.get('name'), 'value%41');
  },
  escnull: (m) => {
    const r = request(m);
    assert.equal(r.to.uri.user, 'null-\x00-null');
    assert.deepEqual(
      r.contacts.map((c) => c.uri.user),
      ['\x00', '\x00\x00'],
    );
    assert.equal(r.body.length, 0);
  },
  esc02: (m) => {
    const r = request(m);
    assert.equal(r.method, 'RE%47IST%45R');
    assert.notEqual(r.method, 'REGISTER');
    assert.equal(r.to.displayName, '%Z%45');
    assert.equal(r.contacts.length, 3);
  },
  lwsdisp: (m) => {
    assert.equal(m.from.displayName, 'caller');
    assert.equal(m.from.uri.user, 'caller');
    assert.equal(m.from.tag, '323');
  },
  longreq: (m) => {
    const r = request(m);
    assert.equal(r.vias.length, 34);
    assert.equal(r.to.uri.port, 6000);
    assert.ok((r.from.tag ?? '').length > 150);
    assert.equal(r.contacts[0]?.uri.user, 'amazinglylongcallername'.repeat(5));
    assert.equal(r.body.length, Number(r.getHeader('l')));
  },
  dblreq: (m, raw) => {
    const r = request(m);
    assert.equal(r.method, 'REGISTER');
    assert.equal(r.body.length, 0, 'the second request in the datagram is not a body');
    // everything but the trailing octets is reproduced
    assert.ok(raw.subarray(0, r.toBuffer().length).equals(r.toBuffer()));
  },
  semiuri: (m) => {
    const r = request(m);
    assert.equal(r.parsedUri.user, 'user;par=u@example.net');
    assert.equal(r.parsedUri.host, 'example.com');
    assert.equal(r.parsedUri.params.size, 0);
    assert.equal(r.getHeaders('accept').length, 6);
  },
  transports: (m) => {
    assert.deepEqual(
      m.vias.map((v) => v.transport),
      ['UDP', 'SCTP', 'TLS', 'UNKNOWN', 'TCP'],
    );
  },
  mpart01: (m) => {
    assert.match(m.getHeader('content-type') ?? '', /^multipart\/mixed;boundary=boundary42$/);
    assert.equal(m.body.length, Number(m.getHeader('content-length')));
    assert.ok(m.body.includes('--boundary42--'));
  },
  unreason: (m) => {
    assert.ok(m instanceof SipResponse);
    assert.equal(m.status, 200);
    assert.equal(
      Buffer.from(m.reason, 'latin1').toString('utf8'),
      '= 2**3 * 5**2 но сто девяносто девять - простое',
    );
  },
  noreason: (m) => {
    assert.ok(m instanceof SipResponse);
    assert.equal(m.status, 100);
    assert.equal(m.reason, '');
  },
};

interface Rejection {
  code: string;
  status: number;
  /** whether the error carries the request so the caller can answer */
  answerable: boolean;
  /** rejected by validate() rather than parseMessage (the header is outside the lazy parser's core) */
  lazy?: true;
}
const H = 'SIPFLEET_ERR_PARSE_HEADER';
const SL = 'SIPFLEET_ERR_PARSE_START_LINE';
const CL = 'SIPFLEET_ERR_PARSE_CONTENT_LENGTH';
/** Expected outcome of RFC 4475 section 3.1.2, keyed by test name. */
const INVALID: Record<string, Rejection> = {
  badinv01: { code: H, status: 400, answerable: false },
  clerr: { code: CL, status: 400, answerable: true },
  ncl: { code: CL, status: 400, answerable: true },
  scalar02: { code: H, status: 400, answerable: false },
  scalarlg: { code: H, status: 400, answerable: false },
  quotbal: { code: H, status: 400, answerable: false },
  ltgtruri: { code: SL, status: 400, answerable: true },
  lwsruri: { code: SL, status: 400, answerable: true },
  lwsstart: { code: SL, status: 400, answerable: true },
  trws: { code: SL, status: 400, answerable: true },
  escruri: { code: 'SIPFLEET_ERR_PARSE_URI', status: 400, answerable: true },
  baddate: { code: H, status: 400, answerable: false, lazy: true },
  regbadct: { code: H, status: 400, answerable: false, lazy: true },
  badaspec: { code: H, status: 400, answerable: false },
  baddn: { code: H, status: 400, answerable: false },
  badvers: { code: 'SIPFLEET_ERR_PARSE_VERSION', status: 505, answerable: true },
  mismatch01: { code: 'SIPFLEET_ERR_PARSE_CSEQ_MISMATCH', status: 400, answerable: true },
  mismatch02: { code: 'SIPFLEET_ERR_PARSE_CSEQ_MISMATCH', status: 400, answerable: true },
  bigcode: { code: SL, status: 400, answerable: false },
};

describe('RFC 4475 section 3.1.1: valid messages', () => {
  it('the corpus holds exactly the section 3.1.1 tests', () => {
    assert.deepEqual(names('valid'), Object.keys(VALID).sort());
  });
  for (const name of names('valid')) {
    it(`${name} parses`, () => {
      const raw = load('valid', name);
      assert.ok(raw.includes('\r\n'), 'fixture must keep CRLF line ends');
      const msg = parseMessage(raw);
      msg.validate();
      VALID[name]?.(msg, raw);
      if (name !== 'dblreq')
        assert.ok(msg.toBuffer().equals(raw), 'unmodified message round-trips');
    });
  }
});

describe('RFC 4475 section 3.1.2: invalid messages', () => {
  it('the corpus holds exactly the section 3.1.2 tests', () => {
    assert.deepEqual(names('invalid'), Object.keys(INVALID).sort());
  });
  for (const name of names('invalid')) {
    const want = INVALID[name];
    it(`${name} is rejected with ${want?.status}`, () => {
      assert.ok(want);
      const raw = load('invalid', name);
      let err: unknown;
      try {
        const msg = parseMessage(raw);
        assert.ok(want.lazy, 'parseMessage should have rejected it');
        msg.validate();
      } catch (e) {
        err = e;
      }
      assert.ok(err instanceof SipParseError, `expected SipParseError, got ${String(err)}`);
      assert.equal(err.code, want.code);
      assert.equal(err.status, want.status);
      assert.equal(err.request !== undefined, want.answerable);
      if (err.request) {
        assert.ok(err.request instanceof SipRequest);
        assert.ok(err.request.topVia);
        assert.ok(err.request.callId);
      }
    });
  }
});
