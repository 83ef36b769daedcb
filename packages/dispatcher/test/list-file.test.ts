import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DS_INACTIVE_DST,
  DS_PROBING_DST,
  formatList,
  parseList,
  SipfleetDispatcherError,
} from '../src/index.js';

// The example of Kamailio's dispatcher README ("Destination List File"), plus a description.
const README_EXAMPLE = `#
# dispatcher destination sets (groups)
#

# line format
# setid(int) destination(sip uri) flags(int,opt) priority(int,opt) attributes(str,opt)

# proxies
2 sip:127.0.0.1:5080;transport=tcp 0 10 class=4;prefix=448;strip=2
2 sip:127.0.0.1:5082;px=vx 0 5 duid=abc;socket=udp:192.168.0.125:5060;pipe=p10

# gateways
1 sip:127.0.0.1:7070 0 0 duid=xyz;maxload=20
1 sip:127.0.0.1:7072 0 5
1 sip:127.0.0.1:7074
3 sip:gw.example.com 9 1 weight=50;rweight=10;ping_from=sip:ping@edge;obproxy=sip:op;cc=1 Main gateway, rack 4
`;

test('parses the README example: sets, fields, attrs, descriptions', () => {
  const sets = parseList(README_EXAMPLE);
  assert.deepEqual(
    sets.map((s) => s.id),
    [1, 2, 3],
  );
  const [one, two, three] = sets;
  assert.ok(one && two && three);
  // Priority descending (5, 0, 0); the two priority-0 lines in REVERSE file order, as Kamailio.
  assert.deepEqual(
    one.destinations.map((d) => d.uri),
    ['sip:127.0.0.1:7072', 'sip:127.0.0.1:7074', 'sip:127.0.0.1:7070'],
  );
  const gw = one.destinations[2];
  assert.equal(gw?.attrs.duid, 'xyz');
  assert.equal(gw?.attrs.maxload, 20);
  assert.equal(gw?.flags, 0);
  assert.deepEqual(
    two.destinations.map((d) => [d.uri, d.priority]),
    [
      ['sip:127.0.0.1:5080;transport=tcp', 10],
      ['sip:127.0.0.1:5082;px=vx', 5],
    ],
  );
  assert.deepEqual(
    [...(two.destinations[0]?.attrs.extra ?? [])],
    [
      ['class', '4'],
      ['prefix', '448'],
      ['strip', '2'],
    ],
  );
  assert.equal(two.destinations[1]?.attrs.socket, 'udp:192.168.0.125:5060');
  assert.deepEqual([...(two.destinations[1]?.attrs.extra ?? [])], [['pipe', 'p10']]);
  const main = three.destinations[0];
  assert.equal(main?.flags, DS_INACTIVE_DST | DS_PROBING_DST);
  assert.equal(main?.attrs.weight, 50);
  assert.equal(main?.attrs.rweight, 10);
  assert.equal(main?.attrs.pingFrom, 'sip:ping@edge');
  assert.equal(main?.attrs.obproxy, 'sip:op');
  assert.equal(main?.attrs.congestionControl, true);
  assert.equal(main?.description, 'Main gateway, rack 4');
});

test('comments end a line where a field would start; CRLF, tabs and a trailing ";" are fine', () => {
  const [set] = parseList(
    '1\tsip:a.example.com 0 # a comment\r\n  # indented comment\r\n1 sip:b.example.com 8 3 duid=b; # c\r\n',
  );
  assert.deepEqual(
    set?.destinations.map((d) => [d.uri, d.flags, d.priority, d.attrs.duid, d.description]),
    [
      ['sip:b.example.com', 8, 3, 'b', undefined],
      ['sip:a.example.com', 0, 0, undefined, undefined],
    ],
  );
});

test('a URI without scheme gets sip: as Kamailio does', () => {
  const [set] = parseList('7 10.0.0.9:5070\n');
  assert.equal(set?.destinations[0]?.uri, 'sip:10.0.0.9:5070');
});

