// RFC 4475 section 3, all 49 torture messages, the parser's part: every valid one of section 3.1.1 parses
// (with the fields that matter checked), every invalid one of 3.1.2 is rejected with the status an element
// should answer, and the section 3.2-3.4 ones parse or are rejected as their outcome needs. What the edge
// answers to each, over UDP and TCP, is test/e2e/rfc4475.test.ts.
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
  /** whether the error carries the request so the caller can answer (every request whose lines split) */
  answerable: boolean;
  /** whether Via, From, To, Call-ID and CSeq all read (else the answer copies only the readable ones) */
  coreReadable?: false;
  /** rejected by validate() rather than parseMessage (the header is outside the lazy parser's core) */
  lazy?: true;
}
const H = 'SIPFLEET_ERR_PARSE_HEADER';
const SL = 'SIPFLEET_ERR_PARSE_START_LINE';
const CL = 'SIPFLEET_ERR_PARSE_CONTENT_LENGTH';
/** Expected outcome of RFC 4475 section 3.1.2, keyed by test name. */
const INVALID: Record<string, Rejection> = {
  badinv01: { code: H, status: 400, answerable: true, coreReadable: false },
  clerr: { code: CL, status: 400, answerable: true },
  ncl: { code: CL, status: 400, answerable: true },
  scalar02: { code: H, status: 400, answerable: true, coreReadable: false },
  scalarlg: { code: H, status: 400, answerable: false },
  quotbal: { code: H, status: 400, answerable: true, coreReadable: false },
  ltgtruri: { code: SL, status: 400, answerable: true },
  lwsruri: { code: SL, status: 400, answerable: true },
  lwsstart: { code: SL, status: 400, answerable: true },
  trws: { code: SL, status: 400, answerable: true },
  escruri: { code: 'SIPFLEET_ERR_PARSE_URI', status: 400, answerable: true },
  baddate: { code: H, status: 400, answerable: false, lazy: true },
  regbadct: { code: H, status: 400, answerable: false, lazy: true },
  badaspec: { code: H, status: 400, answerable: true, coreReadable: false },
  baddn: { code: H, status: 400, answerable: true, coreReadable: false },
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
        const req = err.request;
        const core = () => req.topVia && req.from && req.to && req.callId && req.cseq;
        if (want.coreReadable === false) assert.throws(core, SipParseError);
        else assert.ok(core());
      }
    });
  }
});

const MISSING = 'SIPFLEET_ERR_PARSE_MISSING_HEADER';
/**
 * Sections 3.2 (transaction layer), 3.3 (application layer) and 3.4 (backward compatibility): what the
 * parser must make of each so that the element can give the outcome the RFC asks for.
 */
