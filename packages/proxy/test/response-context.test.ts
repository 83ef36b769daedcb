// RFC 3261 §16.7: response processing, from best-response selection to what goes upstream.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createResponse, parseMessage, SipRequest } from '@sipfleet/sip';
import type { SipResponse } from '@sipfleet/sip';
import type { RoutingHooks } from '../src/index.js';
import { hasUpstreamVia, isBetter, upstreamStatus } from '../src/response-context.js';
import { Uac, Uas, World } from './harness.js';

/** A next hop that answers every INVITE with `statuses`, keeping only the top Via (ours). */
function viaStrippingHop(world: World, address: string, statuses: number[]) {
  const endpoint = world.net.endpoint(address, 5060);
  endpoint.onMessage = (data, remote) => {
    const req = parseMessage(data);
    if (!(req instanceof SipRequest) || req.method !== 'INVITE') return;
    for (const status of statuses) {
      const res = createResponse(req, status, undefined, { toTag: 'rogue' });
      res.setHeader('Via', req.getHeaders('via')[0] ?? '');
      endpoint.send(
        { protocol: 'udp', address: remote.address, port: remote.port },
        res.toBuffer(),
      );
    }
  };
  return `sip:${address}:5060`;
}

function fork(targets: () => string[], extra: Partial<RoutingHooks> = {}): RoutingHooks {
  return {
    request(ctx) {
      const [first, ...others] = targets();
      ctx.setDestination(first);
      for (const uri of others) ctx.appendBranch(uri, uri);
      ctx.relay();
    },
    ...extra,
  };
}

function finalOf(responses: SipResponse[]): SipResponse {
  const res = responses.find((r) => r.status >= 200);
  assert.ok(res, 'a final response arrived');
  return res;
}

