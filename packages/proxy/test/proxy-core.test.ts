import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseMessage } from '@sipfleet/sip';
import type { SipRequest } from '@sipfleet/sip';
import { defaultRoute } from '../src/index.js';
import type { RoutingHooks } from '../src/index.js';
import { FROM_UAC, makeRequest, PROXY, Uac, Uas, World } from './harness.js';

const PROXY_URI = `sip:${PROXY.address}:${PROXY.port}`;

function setup(hooks: (uas: Uas[]) => RoutingHooks, uasCount = 1) {
  let uases: Uas[] = [];
  const world = new World({
    request: (ctx) => hooks(uases).request?.(ctx),
    failure: (ctx) => hooks(uases).failure?.(ctx),
    reply: (ctx) => hooks(uases).reply?.(ctx),
    branch: (ctx) => hooks(uases).branch?.(ctx),
  });
  uases = Array.from({ length: uasCount }, (_, i) => new Uas(world, `10.0.1.${i + 1}`));
  const uac = new Uac(world);
  return { world, uac, uases };
}

function lastTo(uas: Uas, method: string): SipRequest {
  const req = uas.received.filter((r) => r.method === method).at(-1);
  assert.ok(req, `${method} reached ${uas.address}`);
  return req;
}

describe('proxy core (RFC 3261 section 16)', () => {
  test('INVITE is record-routed and relayed; 180 and 200 come back; ACK and BYE follow the route set', async () => {
    const { world, uac, uases } = setup((u) => defaultRoute({ destination: u[0]?.uri ?? '' }));
    const uas = uases[0] as Uas;
    const invite = uac.request('INVITE', `sip:bob@${PROXY.address}`, ['Max-Forwards: 10']);
    uac.send(invite);
    await world.settle();

    const relayed = lastTo(uas, 'INVITE');
    assert.equal(relayed.maxForwards, 9, 'Max-Forwards decremented');
    assert.equal(relayed.vias.length, 2, 'our Via on top of the UAC one');
    assert.equal(relayed.topVia?.host, PROXY.address);
    assert.match(relayed.getHeader('record-route') ?? '', /<sip:10\.0\.0\.2:5060;lr>/);
    assert.deepEqual(uac.statuses(), [100, 180, 200]);
    const ok = uac.responses.at(-1);
    assert.ok(ok);
    assert.equal(ok.vias.length, 1, 'our Via was popped from the response');
    assert.equal(world.proxy.transactions.counts.server, 1);

    // The UAC's ACK and BYE carry the route set: Route: <proxy;lr>, R-URI = UAS Contact.
    const toTag = ok.to.tag ?? '';
    const dialogHeaders = [`Route: <${PROXY_URI};lr>`];
    const ack = parseMessage(
      invite
        .toBuffer()
        .toString('latin1')
        .replace(/^INVITE [^ ]+/, `ACK ${uas.uri}`)
        .replace(/CSeq: (\d+) INVITE/, 'CSeq: $1 ACK')
        .replace(/branch=[^\r;]+/, 'branch=z9hG4bKack1')
        .replace(/To: <sip:bob@example.com>/, `To: <sip:bob@example.com>;tag=${toTag}`)
        .replace('Content-Length: 0', `${dialogHeaders.join('\r\n')}\r\nContent-Length: 0`),
    ) as SipRequest;
    uac.endpoint.send({ protocol: 'udp', ...PROXY }, ack.toBuffer());
    await world.settle();
    const ackAtUas = lastTo(uas, 'ACK');
    assert.equal(ackAtUas.routes.length, 0, 'our Route entry was consumed');
    assert.equal(ackAtUas.topVia?.host, PROXY.address, 'stateless ACK carries our Via');

    const bye = uac.request('BYE', uas.uri, [...dialogHeaders], invite.callId);
    bye.setHeader('To', `<sip:bob@example.com>;tag=${toTag}`);
    bye.setHeader('From', invite.getHeader('from') ?? '');
    uac.send(bye);
    await world.settle();
    assert.equal(lastTo(uas, 'BYE').callId, invite.callId);
    assert.equal(uac.statuses().at(-1), 200);

    // Every transaction ends once its timers run out: the table empties.
    await world.advance(70_000, 1_000);
    assert.deepEqual(world.proxy.transactions.counts, { server: 0, client: 0 });
  });

  test('a 500 from the first destination fails over to the next in the failure hook', async () => {
    const { world, uac, uases } = setup(
      (u) => ({
        request(ctx) {
          ctx.recordRoute();
          ctx.setDestination(u[0]?.uri);
          ctx.relay();
        },
        failure(ctx) {
          if (ctx.isCanceled() || !ctx.checkStatus('5[0-9][0-9]')) return;
          if (ctx.failedDestination === u[0]?.uri) {
            ctx.setDestination(u[1]?.uri);
            ctx.relay();
          }
        },
      }),
      2,
    );
    (uases[0] as Uas).script = [[0, 500]];
    uac.send(uac.request('INVITE', `sip:bob@${PROXY.address}`));
    await world.settle();
    const acks = world.net.log.filter(
      (p) =>
        p.to.address === (uases[0] as Uas).address && p.data.toString('latin1').startsWith('ACK '),
    );
    assert.equal(acks.length, 1, 'hop-by-hop ACK for the 500 (absorbed by the UAS transaction)');
    assert.equal(lastTo(uases[1] as Uas, 'INVITE').method, 'INVITE');
    assert.deepEqual(uac.statuses(), [100, 180, 200]);
  });

  test('no reply within fr_timer: branch ends as 408 and the failure hook fails over', async () => {
    const dead = 'sip:10.9.9.9:5060'; // nobody there: not even a 100 Trying comes back
    const { world, uac, uases } = setup(
      (u) => ({
        request(ctx) {
          ctx.setDestination(dead);
          ctx.setTimers({ frTimerMs: 2_000 });
          ctx.relay();
        },
        failure(ctx) {
          if (ctx.branchTimeout() && !ctx.branchReplied() && ctx.failedDestination === dead) {
            ctx.setDestination(u[0]?.uri);
            ctx.relay();
          }
        },
      }),
      1,
    );
    uac.send(uac.request('INVITE', `sip:bob@${PROXY.address}`));
    await world.settle();
    assert.equal((uases[0] as Uas).received.length, 0);
    await world.advance(2_100);
    assert.equal(lastTo(uases[0] as Uas, 'INVITE').method, 'INVITE');
    assert.deepEqual(uac.statuses(), [100, 180, 200]);
  });

  test('all branches fail: the best response goes upstream, and 503 becomes 500', async () => {
    const { world, uac, uases } = setup((u) => ({
      request(ctx) {
        ctx.setDestination(u[0]?.uri);
        ctx.relay();
      },
    }));
    (uases[0] as Uas).script = [[0, 503]];
    uac.send(uac.request('INVITE', `sip:bob@${PROXY.address}`));
    await world.settle();
    assert.deepEqual(uac.statuses(), [100, 500]);
  });

  test('parallel fork: a 486 and a 200; the 200 wins and the other branch is not answered twice', async () => {
    const { world, uac, uases } = setup(
      (u) => ({
        request(ctx) {
          ctx.setDestination(u[0]?.uri);
          ctx.appendBranch(`sip:bob@${u[1]?.address}`, u[1]?.uri);
          ctx.relay();
        },
      }),
      2,
    );
    (uases[0] as Uas).script = [[0, 486]];
    (uases[1] as Uas).script = [
      [0, 180],
      [500, 200],
    ];
    uac.send(uac.request('INVITE', `sip:bob@${PROXY.address}`));
    await world.settle();
    await world.advance(600);
    assert.deepEqual(uac.statuses(), [100, 180, 200]);
  });

  test('upstream CANCEL cancels the pending branch; the caller gets 487', async () => {
    const { world, uac, uases } = setup((u) => defaultRoute({ destination: u[0]?.uri ?? '' }));
    const uas = uases[0] as Uas;
    uas.script = [[0, 180]];
    const tx = uac.send(uac.request('INVITE', `sip:bob@${PROXY.address}`));
    await world.settle();
    assert.deepEqual(uac.statuses(), [100, 180]);
    tx.cancel();
    await world.settle();
    assert.equal(uas.cancels.length, 1, 'CANCEL reached the UAS');
    assert.equal(uac.statuses().at(-1), 487);
  });

  test('a CANCEL towards a silent server: the failure hook still runs, sees t_is_canceled(), the caller gets 487', async () => {
    const seen: boolean[] = [];
    const { world, uac } = setup(() => ({
      request(ctx) {
        ctx.setDestination('sip:10.0.9.9:5060'); // nothing answers there
        ctx.relay();
      },
      failure(ctx) {
        seen.push(ctx.isCanceled());
        ctx.relay(); // what a careless failure route does: answered 487, nothing relayed
      },
    }));
    const tx = uac.send(uac.request('INVITE', `sip:bob@${PROXY.address}`));
    await world.settle();
    tx.cancel();
    await world.settle();
    await world.advance(200_000);
    assert.deepEqual(seen, [true], 'Kamailio runs failure_route for a cancelled transaction');
    assert.equal(uac.statuses().at(-1), 487);
  });

  test('Max-Forwards 0 is refused with 483, Proxy-Require with 420', async () => {
    const { world, uac } = setup(() => defaultRoute({ destination: 'sip:10.0.1.1' }));
    uac.send(uac.request('OPTIONS', 'sip:x@example.com', ['Max-Forwards: 0']));
    uac.send(uac.request('OPTIONS', 'sip:x@example.com', ['Proxy-Require: foo']));
    await world.settle();
    assert.deepEqual(uac.statuses().sort(), [420, 483]);
    const bad = uac.responses.find((r) => r.status === 420);
    assert.equal(bad?.getHeader('unsupported'), 'foo');
  });

  test('a request that comes back unchanged is a loop (482)', async () => {
    // The route sends the request to the proxy itself with the same Request-URI.
    const { world, uac } = setup(() => ({
      request(ctx) {
        ctx.setDestination(PROXY_URI);
        ctx.relay();
      },
    }));
    uac.send(uac.request('MESSAGE', 'sip:bob@example.com'));
    await world.settle();
    assert.equal(uac.statuses().at(-1), 482);
  });

  test('a throwing hook is answered 500; an async hook does not block other calls', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const { world, uac, uases } = setup((u) => ({
      async request(ctx) {
        if (ctx.request.getHeader('x-case') === 'throw') throw new Error('boom');
        if (ctx.request.getHeader('x-case') === 'slow') await gate;
        ctx.setDestination(u[0]?.uri);
        ctx.relay();
      },
    }));
    uac.send(uac.request('MESSAGE', 'sip:a@example.com', ['X-Case: slow']));
    uac.send(uac.request('MESSAGE', 'sip:b@example.com', ['X-Case: throw']));
    uac.send(uac.request('MESSAGE', 'sip:c@example.com', ['X-Case: fast']));
    await world.settle();
    assert.deepEqual(uac.statuses().sort(), [200, 500], 'fast call done while the slow one waits');
    release();
    await world.settle();
    assert.deepEqual(uac.statuses().sort(), [200, 200, 500]);
    assert.equal((uases[0] as Uas).received.length, 2);
  });

  test('Record-Route params come back to the route on in-dialog requests (add_rr_param)', async () => {
    const seen: (string | undefined)[] = [];
    const { world, uac, uases } = setup((u) => ({
      request(ctx) {
        if (ctx.hasToTag()) {
          seen.push(ctx.routeParam('dsset'));
          ctx.relay();
          return;
        }
        ctx.recordRoute({ dsset: '3' });
        ctx.setDestination(u[0]?.uri);
        ctx.relay();
      },
    }));
    const invite = uac.request('INVITE', `sip:bob@${PROXY.address}`);
    uac.send(invite);
    await world.settle();
    const rr = lastTo(uases[0] as Uas, 'INVITE').getHeader('record-route') ?? '';
    assert.equal(rr, `<${PROXY_URI};lr;dsset=3>`);
    const bye = uac.request('BYE', (uases[0] as Uas).uri, [`Route: ${rr}`], invite.callId);
    bye.setHeader('To', `<sip:bob@example.com>;tag=${uac.responses.at(-1)?.to.tag ?? ''}`);
    uac.send(bye);
    await world.settle();
    assert.deepEqual(seen, ['3']);
    assert.equal(lastTo(uases[0] as Uas, 'BYE').routes.length, 0);
  });

  test('OPTIONS to the proxy itself is answered 200 by the default route', async () => {
    const { world, uac } = setup(() => defaultRoute());
    uac.send(uac.request('OPTIONS', PROXY_URI));
    uac.send(uac.request('INVITE', `sip:bob@${PROXY.address}`));
    await world.settle();
    assert.deepEqual(uac.statuses().sort(), [100, 200, 404]);
  });
});