test('known attribute names are case-insensitive, free-form keys keep their spelling and order', () => {
  const [set] = parseList('1 sip:a 0 0 zeta=1;DUID=A;Weight=20;SockName=trunk;alpha;mid=x=y\n');
  const d = set?.destinations[0];
  assert.equal(d?.attrs.duid, 'A');
  assert.equal(d?.attrs.sockname, 'trunk');
  assert.equal(d?.attrs.weight, 20);
  assert.deepEqual(
    [...(d?.attrs.extra ?? [])],
    [
      ['zeta', '1'],
      ['alpha', ''],
      ['mid', 'x=y'],
    ],
  );
});

test('errors name every bad line and what is wrong, with a typed code', () => {
  const text = [
    '1 sip:ok.example.com', // 1
    'x sip:a.example.com', // 2: set id
    '1', // 3: no uri
    '1 mailto:bob@example.com', // 4: not sip
    '1 sip:b.example.com abc', // 5: flags
    '1 sip:c.example.com 0 high', // 6: priority
    '1 sip:d.example.com 0 0 weight=150', // 7: weight range
    '1 sip:e.example.com 0 0 rweight=x', // 8: rweight
    '1 sip:f.example.com 0 0 maxload=-1', // 9: maxload
    '1 sip:g.example.com 0 0 duid=a;duid=b', // 10: duplicate attr
    '1 sip:h.example.com 0 0 a=1;;b=2', // 11: empty attr
    '1 SIP:ok.example.com', // 12: duplicate destination (case-insensitive)
    '1 sip:i.example.com 64', // 13: flags out of range
  ].join('\n');
  let caught: unknown;
  try {
    parseList(text);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof SipfleetDispatcherError);
  assert.equal(caught.code, 'SIPFLEET_ERR_DISPATCHER_LIST');
  assert.deepEqual(
    caught.issues.map((i) => i.line),
    [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13],
  );
  const byLine = new Map(caught.issues.map((i) => [i.line, i.message]));
  assert.match(byLine.get(2) ?? '', /set id .* 'x'/);
  assert.match(byLine.get(3) ?? '', /missing destination URI/);
  assert.match(byLine.get(4) ?? '', /not a sip/);
  assert.match(byLine.get(5) ?? '', /flags .* 'abc'/);
  assert.match(byLine.get(6) ?? '', /priority .* 'high'/);
  assert.match(byLine.get(7) ?? '', /weight must be an integer 0-100, got '150'/);
  assert.match(byLine.get(8) ?? '', /rweight/);
  assert.match(byLine.get(9) ?? '', /maxload/);
  assert.match(byLine.get(10) ?? '', /'duid' is given twice/);
  assert.match(byLine.get(11) ?? '', /no name/);
  assert.match(byLine.get(12) ?? '', /already in set 1 \(line 1\)/);
  assert.match(byLine.get(13) ?? '', /flags/);
  assert.match(caught.message, /^dispatcher\.list: line 2: /);
});

test('an empty or comment-only file gives no sets', () => {
  assert.deepEqual(parseList(''), []);
  assert.deepEqual(parseList('# nothing\n\n   \n'), []);
});

test('formatList writes the file format and round-trips, tie order included', () => {
  const sets = parseList(README_EXAMPLE);
  const text = formatList(sets);
  assert.equal(
    text,
    [
      '1 sip:127.0.0.1:7072 0 5',
      '1 sip:127.0.0.1:7070 0 0 duid=xyz;maxload=20',
      '1 sip:127.0.0.1:7074 0 0',
      '2 sip:127.0.0.1:5080;transport=tcp 0 10 class=4;prefix=448;strip=2',
      '2 sip:127.0.0.1:5082;px=vx 0 5 duid=abc;socket=udp:192.168.0.125:5060;pipe=p10',
      '3 sip:gw.example.com 9 1 weight=50;rweight=10;ping_from=sip:ping@edge;obproxy=sip:op;cc=1 Main gateway, rack 4',
      '',
    ].join('\n'),
  );
  const again = parseList(text);
  assert.deepEqual(again, sets);
  assert.equal(formatList(again), text);
});

test('a description without attrs is written after an empty ";" attrs column', () => {
  const text = formatList(
    parseList('1 sip:a.example.com 0 0 ;  backup box\n1 sip:b.example.com 0 0 x=1\n'),
  );
  assert.match(text, /^1 sip:a\.example\.com 0 0 ; backup box$/m);
  assert.equal(
    parseList(text)[0]?.destinations.find((d) => d.uri === 'sip:a.example.com')?.description,
    'backup box',
  );
});