const SEMANTICS: Record<string, Rejection | ((m: SipMessage) => void)> = {
  // 3.2.1: a branch of only the magic cookie is still a branch; the request is processed
  badbranch: (m) => assert.equal(m.topVia?.branch, 'z9hG4bK'),
  // 3.3.1: no Call-ID, From or To: 400, answered with what can be read
  insuf: { code: MISSING, status: 400, answerable: true, coreReadable: false },
  // 3.3.2, 3.3.3: the message is sound, its Request-URI scheme unknown: 416
  unkscm: (m) => assert.throws(() => request(m).parsedUri, unsupportedScheme),
  novelsc: (m) => assert.throws(() => request(m).parsedUri, unsupportedScheme),
  // 3.3.4: unknown schemes in To, From and Contact do not stop a proxy (only a registrar refuses them)
  unksm2: (m) => {
    assert.equal(request(m).parsedUri.host, 'example.com');
    assert.equal(m.to.tag, undefined);
    assert.throws(() => m.to.uri, unsupportedScheme);
  },
  // 3.3.5: a proxy refuses Proxy-Require (420), a UAS Require
  bext01: (m) => {
    assert.deepEqual(m.getHeaders('proxy-require'), [
      'noProxiesSupportThis',
      'norDoAnyProxiesSupportThis',
    ]);
    assert.equal(m.getHeader('require'), 'nothingSupportsThis, nothingSupportsThisEither');
  },
  // 3.3.6: an unknown Content-Type is the UAS's business (415); the body is intact
  invut: (m) => {
    assert.equal(m.getHeader('content-type'), 'application/unknownformat');
    assert.equal(m.body.toString('latin1'), '<audio>\r\n <pcmu port="443"/>\r\n</audio>\r\n');
  },
  // 3.3.7: an unknown Authorization scheme is the registrar's business (401)
  regaut01: (m) =>
    assert.equal(m.getHeader('authorization'), 'NoOneKnowsThisScheme opaque-data=here'),
  // 3.3.8: more than one To, From, Call-ID, CSeq: 400
  multi01: { code: MISSING, status: 400, answerable: true, coreReadable: false },
  // 3.3.9: contradicting Content-Length: 400 (on a stream the framing already fails: connection closed)
  mcl01: { code: CL, status: 400, answerable: true },
  // 3.3.10: a valid response; a Via naming a broadcast address below the top one is not ours to use
  bcast: (m) => {
    assert.ok(m instanceof SipResponse);
    assert.equal(m.vias[1]?.host, '255.255.255.255');
  },
  // 3.3.11: legal; a proxy answers 483 instead of forwarding
  zeromf: (m) => assert.equal(m.maxForwards, 0),
  // 3.3.12, 3.3.13: without <> the parameter is the Contact's, inside it the URI's
  cparam01: (m) => {
    const [c] = request(m).contacts;
    assert.equal(c?.params.get('unknownparam'), null);
    assert.equal(c?.uri.params.size, 0);
  },
  cparam02: (m) => {
    const [c] = request(m).contacts;
    assert.equal(c?.uri.params.get('unknownparam'), null);
    assert.equal(c?.params.size, 0);
  },
  // 3.3.14: escaped headers in a Contact URI are legal (only a Request-URI may not have them)
  regescrt: (m) => assert.equal(request(m).contacts[0]?.uri.host, 'example.com'),
  // 3.3.15: an Accept nobody can satisfy is the UAS's business (406)
  sdp01: (m) => assert.equal(m.getHeader('accept'), 'text/nobodyKnowsThis'),
  // 3.4.1: RFC 2543 syntax: no branch, no Max-Forwards, no Content-Length (the rest of the datagram)
  inv2543: (m) => {
    assert.equal(m.topVia?.branch, undefined);
    assert.equal(request(m).hasHeader('max-forwards'), false);
    assert.ok(m.body.toString('latin1').endsWith('m=audio 49217 RTP/AVP 0\r\n'));
  },
};

function unsupportedScheme(err: unknown): boolean {
  return err instanceof SipParseError && err.status === 416;
}

describe('RFC 4475 sections 3.2 to 3.4: transaction and application layer messages', () => {
  it('the corpus holds exactly the section 3.2-3.4 tests, 49 messages in all', () => {
    assert.deepEqual(names('semantics'), Object.keys(SEMANTICS).sort());
    const all = names('valid').length + names('invalid').length + names('semantics').length;
    assert.equal(all, 49);
  });
  for (const name of names('semantics')) {
    const want = SEMANTICS[name];
    it(`${name}: ${typeof want === 'function' ? 'parses' : `rejected with ${want?.status}`}`, () => {
      assert.ok(want);
      const raw = load('semantics', name);
      if (typeof want === 'function') {
        want(parseMessage(raw));
        return;
      }
      const err = (() => {
        try {
          parseMessage(raw);
        } catch (e) {
          return e;
        }
        assert.fail('parseMessage should have rejected it');
      })();
      assert.ok(err instanceof SipParseError);
      assert.equal(err.code, want.code);
      assert.equal(err.status, want.status);
      assert.equal(err.request !== undefined, want.answerable);
    });
  }
});
