// RFC 3261 §16.6: what the forwarder does to each branch's copy of the request.
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'node:test';
import { parseMessage, SipRequest } from '@sipfleet/sip';
import { TransportLayer } from '@sipfleet/transport';
import type { FlowRouter, RemoteInfo } from '@sipfleet/transport';
import { pino } from 'pino';
import { Forwarder } from '../src/forwarder.js';
import { HookRunner } from '../src/hook-runner.js';
import type { BranchContext, RoutingHooks } from '../src/hooks.js';
import { hashInBranch, loopHash } from '../src/loop-detection.js';
import { NO_OBSERVER } from '../src/observer.js';
import { OwnAddresses } from '../src/own-addresses.js';
import { BadHeader } from '../src/request-checks.js';
import { FROM_UAC, makeRequest, PROXY, proxyLayer } from './harness.js';

function forwarder(hooks: RoutingHooks = {}, flows?: FlowRouter) {
  const { net, clock, endpoint, layer } = proxyLayer();
  const own = new OwnAddresses({
    sentBy: { udp: endpoint.sentBy(), tcp: { host: PROXY.address, port: 5062 } },
    advertised: { host: 'edge.example.net', port: 5070 },
  });
  const log = pino({ level: 'silent' });
  const hookErrors: string[] = [];
  const observer = { ...NO_OBSERVER, hookError: (hook: string) => hookErrors.push(hook) };
  const fwd = new Forwarder(
    own,
    layer,
    new HookRunner(hooks, observer, log),
    observer,
    clock,
    undefined,
    undefined,
    flows,
  );
  return { net, layer, fwd, hookErrors };
}

function branchContext(request: SipRequest): BranchContext {
  return {
    request,
    destination: request.uri,
    index: 0,
    vars: new Map(),
    log: pino({ level: 'silent' }),
    drop: () => undefined,
    addRecordRouteParam: () => false,
  };
}

