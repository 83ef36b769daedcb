// What the fuzzer sends, drawn by fast-check from the run's seed: valid requests of every method and
// responses built from generated fields, those and the RFC 4475 torture messages broken by mutations
// (the parser tests' byte-level ones plus header-level ones), random bytes, and follow-ups that refer
// to what is live in the stack (CANCEL, ACK, retransmissions and in-dialog requests for the INVITEs
// the fuzzer sent; responses, good and broken, to the requests the proxy relayed). A follow-up is
// drawn as a recipe (which live message, what to do to it) and made concrete by the engine.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { mutation } from '../../packages/sip/test/arbitraries.js';
import type { Mutation } from '../../packages/sip/test/arbitraries.js';
import { INVITE, OK200, SDP } from '../../packages/sip/test/helpers.js';

/** The proxy under test, its alias, the in-memory UASes it relays to and an address nobody uses. */
export const PROXY = { address: '10.0.0.2', port: 5060 };
export const PROXY_ALIAS = 'edge.example.net';
export const UAS_ADDRESSES = ['10.0.1.1', '10.0.1.2', '10.0.1.3'] as const;
export const DEAD_ADDRESS = '10.0.9.9';

const FIXTURES = join(import.meta.dirname, '..', '..', 'packages', 'sip', 'test', 'fixtures');

/** Seeds for mutation: the parser tests' typical INVITE and 200 OK and all 49 RFC 4475 messages. */
export const SEEDS: readonly Buffer[] = [
  Buffer.from(INVITE, 'latin1'),
  Buffer.from(OK200, 'latin1'),
  ...['valid', 'invalid', 'semantics'].flatMap((dir) =>
    readdirSync(join(FIXTURES, 'rfc4475', dir))
      .sort()
      .map((f) => readFileSync(join(FIXTURES, 'rfc4475', dir, f))),
  ),
];

const METHODS = [
  'INVITE',
  'ACK',
  'BYE',
  'CANCEL',
  'OPTIONS',
  'REGISTER',
  'SUBSCRIBE',
  'NOTIFY',
  'REFER',
  'MESSAGE',
  'INFO',
  'PRACK',
  'UPDATE',
  'PUBLISH',
  'FOO',
] as const;

const id = fc.nat().map((n) => n.toString(36));
/** Hosts a generated Request-URI or Route names: IP literals and the proxy's own names only. The
 *  fuzz routing sets every stateful next hop to an IP literal; a 2xx ACK is relayed statelessly to
 *  its Route or Request-URI, so only the seeds' host names ever reach the resolver. */
const uriHost = fc.constantFrom(
  PROXY.address,
  `${PROXY.address}:${PROXY.port}`,
  PROXY_ALIAS,
  ...UAS_ADDRESSES,
  '192.0.2.7:5070',
  '[2001:db8::7]',
);
const requestUri = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .tuple(
        fc.option(id),
        uriHost,
        fc.constantFrom('', ';transport=tcp', ';user=phone', ';lr', `;maddr=${UAS_ADDRESSES[1]}`),
      )
      .map(([user, host, params]) => `sip:${user === null ? '' : `${user}@`}${host}${params}`),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      'sips:bob@10.0.1.1',
      'tel:+15551234567',
      'im:bob@example.com',
      'urn:service:sos',
      'sip:10.0.0.2;transport=sctp',
    ),
  },
);
const viaValue = fc
  .record({
    transport: fc.constantFrom('UDP', 'TCP', 'TLS'),
    host: fc.constantFrom('pc33.example.com', '192.0.2.10', '[2001:db8::10]', '203.0.113.5'),
    port: fc.option(fc.integer({ min: 1, max: 65535 })),
    branch: fc.oneof(
      { weight: 8, arbitrary: id.map((b) => `;branch=z9hG4bK${b}`) },
      { weight: 1, arbitrary: id.map((b) => `;branch=${b}`) }, // RFC 2543
      { weight: 1, arbitrary: fc.constant('') },
    ),
    rport: fc.boolean(),
  })
  .map(
    (v) =>
      `SIP/2.0/${v.transport} ${v.host}${v.port === null ? '' : `:${v.port}`}${v.branch}${v.rport ? ';rport' : ''}`,
  );
const routeSet = fc.constantFrom(
  [],
  [],
  [`<sip:${PROXY.address};lr>`],
  [`<sip:${PROXY.address}:${PROXY.port};lr;dsset=1>`, `<sip:${UAS_ADDRESSES[1]};lr>`],
  [`<sip:${PROXY_ALIAS};lr;ftag=x>`],
  [`<sip:${UAS_ADDRESSES[0]}>`], // a strict router
);
const extraHeaders = fc.subarray([
  'Proxy-Require: foo',
  'Require: 100rel',
  'Supported: timer, replaces',
  'Expires: 3600',
  'Event: presence',
  'Refer-To: <sip:carol@10.0.1.2>',
  'RAck: 1 1 INVITE',
  'Record-Route: <sip:198.51.100.1;lr>',
  'Allow: INVITE, ACK, CANCEL, BYE',
  'User-Agent: fuzz',
]);