describe('unmatched messages (a fleet host takes them: the edge hand-off)', () => {
  test('a new request waits for the host; an unmatched CANCEL and ACK go to it instead of 481 and the stateless relay', async () => {
    const held: string[] = [];
    const world = new World(
      defaultRoute({ destination: 'sip:10.0.1.1:5060' }),
      {},
      {
        request: (req, tx, _remote, proceed) => {
          held.push(req.method);
          // Another node holds the BYE's transaction: this node drops its copy unrouted.
          if (req.method === 'BYE') tx.discard();
          else proceed();
        },
        cancel: (cancel) => held.push(cancel.method),
        ack: (ack, _remote, relay) => {
          held.push(ack.method);
          relay();
        },
      },
    );
    const uas = new Uas(world, '10.0.1.1');
    const uac = new Uac(world);
    uac.send(uac.request('INVITE', `sip:bob@${PROXY.address}`));
    uac.send(uac.request('BYE', `sip:bob@${PROXY.address}`, ['Route: <sip:10.0.0.2:5060;lr>']));
    uac.send(uac.request('CANCEL', `sip:bob@${PROXY.address}`));
    world.proxy.receive(makeRequest('ACK', `sip:bob@${PROXY.address}`), FROM_UAC);
    await world.settle();
    assert.deepEqual(held.sort(), ['ACK', 'BYE', 'CANCEL', 'INVITE']);
    assert.deepEqual(
      uas.received.map((r) => r.method),
      ['INVITE'],
      'the BYE held elsewhere was not relayed',
    );
    assert.deepEqual(uac.statuses(), [100, 180, 200], 'no 481 for the CANCEL from this node');
  });
});

