// RFC 3261 §16 plus the project's rule that every transaction ends whatever arrives: a request that
// goes wrong once its server transaction exists is still answered, so the table empties.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseMessage } from '@sipfleet/sip';
import type { SipRequest, SipResponse } from '@sipfleet/sip';
import type { RoutingHooks } from '../src/index.js';
import { FROM_UAC, PROXY, Uac, Uas, World } from './harness.js';

const PROXY_TARGET = { protocol: 'udp' as const, ...PROXY };

const UAS_ADDRESS = '10.0.1.1';
const UAS_URI = `sip:${UAS_ADDRESS}:5060`;

function setup(hooks: (uasUri: string) => RoutingHooks) {
  const world = new World(hooks(UAS_URI));
  return { world, uac: new Uac(world), uas: new Uas(world, UAS_ADDRESS) };
}

const relayTo = (uasUri: string): RoutingHooks => ({
  request(ctx) {
    ctx.setDestination(uasUri);
    ctx.relay();
  },
});

/** Runs every timer out (Timer J/H/L/M are 64*T1 = 32 s on UDP) and checks the table is empty. */
async function assertAllEnded(world: World): Promise<void> {
  await world.advance(40_000, 1_000);
  assert.deepEqual(world.proxy.transactions.counts, { server: 0, client: 0 });
}

function finals(responses: SipResponse[]): SipResponse[] {
  return responses.filter((r) => r.status >= 200);
}