export interface RequestFields {
  method: string;
  uri: string;
  vias: string[];
  maxForwards: number | null;
  fromTag: string;
  toTag: string | null;
  callId: string;
  cseq: number;
  routes: readonly string[];
  extra: string[];
  body: boolean;
  compact: boolean;
}

const requestFields: fc.Arbitrary<RequestFields> = fc.record({
  method: fc.constantFrom(...METHODS),
  uri: requestUri,
  vias: fc.array(viaValue, { minLength: 1, maxLength: 3 }),
  maxForwards: fc.option(fc.integer({ min: 0, max: 70 }), { freq: 4 }),
  fromTag: id,
  toTag: fc.option(id, { freq: 2 }),
  callId: id,
  cseq: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
  routes: routeSet,
  extra: extraHeaders,
  body: fc.boolean(),
  compact: fc.boolean(),
});

/** RFC 3261 section 7.3.3 compact names, used when `compact` is drawn. */
function names(compact: boolean): Record<string, string> {
  return compact
    ? {
        via: 'v',
        from: 'f',
        to: 't',
        callId: 'i',
        contentLength: 'l',
        contentType: 'c',
        contact: 'm',
      }
    : {
        via: 'Via',
        from: 'From',
        to: 'To',
        callId: 'Call-ID',
        contentLength: 'Content-Length',
        contentType: 'Content-Type',
        contact: 'Contact',
      };
}

/** A well-formed request with the given fields (the method decides nothing else). */
export function requestText(f: RequestFields): string {
  const n = names(f.compact);
  const body = f.body ? SDP : '';
  return [
    `${f.method} ${f.uri} SIP/2.0`,
    ...f.vias.map((v) => `${n.via}: ${v}`),
    ...(f.maxForwards === null ? [] : [`Max-Forwards: ${f.maxForwards}`]),
    `${n.from}: "Alice" <sip:alice@example.com>;tag=${f.fromTag}`,
    `${n.to}: <sip:bob@example.com>${f.toTag === null ? '' : `;tag=${f.toTag}`}`,
    `${n.callId}: ${f.callId}@fuzz`,
    `CSeq: ${f.cseq} ${f.method}`,
    ...f.routes.map((r) => `Route: ${r}`),
    `${n.contact}: <sip:alice@192.0.2.10:5060>`,
    ...f.extra,
    ...(f.body ? [`${n.contentType}: application/sdp`] : []),
    `${n.contentLength}: ${body.length}`,
    '',
    body,
  ].join('\r\n');
}