describe('response context (RFC 3261 §16.7)', () => {
  test('step 6: any 6xx wins, then the lowest class, the first one within a class; 503 goes up as 500', () => {
    assert.equal(isBetter(486, undefined), true);
    assert.equal(isBetter(404, 503), true);
    assert.equal(isBetter(503, 404), false);
    assert.equal(isBetter(480, 486), false, 'same class: the first one stays');
    assert.equal(isBetter(603, 302), true);
    assert.equal(isBetter(302, 603), false);
    assert.equal(upstreamStatus(503), 500);
    assert.equal(upstreamStatus(486), 486);
  });

  test('step 3: a Via below ours is told apart without parsing', () => {
    const req = parseMessage(
      'SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\n' +
        'Call-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n',
    ) as SipResponse;
    assert.equal(hasUpstreamVia(req), false);
    req.appendHeader('Via', 'SIP/2.0/UDP b;branch=z9hG4bK2');
    assert.equal(hasUpstreamVia(req), true);
    req.removeHeader('via');
    req.appendHeader('Via', 'SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2');
    assert.equal(hasUpstreamVia(req), true);
  });

  test('steps 6 and 10: a 603 on one branch cancels the others and goes upstream', async () => {
    let uases: Uas[] = [];
    const world = new World(fork(() => uases.map((u) => u.uri)));
    uases = [new Uas(world, '10.0.1.1'), new Uas(world, '10.0.1.2')];
    const [declining, ringing] = uases as [Uas, Uas];
    declining.script = [[100, 603]];
    ringing.script = [[0, 180]];
    const uac = new Uac(world);
    uac.send(uac.request('INVITE', 'sip:bob@example.com'));
    await world.settle();
    await world.advance(200);
    assert.equal(ringing.cancels.length, 1, 'the ringing branch was cancelled');
    assert.equal(finalOf(uac.responses).status, 603);
    await world.advance(40_000, 1_000);
    assert.deepEqual(world.proxy.transactions.counts, { server: 0, client: 0 });
  });

  test('step 6: with every branch failed, the lowest class goes upstream (480 over 503)', async () => {
    let uases: Uas[] = [];
    const world = new World(fork(() => uases.map((u) => u.uri)));
    uases = [new Uas(world, '10.0.1.1'), new Uas(world, '10.0.1.2')];
    (uases[0] as Uas).script = [[0, 503]];
    (uases[1] as Uas).script = [[50, 480]];
    const uac = new Uac(world);
    uac.send(uac.request('INVITE', 'sip:bob@example.com'));
    await world.advance(200);
    assert.equal(finalOf(uac.responses).status, 480);
  });

  test('step 3: responses whose only Via is ours are not forwarded; the call still ends', async () => {
    let rogue = '';
    const world = new World(fork(() => [rogue]));
    rogue = viaStrippingHop(world, '10.0.1.9', [180, 486]);
    const uac = new Uac(world);
    uac.send(uac.request('INVITE', 'sip:bob@example.com'));
    await world.settle();
    assert.deepEqual(uac.statuses(), [100, 486], 'no 180; the 486 is ours, not the one received');
    const final = finalOf(uac.responses);
    assert.notEqual(final.to.tag, 'rogue');
    assert.ok(final.to.tag !== undefined && final.to.tag.length > 0, 'our own 486 has a To tag');
    assert.deepEqual(world.observed.get('responseDropped'), [
      ['no-upstream-via'],
      ['no-upstream-via'],
    ]);
    await world.advance(40_000, 1_000);
    assert.deepEqual(world.proxy.transactions.counts, { server: 0, client: 0 });
  });

  test('step 3: a 2xx with no Via below ours cannot go upstream: the caller gets 502', async () => {
    let rogue = '';
    const world = new World(fork(() => [rogue]));
    rogue = viaStrippingHop(world, '10.0.1.9', [200]);
    const uac = new Uac(world);
    uac.send(uac.request('INVITE', 'sip:bob@example.com'));
    await world.settle();
    assert.equal(finalOf(uac.responses).status, 502);
  });

  test('the reply hook may drop a provisional, never a final', async () => {
    const statuses: number[] = [];
    const world = new World(
      fork(() => ['sip:10.0.1.1:5060'], {
        reply(ctx) {
          statuses.push(ctx.status);
          ctx.drop();
        },
      }),
    );
    const uas = new Uas(world, '10.0.1.1');
    uas.script = [
      [0, 180],
      [0, 486],
    ];
    const uac = new Uac(world);
    uac.send(uac.request('INVITE', 'sip:bob@example.com'));
    await world.settle();
    assert.deepEqual(statuses, [180, 486]);
    assert.deepEqual(uac.statuses(), [100, 486]);
  });

  test('§8.2.6.2: responses the proxy makes carry a To tag (not 100); a CANCEL’s 200 has the 487’s', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const world = new World({
      async request(ctx) {
        if (ctx.isMethod('OPTIONS')) {
          ctx.reply(404, 'Not Here');
          return;
        }
        await gate; // the CANCEL arrives while the route is still deciding
        ctx.setDestination('sip:10.0.1.1');
        ctx.relay(); // answers 487: the caller cancelled
      },
    });
    const uac = new Uac(world);
    uac.send(uac.request('OPTIONS', 'sip:bob@example.com'));
    const invite = uac.send(uac.request('INVITE', 'sip:bob@example.com'));
    await world.settle();
    invite.cancel();
    await world.settle();
    release();
    await world.settle();
    const byStatus = new Map(uac.responses.map((r) => [r.status, r]));
    assert.equal(byStatus.get(100)?.to.tag, undefined);
    assert.match(byStatus.get(404)?.to.tag ?? '', /^[0-9a-f]{16}$/);
    const terminated = byStatus.get(487);
    assert.match(terminated?.to.tag ?? '', /^[0-9a-f]{16}$/);
    const cancelOk = world.net.log
      .map((p) => parseMessage(p.data))
      .find((m): m is SipResponse => !(m instanceof SipRequest) && m.cseq.method === 'CANCEL');
    assert.equal(cancelOk?.to.tag, terminated?.to.tag);
  });
});
