import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMessage, SipRequest } from '@sipfleet/sip';
import {
  ALGORITHMS,
  CALL_PATH_ROUND_TRIPS,
  DS_ALG,
  HASHING_ALGORITHMS,
  algorithmEntry,
  callInputFrom,
  callPathOf,
  compileHashTemplate,
  digestUsername,
  dsHash,
  hashAuthUsername,
  hashCallId,
  hashCallInput,
  hashUri,
  hashValue,
  parseList,
  select,
  selectHashed,
  type CallInput,
} from '../src/index.js';

test('every algorithm 0-13 has one entry, at its own number, with a distinct name', () => {
  assert.equal(ALGORITHMS.length, 14);
  assert.deepEqual(
    ALGORITHMS.map((e) => e.alg),
    Object.values(DS_ALG).sort((a, b) => a - b),
  );
  ALGORITHMS.forEach((e, i) => {
    assert.equal(e.alg, i);
    assert.equal(algorithmEntry(i), e);
  });
  assert.equal(new Set(ALGORITHMS.map((e) => e.name)).size, 14);
  for (const unknown of [-1, 1.5, 14, 64, NaN]) assert.equal(algorithmEntry(unknown), undefined);
});

test('the table says what each algorithm hashes and what it costs per call', () => {
  assert.deepEqual(HASHING_ALGORITHMS, [0, 1, 2, 3, 5, 7]);
  assert.deepEqual(
    ALGORITHMS.map((e) => [e.alg, e.hashes?.field ?? null, e.reads, e.callPath]),
    [
      [0, 'callId', ['callId'], 'snapshot'],
      [1, 'fromUri', ['fromUri'], 'snapshot'],
      [2, 'toUri', ['toUri'], 'snapshot'],
      [3, 'ruri', ['ruri'], 'snapshot'],
      [4, null, [], 'fleet-counter'],
      [5, 'authUser', ['authUser'], 'snapshot'],
      [6, null, [], 'random'],
      [7, 'hashValue', ['hashValue'], 'snapshot'],
      [8, null, [], 'snapshot'],
      [9, null, [], 'edge-counter'],
      [10, null, ['callId'], 'call-load'],
      [11, null, [], 'edge-counter'],
      [12, null, [], 'snapshot'],
      [13, null, [], 'edge-counter'],
    ],
  );
  // The per-call Redis budget: only round-robin (and alg 5 without credentials) and call load.
  const trips = (alg: number, input: CallInput = {}) =>
    CALL_PATH_ROUND_TRIPS[callPathOf(alg, input)];
  assert.deepEqual(
    ALGORITHMS.map((e) => trips(e.alg, { authUser: 'alice' })),
    [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0],
  );
  assert.equal(callPathOf(DS_ALG.HASH_AUTH_USER, {}), 'fleet-counter');
  assert.equal(callPathOf(DS_ALG.HASH_AUTH_USER, { authUser: ' ' }), 'fleet-counter');
  assert.equal(callPathOf(64, {}), 'snapshot');
});

test('hashing through the table gives the pinned Kamailio values of hash.test.ts', () => {
  const pinned: [number, CallInput, number][] = [
    [0, { callId: '  a84b4c76e66710@pc33.atlanta.com\t' }, 2175018094],
    [1, { fromUri: 'sip:alice@atlanta.com' }, 1053853112],
    [2, { toUri: 'sip:bob@biloxi.example.com:5070;lr' }, 571038932],
    [3, { ruri: 'sip:alice@atlanta.com:5060' }, 1053853112],
    [5, { authUser: ' abc ' }, 7167810],
    [7, { hashValue: '42@proxy ' }, 2935091928],
  ];
  for (const [alg, input, expected] of pinned) {
    assert.deepEqual(hashCallInput(alg, input), { kind: 'hash', hash: expected }, `alg ${alg}`);
  }
  assert.deepEqual(hashCallInput(1, { fromUri: 'sip:alice@atlanta.com:5070' }, true), {
    kind: 'hash',
    hash: dsHash('alice', ''),
  });
});

