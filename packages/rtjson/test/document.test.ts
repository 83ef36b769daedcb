import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRtjson, readExtraHeaders } from '../src/document.js';
import type { RoutingDocument, RtjsonEnvelope } from '../src/document.js';

function ok(body: unknown, envelope: RtjsonEnvelope = 'none'): RoutingDocument {
  const result = parseRtjson(body, { envelope });
  if (!result.ok) assert.fail(`unexpected error: ${result.error.message}`);
  return result.document;
}

function error(body: unknown, envelope: RtjsonEnvelope = 'none'): string {
  const result = parseRtjson(body, { envelope });
  assert.equal(result.ok, false, 'expected a typed error');
  if (result.ok) throw new Error('unreachable');
  assert.equal(result.error.code, 'SIPFLEET_ERR_RTJSON_INVALID');
  return result.error.message;
}

test('a full serial document: every Kamailio field, unknown fields ignored', () => {
  const doc = ok({
    success: true,
    version: '1.0',
    routing: 'serial',
    unknown_top: { anything: 1 },
    routes: [
      {
        uri: 'sip:bob@10.0.0.1',
        dst_uri: 'sip:10.0.0.2:5070;transport=tcp',
        path: '<sip:p1.example.com;lr>,<sip:p2.example.com;lr>',
        socket: 'udp:127.0.0.1:5060',
        headers: {
          from: { display: 'Alice "A"', uri: 'sip:alice@example.com' },
          to: { display: 'Bob', uri: 'sip:bob@example.com' },
          extra: 'X-Account: 42\r\nX-Route: gw1\r\n',
        },
        branch_flags: 8,
        fr_timer: 5000,
        fr_inv_timer: 30000,
        color: 'ignored',
      },
      { uri: 'sip:bob@10.0.0.3', fr_timer: 0 },
    ],
  });
  assert.equal(doc.success, true);
  if (!doc.success) return;
  assert.equal(doc.routing, 'serial');
  assert.equal(doc.version, '1.0');
  assert.deepEqual(doc.routes[0], {
    uri: 'sip:bob@10.0.0.1',
    dstUri: 'sip:10.0.0.2:5070;transport=tcp',
    path: ['sip:p1.example.com;lr', 'sip:p2.example.com;lr'],
    socket: 'udp:127.0.0.1:5060',
    headers: {
      from: { display: 'Alice "A"', uri: 'sip:alice@example.com' },
      to: { display: 'Bob', uri: 'sip:bob@example.com' },
      extra: [
        ['X-Account', '42'],
        ['X-Route', 'gw1'],
      ],
    },
    branchFlags: 8,
    frTimerMs: 5000,
    frInvTimerMs: 30000,
  });
  // fr_timer 0 is "not set", as in Kamailio
  assert.deepEqual(doc.routes[1], { uri: 'sip:bob@10.0.0.3', headers: { extra: [] } });
});

test('routing defaults to serial; parallel is kept', () => {
  const serial = ok({ success: true, routes: [{ uri: 'sip:a@h' }] });
  assert.equal(serial.success && serial.routing, 'serial');
  const parallel = ok({ success: true, routing: 'parallel', routes: [{}, { uri: 'sip:b@h' }] });
  assert.equal(parallel.success && parallel.routing, 'parallel');
  assert.equal(parallel.success && parallel.routes.length, 2);
});

test('envelope none (Kamailio rtjson_init_routes): success is ignored, no routes is "no route"', () => {
  const plain = ok({ version: '1.0', routing: 'serial', routes: [{ uri: 'sip:a@h' }] });
  assert.equal(plain.success && plain.routes[0]?.uri, 'sip:a@h');
  const despiteFalse = ok({ success: false, routes: [{ uri: 'sip:b@h' }] });
  assert.equal(despiteFalse.success && despiteFalse.routes[0]?.uri, 'sip:b@h');
  assert.deepEqual(ok({ success: false }), { success: false });
  assert.deepEqual(ok({ version: '2', routes: [] }), { success: false, version: '2' });
  assert.deepEqual(ok({ success: 'whatever', routes: null }), { success: false });
  assert.match(error({ routes: 'garbage' }), /^routes: must be an array/);
});

test('envelope success (Wazo): success false or missing is "no route", whatever else the document holds', () => {
  assert.deepEqual(ok({ success: false, routes: 'garbage' }, 'success'), { success: false });
  assert.deepEqual(ok({ version: '1.0', routes: [{ uri: 'sip:a@h' }] }, 'success'), {
    success: false,
    version: '1.0',
  });
  assert.match(error({ success: 'yes' }, 'success'), /^success: must be a boolean/);
  assert.match(error({ success: true, routes: [] }, 'success'), /^routes: must not be empty/);
});

test('malformed documents: typed errors naming the field', () => {
  assert.match(error([]), /^\(document\): must be a JSON object/);
  assert.match(error('x'), /^\(document\)/);
  assert.match(error({ success: true, routing: 'random', routes: [{}] }), /^routing: must be/);
  assert.match(error({ success: true }, 'success'), /^routes: must be an array/);
  assert.match(error({ success: true, routes: [1] }), /^routes\[0\]: must be an object/);
  assert.match(
    error({ success: true, routes: [{}, { uri: 'http://x' }] }),
    /^routes\[1\]\.uri: bad URI/,
  );
  assert.match(
    error({ success: true, routes: [{ dst_uri: 42 }] }),
    /^routes\[0\]\.dst_uri: must be a string/,
  );
  assert.match(
    error({ success: true, routes: [{ headers: { from: { uri: 'sip:' } } }] }),
    /^routes\[0\]\.headers\.from\.uri: bad URI/,
  );
  assert.match(
    error({ success: true, routes: [{ headers: { to: { display: 'a\r\nVia: evil' } } }] }),
    /^routes\[0\]\.headers\.to\.display: must not contain CR/,
  );
  assert.match(
    error({ success: true, routes: [{ headers: { extra: 'no colon here' } }] }),
    /^routes\[0\]\.headers\.extra: not a "Name: value"/,
  );
  assert.match(
    error({ success: true, routes: [{ headers: { extra: 'Via: SIP/2.0/UDP evil' } }] }),
    /Via cannot be set/,
  );
  assert.match(
    error({ success: true, routes: [{ fr_timer: -1 }] }),
    /fr_timer: must be an integer/,
  );
  assert.match(error({ success: true, routes: [{ fr_inv_timer: 1.5 }] }), /fr_inv_timer/);
  assert.match(error({ success: true, routes: [{ branch_flags: '8' }] }), /branch_flags/);
  assert.match(
    error({ success: true, routes: [{ socket: 'carrier pigeon' }] }),
    /socket: not proto/,
  );
  assert.match(
    error({ success: true, routes: [{ path: '<sip:ok;lr>,<mailto:x>' }] }),
    /path: bad URI/,
  );
  assert.match(
    error({ success: true, routes: Array.from({ length: 33 }, () => ({})) }),
    /at most 32 routes/,
  );
});

test('extra headers: LF or CRLF separated, blank lines skipped, values trimmed', () => {
  assert.deepEqual(readExtraHeaders('A: 1\nB:2\r\n\r\nC-D :  x y '), [
    ['A', '1'],
    ['B', '2'],
    ['C-D', 'x y'],
  ]);
});