describe('forwarder (RFC 3261 §16.6)', () => {
  test('steps 1-2 and 4: the copy has the target URI and our Record-Route; the original is untouched', () => {
    const { fwd } = forwarder();
    const original = makeRequest('INVITE', 'sip:bob@example.com');
    const copy = fwd.copy(original, 'sip:bob@10.0.1.1', ';dsset=2', FROM_UAC);
    assert.equal(copy.uri, 'sip:bob@10.0.1.1');
    assert.equal(copy.getHeader('record-route'), '<sip:edge.example.net:5070;lr;dsset=2>');
    assert.equal(original.uri, 'sip:bob@example.com');
    assert.equal(original.getHeader('record-route'), undefined);
    const tcp = fwd.copy(original, original.uri, '', { ...FROM_UAC, protocol: 'tcp' });
    assert.equal(tcp.getHeader('record-route'), '<sip:edge.example.net:5070;lr;transport=tcp>');
    assert.equal(
      fwd.copy(original, original.uri, undefined, FROM_UAC).hasHeader('record-route'),
      false,
    );
  });

  test('double record-routing (RFC 5658): a second Record-Route facing the next hop when the transport changes', () => {
    const { fwd } = forwarder();
    const original = makeRequest('INVITE', 'sip:bob@example.com');
    const udpToTcp = fwd.copy(original, original.uri, ';dsset=2', FROM_UAC);
    fwd.recordRouteOutbound(
      udpToTcp,
      FROM_UAC,
      { protocol: 'tcp', address: '10.0.1.1', port: 5060 },
      ';dsset=2',
      false,
    );
    assert.deepEqual(udpToTcp.getHeaders('record-route'), [
      '<sip:edge.example.net:5070;lr;transport=tcp;dsset=2>',
      '<sip:edge.example.net:5070;lr;dsset=2>',
    ]);
    const same = fwd.copy(original, original.uri, '', FROM_UAC);
    fwd.recordRouteOutbound(
      same,
      FROM_UAC,
      { protocol: 'udp', address: '10.0.1.1', port: 5060 },
      '',
      false,
    );
    assert.deepEqual(same.getHeaders('record-route'), ['<sip:edge.example.net:5070;lr>']);
    // No TLS listener: no second entry that would name a transport we cannot take back.
    const noTls = fwd.copy(original, original.uri, '', FROM_UAC);
    fwd.recordRouteOutbound(
      noTls,
      FROM_UAC,
      { protocol: 'tls', address: '10.0.1.1', port: 5061 },
      '',
      false,
    );
    assert.equal(noTls.getHeaders('record-route').length, 1);
  });

  test('RFC 3327 Path: a REGISTER over a connection gets a flow-token Path facing the registrar; only an initial request towards it uses the flow', async (t) => {
    // A real TCP connection into a real transport layer: the flow tokens are its.
    const transport = await TransportLayer.listen([
      { protocol: 'tcp', address: '127.0.0.1', port: 0 },
    ]);
    t.after(() => transport.close());
    const arrived = new Promise<RemoteInfo>((resolve) => {
      transport.onMessage = (_data, remote) => resolve(remote);
    });
    const client = net.connect(transport.sentBy('tcp').port, '127.0.0.1');
    t.after(() => client.destroy());
    client.write(makeRequest('REGISTER', 'sip:example.com').toBuffer());
    const source = await arrived;
    const { fwd } = forwarder({}, transport);
    const registrar = { protocol: 'udp', address: '10.0.1.1', port: 5060 } as const;

    const register = fwd.copy(
      makeRequest('REGISTER', 'sip:example.com'),
      'sip:example.com',
      undefined,
      source,
    );
    fwd.addPath(register, source, registrar);
    const path = register.getHeader('path') ?? '';
    const m = /^<sip:([^@]+)@edge\.example\.net:5070;lr;ob>$/.exec(path);
    assert.ok(m !== null, path);
    const token = m[1] as string;
    // Over UDP, or another method: no Path.
    const overUdp = makeRequest('REGISTER', 'sip:example.com');
    fwd.addPath(overUdp, FROM_UAC, registrar);
    assert.equal(overUdp.hasHeader('path'), false);
    const invite = makeRequest('INVITE', 'sip:bob@example.com');
    fwd.addPath(invite, source, registrar);
    assert.equal(invite.hasHeader('path'), false);

    // The registrar's INVITE to the Contact (no To tag) goes over the connection.
    const toContact = makeRequest('INVITE', 'sip:alice@client.invalid;transport=ws');
    assert.deepEqual(fwd.flowTarget({ hadRouteSet: true, flowToken: token }, toContact), {
      protocol: 'tcp',
      address: '127.0.0.1',
      port: client.localPort,
      connectionId: source.connectionId,
    });

    // A Record-Route token is bound to the caller's From tag: an initial request (empty tag)
    // naming it gets no flow, an in-dialog one towards the caller does.
    const dialog = fwd.copy(invite, invite.uri, '', source);
    const rr = /^<sip:([^@]+)@/.exec(dialog.getHeader('record-route') ?? '');
    assert.ok(rr !== null);
    const rrRoutes = { hadRouteSet: true, flowToken: rr[1] as string };
    assert.equal(fwd.flowTarget(rrRoutes, toContact), undefined);
    const towardsCaller = makeRequest('BYE', 'sip:alice@client.invalid');
    towardsCaller.setHeader('To', `<sip:alice@example.com>;tag=${invite.from.tag ?? ''}`);
    assert.equal(fwd.flowTarget(rrRoutes, towardsCaller)?.connectionId, source.connectionId);

    // The registrar's INVITE (over UDP) leaves over the flow: the Record-Route facing the client
    // carries a token for it bound to the caller's tag, marked: the caller's in-dialog requests
    // (From tag = caller's) match it, the client's (To tag = caller's) do not.
    const flow = fwd.flowTarget({ hadRouteSet: true, flowToken: token }, toContact);
    assert.ok(flow !== undefined);
    const relayed = fwd.copy(toContact, toContact.uri, '', FROM_UAC);
    fwd.recordRouteOutbound(relayed, FROM_UAC, flow, '', true);
    const top = /^<sip:([^@]+)@edge\.example\.net:5070;lr;transport=tcp>$/.exec(
      relayed.getHeader('record-route') ?? '',
    );
    assert.ok(top !== null, relayed.getHeaders('record-route').join(', '));
    const calleeRoutes = { hadRouteSet: true, flowToken: top[1] as string };
    const callerTag = toContact.from.tag ?? '';
    const fromCaller = makeRequest('BYE', 'sip:alice@client.invalid;transport=ws');
    fromCaller.setHeader('From', `<sip:registrar@example.com>;tag=${callerTag}`);
    fromCaller.setHeader('To', '<sip:alice@example.com>;tag=callee1');
    assert.equal(fwd.flowTarget(calleeRoutes, fromCaller)?.connectionId, source.connectionId);
    const fromCallee = makeRequest('BYE', 'sip:registrar@10.0.0.1');
    fromCallee.setHeader('From', '<sip:alice@example.com>;tag=callee1');
    fromCallee.setHeader('To', `<sip:registrar@example.com>;tag=${callerTag}`);
    assert.equal(fwd.flowTarget(calleeRoutes, fromCallee), undefined);
    // Another request with the caller's tag on the caller's side, or an initial one: no flow.
    assert.equal(fwd.flowTarget(calleeRoutes, toContact), undefined);
    assert.equal(fwd.flowTarget(rrRoutes, fromCaller), undefined);
    // Not over a flow: no token.
    const resolved = fwd.copy(toContact, toContact.uri, '', FROM_UAC);
    fwd.recordRouteOutbound(resolved, FROM_UAC, flow, '', false);
    assert.equal(
      resolved.getHeader('record-route'),
      '<sip:edge.example.net:5070;lr;transport=tcp>',
    );
  });

  test('steps 6-7: $du wins, then a loose router, else the Request-URI; a strict router swaps', () => {
    const { fwd } = forwarder();
    const loose = makeRequest('BYE', 'sip:bob@10.0.1.1', ['Route: <sip:p2.example.com;lr>']);
    assert.equal(fwd.nextHop(loose, 'sip:10.0.1.9'), 'sip:10.0.1.9');
    assert.equal(fwd.nextHop(loose, undefined), 'sip:p2.example.com;lr');
    assert.equal(
      fwd.nextHop(makeRequest('BYE', 'sip:bob@10.0.1.1'), undefined),
      'sip:bob@10.0.1.1',
    );
    const strict = makeRequest('BYE', 'sip:bob@10.0.1.1', [
      'Route: <sip:strict.example.com>',
      'Route: <sip:p3.example.com;lr>',
    ]);
    assert.equal(fwd.nextHop(strict, undefined), 'sip:strict.example.com');
    assert.equal(strict.uri, 'sip:strict.example.com');
    assert.deepEqual(strict.getHeaders('route'), ['<sip:p3.example.com;lr>', '<sip:bob@10.0.1.1>']);
    const bad = makeRequest('BYE', 'sip:bob@10.0.1.1', ['Route: <sip:p2.example.com;lr']);
    assert.throws(() => fwd.nextHop(bad, undefined), BadHeader);
  });

  test('the loop hash is FNV-1a over Request-URI, From tag, To tag, Call-ID and CSeq number as text', () => {
    const fnv = (parts: string[]): string => {
      let h = 0x811c9dc5;
      for (const part of parts) {
        for (const c of Buffer.from(part + '|', 'latin1')) h = Math.imul(h ^ c, 0x01000193);
      }
      return (h >>> 0).toString(16).padStart(8, '0');
    };
    for (const seq of [0, 1, 9, 10, 99, 314159, 4294967295]) {
      const req = makeRequest('MESSAGE', 'sip:bob@10.0.1.1');
      req.setHeader('CSeq', `${seq} MESSAGE`);
      const parts = [req.uri, req.from.tag ?? '', req.to.tag ?? '', req.callId, String(seq)];
      assert.equal(loopHash(req), fnv(parts), `CSeq ${seq}`);
    }
  });

  test('steps 8-10: our Via with the loop hash on top, and a client transaction sends the copy', async () => {
    const { fwd, net, layer } = forwarder();
    const req = makeRequest('MESSAGE', 'sip:bob@10.0.1.1');
    const hash = loopHash(req);
    const [target] = await fwd.resolve('sip:10.0.1.1:5080');
    assert.deepEqual(target, { protocol: 'udp', address: '10.0.1.1', port: 5080 });
    if (target === undefined) return;
    const handlers = {
      onResponse: () => undefined,
      onTimeout: () => undefined,
      onTransportError: () => undefined,
    };
    const tx = fwd.send(req, target, handlers, performance.now());
    assert.equal(req.vias.length, 2);
    assert.equal(req.topVia?.host, PROXY.address);
    assert.equal(hashInBranch(req.topVia?.branch), hash);
    assert.equal(tx.branch, req.topVia?.branch);
    assert.equal(layer.counts.client, 1);
    net.flush();
    const sent = net.log.at(-1);
    assert.equal(sent?.to.port, 5080);
    const wire = parseMessage(sent?.data ?? Buffer.alloc(0));
    assert.ok(wire instanceof SipRequest);
    assert.equal(wire.topVia?.branch, tx.branch);
    await assert.rejects(fwd.resolve('not a uri'));
  });

  test('the branch hook sees the copy; one that throws is counted and the copy goes out anyway', async () => {
    const seen: string[] = [];
    const { fwd, hookErrors } = forwarder({
      branch(ctx) {
        seen.push(ctx.request.uri);
        if (ctx.request.uri.includes('boom')) throw new Error('boom');
      },
    });
    const ran: string[] = [];
    for (const uri of ['sip:a@x', 'sip:boom@x']) {
      fwd.branchHook(branchContext(makeRequest('INVITE', uri)), {
        then: () => ran.push(uri),
        onFault: () => assert.fail('no fault'),
      });
    }
    assert.deepEqual(seen, ['sip:a@x', 'sip:boom@x']);
    assert.deepEqual(ran, ['sip:a@x', 'sip:boom@x']);
    assert.deepEqual(hookErrors, ['branch']);
    const none = forwarder();
    let went = false;
    none.fwd.branchHook(branchContext(makeRequest('INVITE', 'sip:a@x')), {
      then: () => (went = true),
      onFault: () => undefined,
    });
    assert.equal(went, true, 'no branch hook: straight on');
  });
});