test('the table hashes exactly as the per-algorithm hash functions do', () => {
  const keys = [
    'a84b4c76e66710@pc33.atlanta.com',
    'sip:alice@atlanta.com;transport=tcp',
    'sips:carol@example.org:5061',
    'sip:+49301@gw:5070',
    ' ünïcødé@ex ',
    'x',
  ];
  const previous: [number, (k: string) => number | undefined][] = [
    [0, hashCallId],
    [1, (k) => hashUri(k)],
    [2, (k) => hashUri(k)],
    [3, (k) => hashUri(k)],
    [5, hashAuthUsername],
    [7, hashValue],
  ];
  for (const [alg, hash] of previous) {
    const field = algorithmEntry(alg)?.hashes?.field;
    assert.ok(field);
    for (const key of keys) {
      const got = hashCallInput(alg, { [field]: key });
      const want = hash(key);
      assert.deepEqual(got?.kind === 'hash' ? got.hash : undefined, want, `alg ${alg} ${key}`);
    }
  }
});

test('hashCallInput: no input, unusable input, and alg 5 falling back to round-robin', () => {
  assert.equal(hashCallInput(DS_ALG.ROUND_ROBIN, { callId: 'x' }), undefined);
  assert.deepEqual(hashCallInput(0, {}), {
    kind: 'failure',
    reason: 'missing-input',
    message: 'algorithm 0 needs input.callId',
  });
  assert.deepEqual(hashCallInput(3, { ruri: 'tel:+15551234' }), {
    kind: 'failure',
    reason: 'bad-input',
    message: "ruri 'tel:+15551234' has no usable host",
  });
  assert.deepEqual(hashCallInput(7, { hashValue: ' ' }), {
    kind: 'failure',
    reason: 'bad-input',
    message: 'hashValue is empty',
  });
  for (const input of [{}, { authUser: '' }, { authUser: ' \t' }]) {
    assert.deepEqual(hashCallInput(5, input), { kind: 'otherwise', alg: DS_ALG.ROUND_ROBIN });
  }
});

test('selectHashed explains the pick: hash, the index it names, and the skip rule', () => {
  const [set] = parseList(
    ['1 sip:a.example.com 0 0', '1 sip:b.example.com 1 0', '1 sip:c.example.com 0 0'].join('\n'),
  );
  assert.ok(set);
  const callId = 'a84b4c76e66710@pc33.atlanta.com';
  const explained = selectHashed(set, 0, { callId });
  assert.equal(explained.hash, 2175018094);
  assert.equal(explained.index, 2175018094 % 3);
  assert.deepEqual(explained.selection, select(set, 0, { callId }));
  // The destination at the hashed index is inactive: the selection moved on from it.
  assert.equal(set.destinations[explained.index ?? -1]?.uri, 'sip:b.example.com');
  assert.equal(explained.selection.candidates[0]?.destination.uri, 'sip:a.example.com');
  const bad = selectHashed(set, 1, { fromUri: 'mailto:x@y' });
  assert.equal(bad.hash, undefined);
  assert.equal(bad.index, undefined);
  assert.equal(bad.selection.failure?.reason, 'bad-input');
});

// RFC 3261 section 24.2's INVITE (F1), with a port in the Request-URI and a From URI parameter.
const INVITE = `INVITE sip:bob@biloxi.example.com:5070 SIP/2.0
Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds
Max-Forwards: 70
To: Bob <sip:bob@biloxi.example.com>
From: "Alice A." <sip:alice@atlanta.com;transport=tcp>;tag=1928301774
Call-ID: a84b4c76e66710@pc33.atlanta.com
CSeq: 314159 INVITE
Contact: <sip:alice@pc33.atlanta.com>`;

/** The INVITE through the SIP parser, with extra header lines (a `From:` line replaces its own). */
function request(...extra: string[]): SipRequest {
  const own = INVITE.split('\n').filter(
    (line) => !(line.startsWith('From:') && extra.some((x) => x.startsWith('From:'))),
  );
  const msg = parseMessage([...own, ...extra, 'Content-Length: 0', '', ''].join('\r\n'));
  assert.ok(msg instanceof SipRequest);
  return msg;
}