describe('every transaction ends, whatever arrives', () => {
  test('10,000 OPTIONS whose Route does not parse: each answered 400 Bad Route, none left behind', async () => {
    const { world, uac, uas } = setup(relayTo);
    const bad = ['Route: <sip:10.0.0.2;lr', 'Route: <sip:[::1;lr>', 'Route: sip:x y'];
    for (let i = 0; i < 10_000; i++) {
      const req = uac.request('OPTIONS', 'sip:bob@example.com', [bad[i % bad.length] ?? '']);
      uac.endpoint.send(PROXY_TARGET, req.toBuffer());
      if (i % 500 === 499) await world.settle();
    }
    await world.settle();
    assert.equal(uac.strays.length, 10_000, 'every request answered');
    assert.ok(uac.strays.every((r) => r.status === 400 && r.reason === 'Bad Route'));
    assert.equal(uas.received.length, 0, 'nothing relayed');
    assert.ok(world.proxy.transactions.counts.server > 0, 'the answers wait for retransmissions');
    await assertAllEnded(world);
  });

  test('a request hook that drops (Kamailio drop): no answer, and the server transaction ends at once', async () => {
    const { world, uac, uas } = setup(() => ({
      request(ctx) {
        ctx.drop();
      },
    }));
    uac.send(uac.request('INVITE', 'sip:bob@example.com'));
    uac.send(uac.request('OPTIONS', 'sip:bob@example.com'));
    await world.settle();
    assert.deepEqual(uac.statuses(), [100], 'the INVITE got its 100 Trying, nothing else');
    assert.equal(uas.received.length, 0);
    // No timer needed: dropping ends the transaction there and then.
    assert.deepEqual(world.proxy.transactions.counts, { server: 0, client: 0 });
  });

  test('an INVITE whose Route does not parse gets 100 then 400 Bad Route; both sides end', async () => {
    const { world, uac } = setup(relayTo);
    uac.send(uac.request('INVITE', 'sip:bob@example.com', ['Route: <sip:10.0.0.2;lr']));
    await world.settle();
    assert.deepEqual(uac.statuses(), [100, 400]);
    assert.equal(uac.responses.at(-1)?.reason, 'Bad Route');
    await assertAllEnded(world);
  });

  test('a Via below the top that does not parse (handed over past the parser) is answered 400 Bad Via', async () => {
    const { world, uac, uas } = setup(relayTo);
    // The answers carry the bad Via back, which the UAC's parser would refuse: read the wire.
    const answers: string[] = [];
    uac.endpoint.onMessage = (data) => answers.push(data.toString('latin1').split('\r\n')[0] ?? '');
    for (const method of ['OPTIONS', 'INVITE']) {
      const req = parseMessage(uac.request(method, 'sip:bob@example.com').toBuffer()) as SipRequest;
      req.appendHeader('Via', 'SIP/2.0/UDP ;;;branch=');
      world.proxy.receive(req, FROM_UAC);
    }
    await world.settle();
    assert.deepEqual(
      answers.filter((a) => !a.includes(' 100 ')),
      ['SIP/2.0 400 Bad Via', 'SIP/2.0 400 Bad Via'],
    );
    assert.equal(uas.received.length, 0);
    await assertAllEnded(world);
  });

  test('Record-Route and Contact the proxy does not read go through as they are; the calls end', async () => {
    const { world, uac, uas } = setup(relayTo);
    uac.send(
      uac.request('INVITE', 'sip:bob@example.com', ['Record-Route: <sip:rr.example.com;lr']),
    );
    const invite = uac.request('INVITE', 'sip:bob@example.com');
    invite.setHeader('Contact', '<sip:alice@');
    uac.send(invite);
    await world.settle();
    assert.deepEqual(uac.statuses().sort(), [100, 100, 180, 180, 200, 200]);
    const relayed = uas.received.filter((r) => r.method === 'INVITE');
    assert.equal(relayed[0]?.getHeader('record-route'), '<sip:rr.example.com;lr');
    assert.equal(relayed[1]?.getHeader('contact'), '<sip:alice@');
    await assertAllEnded(world);
  });

  test('a hook that trips over a malformed Contact is answered 500 and counted', async () => {
    const { world, uac } = setup((uasUri) => ({
      request(ctx) {
        void ctx.request.contacts[0]?.uri; // a registrar-like hook reads the Contact
        ctx.setDestination(uasUri);
        ctx.relay();
      },
    }));
    const invite = uac.request('INVITE', 'sip:bob@example.com');
    invite.setHeader('Contact', '<sip:alice@[::1>');
    uac.send(invite);
    await world.settle();
    assert.deepEqual(uac.statuses(), [100, 500]);
    assert.deepEqual(world.observed.get('hookError'), [['request']]);
    await assertAllEnded(world);
  });

  test('hooks that throw or reject, in the request, branch and failure routes: answered, all end', async () => {
    const { world, uac, uas } = setup((uasUri) => ({
      async request(ctx) {
        const kind = ctx.request.getHeader('x-case');
        if (kind === 'reject') {
          await Promise.resolve();
          throw new Error('rejected');
        }
        ctx.setDestination(kind === 'failure' ? 'sip:10.9.9.9' : uasUri);
        if (kind === 'failure') ctx.setTimers({ frTimerMs: 1_000 });
        ctx.relay();
      },
      branch(ctx) {
        if (ctx.request.getHeader('x-case') === 'branch') throw new Error('branch hook');
      },
      failure() {
        throw new Error('failure hook');
      },
    }));
    uac.send(uac.request('MESSAGE', 'sip:a@example.com', ['X-Case: reject']));
    uac.send(uac.request('MESSAGE', 'sip:b@example.com', ['X-Case: branch']));
    uac.send(uac.request('INVITE', 'sip:c@example.com', ['X-Case: failure']));
    await world.settle();
    await world.advance(1_100);
    assert.deepEqual(
      finals(uac.responses)
        .map((r) => r.status)
        .sort(),
      [200, 500, 500],
    );
    // A failing branch hook changes nothing: the copy went out.
    assert.equal(uas.received.filter((r) => r.method === 'MESSAGE').length, 1);
    assert.deepEqual((world.observed.get('hookError') ?? []).map(([hook]) => hook).sort(), [
      'branch',
      'failure',
      'request',
    ]);
    await assertAllEnded(world);
  });
});