describe('hook contexts', () => {
  test('the branch and reply hooks get contexts whose log is read from the prototype, lazily', async () => {
    const seen: object[] = [];
    const { world, uac, uases } = setup((u) => ({
      ...defaultRoute({ destination: u[0]?.uri ?? '' }),
      branch: (ctx) => {
        seen.push(ctx);
      },
      reply: (ctx) => {
        seen.push(ctx);
      },
    }));
    uac.send(uac.request('INVITE', `sip:bob@${PROXY.address}`));
    await world.settle();
    assert.deepEqual(uac.statuses(), [100, 180, 200]);
    assert.ok(uases[0]?.received.some((r) => r.method === 'INVITE'));
    // One branch context and a reply context per response (180, 200).
    assert.equal(seen.length, 3);
    for (const ctx of seen) {
      // An accessor made per object (an object literal's `get log()`) kept every call's proxy
      // transaction alive through V8's young-generation GCs (docs/benchmarks.md): it must stay a
      // getter of the class.
      assert.equal(Object.getOwnPropertyDescriptor(ctx, 'log'), undefined);
      assert.equal(
        typeof Object.getOwnPropertyDescriptor(Object.getPrototypeOf(ctx), 'log')?.get,
        'function',
      );
      assert.equal(typeof (ctx as { log: { info: unknown } }).log.info, 'function');
    }
  });
});