test('callInputFrom reads only what the algorithm needs from a parsed request', () => {
  const req = request();
  assert.deepEqual(callInputFrom(req, 0), { callId: 'a84b4c76e66710@pc33.atlanta.com' });
  assert.deepEqual(callInputFrom(req, 1), { fromUri: 'sip:alice@atlanta.com;transport=tcp' });
  assert.deepEqual(callInputFrom(req, 2), { toUri: 'sip:bob@biloxi.example.com' });
  assert.deepEqual(callInputFrom(req, 3), { ruri: 'sip:bob@biloxi.example.com:5070' });
  assert.deepEqual(callInputFrom(req, 10), { callId: 'a84b4c76e66710@pc33.atlanta.com' });
  for (const alg of [4, 6, 8, 9, 11, 12, 13, 64]) assert.deepEqual(callInputFrom(req, alg), {});
  // What the edge hashes for alg 1 is what Kamailio hashes: user and host of the From URI.
  assert.deepEqual(hashCallInput(1, callInputFrom(req, 1)), {
    kind: 'hash',
    hash: dsHash('alice', 'atlanta.com'),
  });
  req.setUri('sip:carol@chicago.com');
  assert.deepEqual(callInputFrom(req, 3), { ruri: 'sip:carol@chicago.com' });
});

test('callInputFrom: a From URI the parser refuses is a bad-input failure, not an exception', () => {
  const req = request('From: <mailto:alice@atlanta.com>;tag=1');
  const input = callInputFrom(req, 1);
  assert.deepEqual(input, { fromUri: '' });
  const [set] = parseList('1 sip:a.example.com 0 0');
  assert.ok(set);
  assert.equal(select(set, 1, input).failure?.reason, 'bad-input');
});

test('alg 5: the digest username of Proxy-Authorization, else Authorization (ds_hash_authusername)', () => {
  const cases: [string[], string | undefined][] = [
    [[], undefined],
    [['Authorization: Digest username="alice", realm="atlanta.com", nonce="84a4"'], 'alice'],
    [
      [
        'Authorization: Digest username="carol", realm="atlanta.com"',
        'Proxy-Authorization: Digest realm="atlanta.com", username="bob", uri="sip:bob@x"',
      ],
      'bob',
    ],
    // Kamailio's parse_username: user part of user@domain, after a sip: prefix.
    [['Proxy-Authorization: Digest username="alice@atlanta.com", realm="a"'], 'alice'],
    [['Proxy-Authorization: Digest username="sip:dave@atlanta.com", realm="a"'], 'dave'],
    [['Proxy-Authorization: digest username=eve,realm=a'], 'eve'],
    [['Proxy-Authorization: Digest username="a@"'], 'a@'],
    // Not Digest, or not parsable: the next header counts.
    [
      [
        'Proxy-Authorization: Bearer eyJhbGciOi',
        'Authorization: Digest username="frank", realm="a"',
      ],
      'frank',
    ],
    [['Proxy-Authorization: Digest username="unterminated, realm=a'], undefined],
    // Digest without a username: round-robin, as Kamailio.
    [['Authorization: Digest realm="atlanta.com", nonce="1"'], ''],
  ];
  const [set] = parseList(
    ['1 sip:a.example.com 0 0', '1 sip:b.example.com 0 0', '1 sip:c.example.com 0 0'].join('\n'),
  );
  assert.ok(set);
  for (const [headers, user] of cases) {
    const input = callInputFrom(request(...headers), DS_ALG.HASH_AUTH_USER);
    assert.deepEqual(input, user === undefined ? {} : { authUser: user }, headers.join(' | '));
    const selection = select(set, DS_ALG.HASH_AUTH_USER, input, { counter: 1 });
    const expected = user ? dsHash(user) % 3 : 1; // no username: round-robin position 1
    assert.equal(selection.candidates[0]?.index, expected, headers.join(' | '));
  }
});

test('digestUsername keeps quoted text as written and refuses what does not parse', () => {
  assert.equal(digestUsername('Digest username="a\\"b", realm="r"'), 'a\\"b');
  assert.equal(digestUsername('Digest realm="x, username=\\"evil\\"", username="ok"'), 'ok');
  assert.equal(digestUsername('Basic YWxhZGRpbjpvcGVuc2VzYW1l'), undefined);
  assert.equal(digestUsername('Digestusername="x"'), undefined);
  assert.equal(digestUsername('Digest username'), undefined);
  assert.equal(digestUsername('Digest username="x" realm="y"'), undefined);
});