/** A response that matches nothing live: a stray, sometimes with our own Via on top. */
const responseText = fc
  .record({
    status: fc.integer({ min: 100, max: 699 }),
    ownVia: fc.boolean(),
    vias: fc.array(viaValue, { maxLength: 2 }),
    method: fc.constantFrom(...METHODS),
    cseq: fc.integer({ min: 1, max: 99999 }),
    callId: id,
    toTag: fc.option(id),
  })
  .map((r) =>
    [
      `SIP/2.0 ${r.status} Fuzz`,
      ...(r.ownVia ? [`Via: SIP/2.0/UDP ${PROXY.address}:${PROXY.port};branch=z9hG4bKsf0.x`] : []),
      ...r.vias.map((v) => `Via: ${v}`),
      'From: <sip:alice@example.com>;tag=1',
      `To: <sip:bob@example.com>${r.toTag === null ? '' : `;tag=${r.toTag}`}`,
      `Call-ID: ${r.callId}@fuzz`,
      `CSeq: ${r.cseq} ${r.method}`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );

/** Replaces the value of the first `name` header field (full or compact name) with `value`. */
function setField(b: Buffer, name: string, value: string): Buffer {
  const re = new RegExp(`^(${name})[ \\t]*:[^\\r\\n]*`, 'im');
  const s = b.toString('latin1');
  return re.test(s) ? Buffer.from(s.replace(re, `$1: ${value}`), 'latin1') : b;
}

/** Values that break the header they are put in, by header (the first name is the field's). */
const BAD_VALUES: Record<string, string[]> = {
  'Via|v': [
    '',
    'SIP/2.0/UDP',
    'SIP/2.0/UDP ;;;branch=',
    'SIP/2.0/XYZ h.example.com;branch=z9hG4bK1',
    'SIP/3.0/UDP h.example.com',
    'SIP/2.0/UDP [::1;branch=z9hG4bK1',
    'SIP/2.0/UDP h.example.com:99999;branch=z9hG4bK1',
    'SIP/2.0/UDP h.example.com;rport=abc',
    'SIP/2.0/UDP h.example.com;received=not-an-ip',
    'SIP/2.0/UDP h.example.com;branch',
    'SIP/2.0/UDP h.example.com;branch=z9hG4bK1, ,',
  ],
  Route: [
    `<sip:${PROXY.address};lr`,
    '<sip:[::1;lr>',
    'sip:x y',
    '<>',
    '<tel:+1555>',
    `<sip:${PROXY.address};lr>,,`,
    '"unterminated <sip:a@b>',
    `<sip:${PROXY.address};lr>, <sip:unresolvable.invalid;lr>`,
  ],
  'Contact|m': [
    '*',
    '<sip:alice@',
    '<sip:a@[::1>',
    '<sip:a@b>;expires=abc',
    'sip:a@b, <sip:c@d;q=2',
  ],
  CSeq: ['', 'abc INVITE', '1', '4294967296 INVITE', '-1 INVITE', '1 BYE', '1 INV ITE', '1 ACK'],
  'From|f': ['', '<sip:a@b', 'sip:a@b;tag=1;tag=2', '"x" sip:a', '<sip:a@b>;tag='],
  'To|t': ['', '<sip:a@b', '<sip:a@b>;tag=1;tag=2', 'nobody'],
  'Call-ID|i': ['', ' ', 'a b', '@'],
  'Max-Forwards': ['-1', '256', 'abc', '99999999999', '', '0'],
  'Content-Length|l': ['', '-5', '1', '100000', '0', 'abc'],
  'Proxy-Require': ['', ',,,', 'foo, bar'],
  'Record-Route': ['<sip:rr.example.com;lr', '<sip:[::1>', '*'],
};
const badHeader = fc.constantFrom(...Object.keys(BAD_VALUES)).chain((name) =>
  fc
    .oneof(
      { weight: 4, arbitrary: fc.constantFrom(...(BAD_VALUES[name] as string[])) },
      // huge values: past the header line limit, or a long but legal run
      {
        weight: 1,
        arbitrary: fc
          .tuple(fc.constantFrom('a', ';x=y', ',', '%', ' '), fc.integer({ min: 100, max: 20000 }))
          .map(([unit, k]) => unit.repeat(k)),
      },
    )
    .map((value) => (b: Buffer) => setField(b, name, value)),
);

/** Header-level damage the byte-level mutations rarely hit. */
const headerMutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: badHeader },
  // a header line deleted
  {
    weight: 2,
    arbitrary: fc.nat().map((p) => (b: Buffer) => {
      const lines = b.toString('latin1').split('\r\n');
      const end = lines.indexOf('');
      if (end <= 1) return b;
      lines.splice(1 + (p % (end - 1)), 1);
      return Buffer.from(lines.join('\r\n'), 'latin1');
    }),
  },
  // a header duplicated with another value (two CSeq, two Call-ID, ...)
  {
    weight: 2,
    arbitrary: fc
      .constantFrom(
        'CSeq: 7 OPTIONS',
        'Call-ID: other',
        'From: <sip:x@y>;tag=9',
        'To: <sip:x@y>',
        'Content-Length: 3',
        'Max-Forwards: 9',
        `Via: SIP/2.0/UDP ${PROXY.address}:${PROXY.port};branch=z9hG4bKsf1.y`,
      )
      .map((line) => (b: Buffer) => insertLine(b, line)),
  },
  // CR, LF, NUL or a blank line injected anywhere
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        fc.nat(),
        fc.constantFrom(
          '\r\n',
          '\n',
          '\r',
          '\r\n\r\n',
          '\0',
          '\r\nVia: SIP/2.0/UDP evil.example.com',
        ),
      )
      .map(([p, ins]) => (b: Buffer) => {
        const at = p % (b.length + 1);
        return Buffer.concat([b.subarray(0, at), Buffer.from(ins, 'latin1'), b.subarray(at)]);
      }),
  },
  // Content-Length off by some bytes
  {
    weight: 1,
    arbitrary: fc.integer({ min: -50, max: 50 }).map((d) => (b: Buffer) => {
      const s = b.toString('latin1');
      const bodyLength = s.length - (s.indexOf('\r\n\r\n') + 4);
      return setField(b, 'Content-Length|l', String(Math.max(0, bodyLength + d)));
    }),
  },
  // many Vias or many header fields
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.constantFrom(
          'Via: SIP/2.0/UDP 192.0.2.99;branch=z9hG4bKmany',
          'X-Fuzz: v',
          'Route: <sip:10.0.1.1;lr>',
        ),
        fc.integer({ min: 10, max: 300 }),
      )
      .map(
        ([line, k]) =>
          (b: Buffer) =>
            insertLine(b, Array(k).fill(line).join('\r\n')),
      ),
  },
);

