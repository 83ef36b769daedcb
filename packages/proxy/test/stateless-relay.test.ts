// What the proxy relays without a transaction: the 2xx ACK (RFC 3261 §17.1.1.3, §16.11) and responses
// that match no client transaction (§16.7 step 3).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createResponse, parseMessage, SipRequest, SipResponse } from '@sipfleet/sip';
import { pino } from 'pino';
import { Forwarder } from '../src/forwarder.js';
import { HookRunner } from '../src/hook-runner.js';
import { NO_OBSERVER } from '../src/observer.js';
import { OwnAddresses } from '../src/own-addresses.js';
import { StatelessRelay } from '../src/stateless-relay.js';
import { makeRequest, PROXY, proxyLayer } from './harness.js';

const ME = `sip:${PROXY.address}:${PROXY.port}`;
const OUR_VIA = `SIP/2.0/UDP ${PROXY.address}:${PROXY.port};branch=z9hG4bKsf00000000.x1`;

function relay() {
  const { net, clock, endpoint, layer } = proxyLayer();
  const own = new OwnAddresses({ sentBy: { udp: endpoint.sentBy() } });
  const log = pino({ level: 'silent' });
  const dropped: string[] = [];
  const observer = { ...NO_OBSERVER, responseDropped: (reason: string) => dropped.push(reason) };
  const forwarder = new Forwarder(own, layer, new HookRunner({}, observer, log), observer, clock);
  const stateless = new StatelessRelay(own, forwarder, endpoint, observer, log, '70');
  /** Lets next-hop resolution finish, then returns what was sent since the last call. */
  let seen = 0;
  const sent = async () => {
    await new Promise((resolve) => setImmediate(resolve));
    const out = net.log.slice(seen).map((p) => ({ to: p.to, msg: parseMessage(p.data) }));
    seen = net.log.length;
    return out;
  };
  return { stateless, sent, dropped };
}

function ack(branch: string): SipRequest {
  const req = makeRequest(
    'ACK',
    'sip:bob@10.0.1.1:5060',
    [`Route: <${ME};lr>`, 'Max-Forwards: 20'],
    {
      callId: 'ack-call',
    },
  );
  req.setHeader('Via', `SIP/2.0/UDP 10.0.0.1:5060;branch=${branch}`);
  req.setHeader('To', '<sip:bob@example.com>;tag=uas');
  req.setHeader('From', '<sip:alice@example.com>;tag=uac');
  return req;
}

describe('stateless relay', () => {
  test('a 2xx ACK follows its Route set with our Via; a retransmission gets the same branch', async () => {
    const { stateless, sent } = relay();
    stateless.forwardAck(ack('z9hG4bKack1'));
    stateless.forwardAck(ack('z9hG4bKack1'));
    const out = await sent();
    assert.equal(out.length, 2);
    const [first, again] = out.map((o) => o.msg as SipRequest);
    assert.ok(first instanceof SipRequest && again instanceof SipRequest);
    assert.deepEqual(out[0]?.to, { protocol: 'udp', address: '10.0.1.1', port: 5060 });
    assert.equal(first.routes.length, 0, 'our Route entry consumed');
    assert.equal(first.maxForwards, 19);
    assert.equal(first.topVia?.host, PROXY.address);
    assert.equal(first.topVia?.branch, again.topVia?.branch);
    stateless.forwardAck(ack('z9hG4bKack2'));
    const other = (await sent())[0]?.msg as SipRequest;
    assert.notEqual(other.topVia?.branch, first.topVia?.branch, 'another ACK, another branch');
  });

  test('an ACK for the proxy itself, or with Max-Forwards 0, goes nowhere', async () => {
    const { stateless, sent } = relay();
    stateless.forwardAck(makeRequest('ACK', ME));
    stateless.forwardAck(makeRequest('ACK', 'sip:bob@10.0.1.1', ['Max-Forwards: 0']));
    assert.deepEqual(await sent(), []);
  });

  test('§16.7 step 3: a stray response loses our Via and goes to the next one (received, rport)', async () => {
    const { stateless, sent, dropped } = relay();
    const res = createResponse(makeRequest('INVITE', 'sip:bob@example.com'), 200, undefined, {
      toTag: 'uas',
    });
    res.setHeader(
      'Via',
      'SIP/2.0/UDP 192.168.1.5:5060;branch=z9hG4bKuac;received=203.0.113.9;rport=40000',
    );
    res.prependHeader('Via', OUR_VIA);
    stateless.forwardResponse(res);
    const out = await sent();
    assert.deepEqual(out[0]?.to, { protocol: 'udp', address: '203.0.113.9', port: 40000 });
    assert.ok(out[0]?.msg instanceof SipResponse);
    assert.equal(out[0].msg.vias.length, 1);
    assert.deepEqual(dropped, []);
  });

  test('a response whose only Via is ours is not forwarded, and is counted; one not ours is ignored', async () => {
    const { stateless, sent, dropped } = relay();
    const forUs = createResponse(makeRequest('OPTIONS', ME), 200);
    forUs.setHeader('Via', OUR_VIA);
    stateless.forwardResponse(forUs);
    const notOurs = createResponse(makeRequest('OPTIONS', ME), 200); // top Via is the UAC's
    stateless.forwardResponse(notOurs);
    assert.deepEqual(await sent(), []);
    assert.deepEqual(dropped, ['no-upstream-via']);
  });
});