test('alg 7: the configured header is the hash_pvar value; no header configured is no input', () => {
  const req = request('X-Tenant: acme ');
  assert.deepEqual(callInputFrom(req, 7, { hashHeader: 'x-tenant' }), { hashValue: 'acme' });
  assert.deepEqual(hashCallInput(7, callInputFrom(req, 7, { hashHeader: 'X-Tenant' })), {
    kind: 'hash',
    hash: dsHash('acme'),
  });
  // A missing header prints as '' (a bad-input failure, like Kamailio's empty hash_pvar).
  assert.deepEqual(callInputFrom(req, 7, { hashHeader: 'X-Other' }), { hashValue: '' });
  assert.equal(hashCallInput(7, callInputFrom(req, 7, { hashHeader: 'X-Other' }))?.kind, 'failure');
  assert.deepEqual(callInputFrom(req, 7), {});
});

test('alg 7: a hash_pvar template ($fU@$ci) is printed per request and wins over hashHeader', () => {
  const req = request('X-Tenant: acme');
  const hashTemplate = compileHashTemplate('$fU@$ci');
  assert.deepEqual(callInputFrom(req, 7, { hashTemplate, hashHeader: 'X-Tenant' }), {
    hashValue: 'alice@a84b4c76e66710@pc33.atlanta.com',
  });
  assert.deepEqual(hashCallInput(7, callInputFrom(req, 7, { hashTemplate })), {
    kind: 'hash',
    hash: dsHash('alice@a84b4c76e66710@pc33.atlanta.com'),
  });
  const all = compileHashTemplate('$fU|$fd|$tU|$td|$ru|$rU|$rd|$hdr(X-Tenant)|$hdr(X-None)');
  assert.deepEqual(callInputFrom(req, 7, { hashTemplate: all }), {
    hashValue:
      'alice|atlanta.com|bob|biloxi.example.com|sip:bob@biloxi.example.com:5070|bob|biloxi.example.com|acme|',
  });
});

test('callInputFrom: the R-URI as the route left it is what alg 3 and $ru read', () => {
  const req = request();
  const rewritten = 'sip:carol@chicago.com';
  assert.deepEqual(callInputFrom(req, 3, { requestUri: rewritten }), { ruri: rewritten });
  const hashTemplate = compileHashTemplate('$rU/$rd/$ru');
  assert.deepEqual(callInputFrom(req, 7, { hashTemplate, requestUri: rewritten }), {
    hashValue: `carol/chicago.com/${rewritten}`,
  });
  // The parsed request keeps its own R-URI: only the option says what the route made of it.
  assert.deepEqual(callInputFrom(req, 3), { ruri: 'sip:bob@biloxi.example.com:5070' });
});

test('hash user only (flags bit 1): URI hashes use the user part alone', () => {
  const req = request();
  const input = callInputFrom(req, 3, { userOnly: true });
  assert.deepEqual(input, { ruri: 'sip:bob@biloxi.example.com:5070', userOnly: true });
  assert.deepEqual(hashCallInput(3, input), { kind: 'hash', hash: dsHash('bob', '') });
  assert.deepEqual(hashCallInput(3, callInputFrom(req, 3)), {
    kind: 'hash',
    hash: dsHash('bob', 'biloxi.example.com:5070'),
  });
  // Two R-URIs with one user and different hosts land on the same destination.
  const [set] = parseList(
    ['1 sip:a.example.com 0 0', '1 sip:b.example.com 0 0', '1 sip:c.example.com 0 0'].join('\n'),
  );
  assert.ok(set);
  const pick = (ruri: string, userOnly: boolean) =>
    select(set, 3, callInputFrom(req, 3, { requestUri: ruri, userOnly })).candidates[0]?.index;
  for (const host of ['x.example.com', 'y.example.org:5080', '192.0.2.7']) {
    assert.equal(pick(`sip:dave@${host}`, true), dsHash('dave', '') % 3, host);
  }
  assert.notEqual(
    new Set(
      ['x.example.com', 'y.example.org:5080', '192.0.2.7', 'z.example.net'].map((h) =>
        pick(`sip:dave@${h}`, false),
      ),
    ).size,
    1,
    'without the flag the host counts',
  );
  // Algorithms that hash no URI are not affected (the Call-ID keeps its host part).
  assert.deepEqual(callInputFrom(req, 0, { userOnly: true }), {
    callId: 'a84b4c76e66710@pc33.atlanta.com',
    userOnly: true,
  });
  assert.deepEqual(hashCallInput(0, callInputFrom(req, 0, { userOnly: true })), {
    kind: 'hash',
    hash: dsHash('a84b4c76e66710@pc33.atlanta.com'),
  });
});