/** Inserts header line(s) right after the start line. */
function insertLine(b: Buffer, line: string): Buffer {
  const at = b.indexOf('\r\n');
  if (at < 0) return b;
  return Buffer.concat([
    b.subarray(0, at + 2),
    Buffer.from(`${line}\r\n`, 'latin1'),
    b.subarray(at + 2),
  ]);
}

const anyMutation = fc.oneof(mutation, headerMutation);
const mutations = (max: number) => fc.array(anyMutation, { minLength: 1, maxLength: max });
const maybeMutations = fc.oneof(
  { weight: 3, arbitrary: fc.constant([] as Mutation[]) },
  { weight: 1, arbitrary: mutations(2) },
);

/** Where a message comes from: a random peer over UDP or TCP (a TCP one maybe on a connection). */
export interface Source {
  protocol: 'udp' | 'tcp';
  address: string;
  port: number;
  connectionId: number | null;
}
const source: fc.Arbitrary<Source> = fc.record({
  protocol: fc.constantFrom('udp', 'tcp'),
  address: fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 1, max: 254 }).map((n) => `192.0.2.${n}`) },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 1, max: 0xffff }).map((n) => `2001:db8::${n.toString(16)}`),
    },
  ),
  port: fc.oneof(fc.constant(5060), fc.integer({ min: 1024, max: 65535 })),
  connectionId: fc.option(fc.nat({ max: 1000 }), { freq: 2 }),
});

/** What to do with a request the fuzzer sent earlier (RFC 3261 section 9.1, 17.1.1.3, 17.2.3). */
export type FollowUp = 'cancel' | 'ack' | 'ack-2xx' | 'retransmit' | 'bye';

/** One step of the run: a self-contained message, or a recipe the engine applies to live state. */
export type Action =
  | { kind: 'request'; fields: RequestFields; mutations: Mutation[]; from: Source }
  | { kind: 'response'; text: string; mutations: Mutation[]; from: Source }
  | { kind: 'seed'; seed: number; mutations: Mutation[]; from: Source }
  | { kind: 'bytes'; bytes: Uint8Array; from: Source }
  /** `pick` chooses among the INVITEs the fuzzer sent recently. */
  | { kind: 'follow-up'; what: FollowUp; pick: number; toTag: string; mutations: Mutation[] }
  /** `pick` chooses among the requests the UASes received from the proxy (live client transactions). */
  | { kind: 'answer'; pick: number; statuses: number[]; toTag: string; mutations: Mutation[] };

const status = fc.oneof(
  fc.constantFrom(100, 180, 183, 200, 202, 302, 401, 404, 408, 480, 486, 487, 500, 503, 603),
  fc.integer({ min: 100, max: 699 }),
);

export const action: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 25,
    arbitrary: fc.record({
      kind: fc.constant('request' as const),
      fields: requestFields,
      mutations: maybeMutations,
      from: source,
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('response' as const),
      text: responseText,
      mutations: maybeMutations,
      from: source,
    }),
  },
  {
    weight: 25,
    arbitrary: fc.record({
      kind: fc.constant('seed' as const),
      seed: fc.nat({ max: SEEDS.length - 1 }),
      mutations: fc.oneof(fc.constant([] as Mutation[]), mutations(4), mutations(4)),
      from: source,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('bytes' as const),
      bytes: fc.uint8Array({ maxLength: 1500 }),
      from: source,
    }),
  },
  {
    weight: 18,
    arbitrary: fc.record({
      kind: fc.constant('follow-up' as const),
      what: fc.constantFrom<FollowUp>('cancel', 'cancel', 'ack', 'ack-2xx', 'retransmit', 'bye'),
      pick: fc.nat(),
      toTag: id,
      mutations: maybeMutations,
    }),
  },
  {
    weight: 25,
    arbitrary: fc.record({
      kind: fc.constant('answer' as const),
      pick: fc.nat(),
      statuses: fc.array(status, { minLength: 1, maxLength: 3 }),
      toTag: id,
      mutations: maybeMutations,
    }),
  },
);

/** The UASes' answers, [delay ms, status] each: every script ends in a final response, as a UAS's
 *  must (its server transaction has no timer of its own before that). */
export const uasScripts: readonly (readonly [number, number][])[] = [
  [[0, 200]],
  [
    [0, 180],
    [200, 200],
  ],
  [
    [0, 183],
    [500, 486],
  ],
  [[0, 503]],
  [[0, 302]],
  [[100, 500]],
  // rings past fr_inv_timer (the proxy CANCELs: 487); a non-INVITE gets its final much later
  [
    [0, 180],
    [150_000, 486],
  ],
  [[40_000, 200]], // silent past Timer B / F and fr_timer, then a late final (a stray upstream)
  [
    [0, 200],
    [0, 200],
  ],
  [[3000, 404]],
];
