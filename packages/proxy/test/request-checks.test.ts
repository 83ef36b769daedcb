// RFC 3261 §16.3 (request validation) and §16.4 (Route information pre-processing), as pure functions.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loopHash, ownBranch } from '../src/loop-detection.js';
import { OwnAddresses } from '../src/own-addresses.js';
import {
  BadHeader,
  checkRequest,
  decrementMaxForwards,
  preprocessRoutes,
  validate,
} from '../src/request-checks.js';
import { makeRequest, PROXY } from './harness.js';

const own = new OwnAddresses({
  sentBy: { udp: { host: PROXY.address, port: PROXY.port } },
  advertised: { host: 'edge.example.net' },
  aliases: ['alias.example.net'],
});
const ME = `sip:${PROXY.address}:${PROXY.port}`;

describe('request checks (RFC 3261 §16.3-16.4)', () => {
  test('§16.3: a fine request passes; Max-Forwards 0, Proxy-Require and a bad Request-URI are refused', () => {
    assert.equal(validate(makeRequest('INVITE', 'sip:bob@example.com'), own), undefined);
    assert.deepEqual(validate(makeRequest('OPTIONS', 'sip:x@y', ['Max-Forwards: 0']), own), {
      status: 483,
      reason: 'Too Many Hops',
    });
    assert.deepEqual(validate(makeRequest('OPTIONS', 'sip:x@y', ['Proxy-Require: a, b']), own), {
      status: 420,
      reason: 'Bad Extension',
      headers: [['Unsupported', 'a, b']],
    });
    assert.deepEqual(validate(makeRequest('OPTIONS', 'sip:x@[::1'), own), {
      status: 400,
      reason: 'Bad Request-URI',
    });
  });

  test('§16.3 step 4: our Via with the same loop hash is a loop; a new Request-URI is a spiral', () => {
    const req = makeRequest('MESSAGE', 'sip:bob@example.com');
    req.prependHeader(
      'Via',
      `SIP/2.0/UDP ${PROXY.address}:5060;branch=${ownBranch(loopHash(req))}`,
    );
    assert.deepEqual(validate(req, own), { status: 482, reason: 'Loop Detected' });
    req.setUri('sip:carol@example.com');
    assert.equal(validate(req, own), undefined, 'same Via, other Request-URI: a spiral');
    const foreign = makeRequest('MESSAGE', 'sip:bob@example.com');
    foreign.prependHeader(
      'Via',
      `SIP/2.0/UDP 10.7.7.7:5060;branch=${ownBranch(loopHash(foreign))}`,
    );
    assert.equal(validate(foreign, own), undefined, 'a loop hash in somebody else’s Via');
  });

  test('a header that fails its lazy parse is refused 400 naming it', () => {
    const badVia = makeRequest('OPTIONS', 'sip:x@y');
    badVia.appendHeader('Via', 'SIP/2.0/UDP ;branch=');
    assert.deepEqual(checkRequest(badVia, own, '70'), { status: 400, reason: 'Bad Via' });
    const badRoute = makeRequest('OPTIONS', 'sip:x@y', [`Route: <${ME};lr`]);
    assert.deepEqual(checkRequest(badRoute, own, '70'), { status: 400, reason: 'Bad Route' });
    assert.throws(() => preprocessRoutes(badRoute, own.myself), BadHeader);
  });

  test('§16.4: our own Route entries come off (advertised name, alias, socket); params are kept', () => {
    const req = makeRequest('BYE', 'sip:bob@10.0.1.1', [
      'Route: <sip:edge.example.net:5060;lr;dsset=3>',
      'Route: <sip:alias.example.net;lr>',
      'Route: <sip:next.example.com;lr>',
    ]);
    const info = preprocessRoutes(req, own.myself);
    assert.equal(info.hadRouteSet, true);
    assert.equal(info.ownRoute?.params.get('dsset'), '3');
    assert.deepEqual(req.getHeaders('route'), ['<sip:next.example.com;lr>']);
    assert.deepEqual(preprocessRoutes(makeRequest('INVITE', 'sip:b@c'), own.myself), {
      hadRouteSet: false,
    });
  });

  test('§16.4: after a strict router our URI is the Request-URI: the last Route becomes it again', () => {
    const req = makeRequest('BYE', ME, [
      'Route: <sip:next.example.com;lr>',
      'Route: <sip:bob@10.0.1.1>',
    ]);
    preprocessRoutes(req, own.myself);
    assert.equal(req.uri, 'sip:bob@10.0.1.1');
    assert.deepEqual(req.getHeaders('route'), ['<sip:next.example.com;lr>']);
  });

  test('§16.6 step 3: Max-Forwards goes down by one, or starts at our default', () => {
    const counted = makeRequest('INVITE', 'sip:b@c', ['Max-Forwards: 10']);
    decrementMaxForwards(counted, '70');
    assert.equal(counted.maxForwards, 9);
    const none = makeRequest('INVITE', 'sip:b@c');
    decrementMaxForwards(none, '70');
    assert.equal(none.maxForwards, 70);
    const checked = makeRequest('INVITE', 'sip:b@c', ['Max-Forwards: 5']);
    assert.deepEqual(checkRequest(checked, own, '70'), { hadRouteSet: false });
    assert.equal(checked.maxForwards, 4, 'checkRequest decrements once');
  });
});
