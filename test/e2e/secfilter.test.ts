// Issue 18 acceptance: flood protection fleet-wide (Kamailio pike + secfilter) and no open relay.
// Real edges, a real redis-server, real sipp; the scanner is a UDP socket bound to its own
// loopback address (127.0.0.2, ...), so its source differs from the trusted trunk's 127.0.0.1.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startEdge } from '@sipfleet/test-helpers/edge';
import type { EdgeHandle } from '@sipfleet/test-helpers/edge';
import { freePort } from '@sipfleet/test-helpers/ports';
import { redisCli, startRedis, uniquePrefix } from '@sipfleet/test-helpers/redis-server';
import type { RedisServer } from '@sipfleet/test-helpers/redis-server';
import { startSipp } from '@sipfleet/test-helpers/sipp';
import { UdpResponders } from '@sipfleet/test-helpers/udp-responders';

/** Polls `probe` until it returns something other than undefined/false; fails after 20 s. */
async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(25);
  }
}

/** A SIP peer on its own UDP socket: sends requests, collects final statuses by Call-ID. */
class Peer {
  readonly finals = new Map<string, { status: number; reason: string }>();
  private readonly invites = new Map<string, { ruri: string; port: number }>();
  private constructor(
    private readonly socket: Socket,
    readonly address: string,
  ) {
    socket.on('message', (data) => {
      const text = data.toString('latin1');
      const m = /^SIP\/2\.0 (\d{3}) ([^\r]*)/.exec(text);
      const callId = /^Call-ID:\s*([^\r]+)/im.exec(text)?.[1];
      if (!m || callId === undefined || Number(m[1]) < 200) return;
      this.finals.set(callId, { status: Number(m[1]), reason: m[2] ?? '' });
      // RFC 3261 §17.1.1.3: a non-2xx final to an INVITE is ACKed, so the edge's transaction ends.
      const invite = this.invites.get(callId);
      if (invite === undefined || Number(m[1]) < 300) return;
      const header = (name: string) => new RegExp(`^${name}:[^\r]*`, 'im').exec(text)?.[0] ?? '';
      const ack =
        `ACK ${invite.ruri} SIP/2.0\r\n${header('Via')}\r\n${header('From')}\r\n` +
        `${header('To')}\r\n${header('Call-ID')}\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\n` +
        `Content-Length: 0\r\n\r\n`;
      this.socket.send(ack, invite.port, '127.0.0.1');
    });
  }

  static async open(address: string): Promise<Peer> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, address, resolve));
    return new Peer(socket, address);
  }

  /** Sends one request to 127.0.0.1:`port`; returns its Call-ID. */
  send(port: number, method: string, ruri: string, headers: string[] = []): string {
    const id = randomBytes(6).toString('hex');
    const local = this.socket.address().port;
    const text =
      `${method} ${ruri} SIP/2.0\r\n` +
      `Via: SIP/2.0/UDP ${this.address}:${local};branch=z9hG4bK${id};rport\r\n` +
      `From: <sip:scan@${this.address}>;tag=${id}\r\nTo: <${ruri}>\r\n` +
      `Call-ID: ${id}\r\nCSeq: 1 ${method}\r\nMax-Forwards: 70\r\n` +
      headers.map((h) => `${h}\r\n`).join('') +
      `Content-Length: 0\r\n\r\n`;
    if (method === 'INVITE') this.invites.set(id, { ruri, port });
    this.socket.send(text, port, '127.0.0.1');
    return id;
  }

  /** The final answer to `callId` once it arrives. */
  answer(callId: string): Promise<{ status: number; reason: string }> {
    return eventually(`an answer to ${callId}`, () => Promise.resolve(this.finals.get(callId)));
  }

  close(): void {
    this.socket.close();
  }
}

const OPTIONS_TO = (edge: EdgeHandle) => `sip:127.0.0.1:${edge.port}`;

let redis: RedisServer;

before(async () => {
  redis = await startRedis();
});

after(async () => {
  await redis.stop();
});

describe('secfilter: flood protection across the fleet', { concurrency: 1 }, () => {
  test('a flood blocked on edge A is dropped by edge B on its first message; the trusted trunk loses no call', async (t) => {
    const prefix = uniquePrefix();
    const uasPort = await freePort();
    const uas = await startSipp({
      scenario: 'uas-call',
      localPort: uasPort,
      autoAnswer: true,
      owner: t,
    });
    const config = {
      redis: { url: redis.url, prefix },
      routing: { destination: `sip:127.0.0.1:${uasPort}` },
      secfilter: {
        enabled: true,
        trusted: ['127.0.0.1'],
        samplingTimeUnitMs: 1000,
        reqsDensityPerUnit: 20,
        banSeconds: 600,
      },
    };
    const [a, b] = await Promise.all([startEdge(t, config), startEdge(t, config)]);
    assert.ok(a && b);

    // The trunk: 100 calls/s from 127.0.0.1, five times the per-source density, all along.
    const trunk = await startSipp({
      scenario: 'uac-call',
      remote: { host: '127.0.0.1', port: a.port },
      service: 'bob',
      rate: 100,
      maxCalls: 3000,
      callLengthMs: 100,
      owner: t,
    });
    await eventually(
      'the trunk has calls through',
      async () => (await a.metric('sipfleet_sip_requests_total', { method: 'BYE' })) >= 50,
    );

    const scanner = await Peer.open('127.0.0.2');
    t.after(() => scanner.close());
    const sent = 200;
    for (let i = 0; i < sent; i++) scanner.send(a.port, 'OPTIONS', OPTIONS_TO(a));
    // Every datagram accounted for: parsed (and answered) or dropped unparsed.
    const admitted = await eventually('edge A handled every scanner datagram', async () => {
      const parsed = await a.metric('sipfleet_sip_requests_total', { method: 'OPTIONS' });
      const dropped = await a.metric('sipfleet_secfilter_dropped_total', { reason: 'blocked' });
      return parsed + dropped === sent && parsed;
    });
    // 20 in the first unit; a sliding window lets at most as many again through if the edge's
    // handling of the burst happened to straddle a unit boundary.
    assert.ok(admitted >= 20 && admitted <= 40, `A let ${admitted} of ${sent} through`);
    assert.equal(await a.metric('sipfleet_secfilter_blocks_total', { reason: 'pike' }), 1);
    const key = `${prefix}:{sf}:block:127.0.0.2`;
    assert.equal(await redisCli(redis.port, 'GET', key), `pike:edge-${a.port}\n`);
    assert.ok(Number(await redisCli(redis.port, 'TTL', key)) > 500, 'published with the ban TTL');

    // Edge B never saw the scanner; it learns the block from Redis and drops its first message.
    await eventually(
      'edge B mirrors the block',
      async () => (await b.metric('sipfleet_secfilter_blocked_sources')) === 1,
    );
    scanner.send(b.port, 'OPTIONS', OPTIONS_TO(b));
    await eventually(
      'edge B dropped the message',
      async () => (await b.metric('sipfleet_secfilter_dropped_total', { reason: 'blocked' })) === 1,
    );
    assert.equal(await b.metric('sipfleet_sip_requests_total', { method: 'OPTIONS' }), 0);
    assert.equal(await b.metric('sipfleet_secfilter_blocks_total'), 0, 'B blocked nothing itself');

    // Someone else is still served by both edges.
    const other = await Peer.open('127.0.0.3');
    t.after(() => other.close());
    for (const edge of [a, b]) {
      assert.equal(
        (await other.answer(other.send(edge.port, 'OPTIONS', OPTIONS_TO(edge)))).status,
        200,
      );
    }

    const stats = await trunk.stop();
    assert.equal(stats.failed, 0, stats.errors.slice(0, 3).join('\n'));
    assert.ok(stats.successful >= 50, `${stats.successful} trunk calls`);
    assert.equal(
      await a.metric('sipfleet_secfilter_blocks_total'),
      1,
      'the trunk was never blocked',
    );
    assert.equal((await uas.stop()).failed, 0);
  });

  test('the block expires with its TTL on every edge', async (t) => {
    const prefix = uniquePrefix();
    const config = {
      redis: { url: redis.url, prefix },
      secfilter: { enabled: true, samplingTimeUnitMs: 1000, reqsDensityPerUnit: 5, banSeconds: 2 },
    };
    const [a, b] = await Promise.all([startEdge(t, config), startEdge(t, config)]);
    assert.ok(a && b);
    const scanner = await Peer.open('127.0.0.4');
    t.after(() => scanner.close());
    for (let i = 0; i < 50; i++) scanner.send(a.port, 'OPTIONS', OPTIONS_TO(a));
    await eventually(
      'edge B mirrors the block',
      async () => (await b.metric('sipfleet_secfilter_blocked_sources')) === 1,
    );
    const key = `${prefix}:{sf}:block:127.0.0.4`;
    await eventually(
      'Redis expired the block',
      async () => (await redisCli(redis.port, 'EXISTS', key)) === '0\n',
    );
    for (const edge of [a, b]) {
      await eventually(
        `edge :${edge.port} lifted the block`,
        async () => (await edge.metric('sipfleet_secfilter_blocked_sources')) === 0,
      );
      const answer = await scanner.answer(scanner.send(edge.port, 'OPTIONS', OPTIONS_TO(edge)));
      assert.equal(answer.status, 200, 'served again');
    }
  });

  test('deny-ip and deny-ua entries added with redis-cli are honoured by running edges', async (t) => {
    const prefix = uniquePrefix();
    const edge = await startEdge(t, {
      redis: { url: redis.url, prefix },
      // A high density: the polling below must not trip the rate limit, only the lists.
      secfilter: { enabled: true, banSeconds: 600, reqsDensityPerUnit: 1000 },
    });
    const peer = await Peer.open('127.0.0.5');
    t.after(() => peer.close());
    assert.equal(
      (await peer.answer(peer.send(edge.port, 'OPTIONS', OPTIONS_TO(edge)))).status,
      200,
    );

    // docs/cli.md's line, with this test's prefix.
    await redisCli(redis.port, 'SADD', `${prefix}:{sf}:list:deny-ip`, '127.0.0.0/29');
    await eventually('the edge drops the denied source', async () => {
      peer.send(edge.port, 'OPTIONS', OPTIONS_TO(edge));
      return (await edge.metric('sipfleet_secfilter_dropped_total', { reason: 'denied' })) > 0;
    });
    await redisCli(redis.port, 'SREM', `${prefix}:{sf}:list:deny-ip`, '127.0.0.0/29');
    await eventually('the edge serves the source again', async () => {
      const id = peer.send(edge.port, 'OPTIONS', OPTIONS_TO(edge));
      await sleep(50);
      return peer.finals.get(id)?.status === 200;
    });

    // A scanner's User-Agent: refused 403, then its source is blocked fleet-wide.
    await redisCli(redis.port, 'SADD', `${prefix}:{sf}:list:deny-ua`, 'friendly-scanner');
    const scanner = await Peer.open('127.0.0.6');
    t.after(() => scanner.close());
    const refused = await eventually('the User-Agent is refused', async () => {
      const id = scanner.send(edge.port, 'OPTIONS', OPTIONS_TO(edge), [
        'User-Agent: friendly-scanner',
      ]);
      const answer = await scanner.answer(id);
      return answer.status === 403 && answer;
    });
    assert.equal(refused.reason, 'Forbidden');
    assert.equal(
      await redisCli(redis.port, 'GET', `${prefix}:{sf}:block:127.0.0.6`),
      `user-agent:edge-${edge.port}\n`,
    );
    assert.equal(await edge.metric('sipfleet_secfilter_user_agent_refusals_total'), 1);
    // Unblocked by hand (docs/cli.md), the source is served again: its rate starts afresh.
    await redisCli(redis.port, 'DEL', `${prefix}:{sf}:block:127.0.0.6`);
    await eventually(
      'the edge lifted the block',
      async () => (await edge.metric('sipfleet_secfilter_blocked_sources')) === 0,
    );
    assert.equal(
      (await scanner.answer(scanner.send(edge.port, 'OPTIONS', OPTIONS_TO(edge)))).status,
      200,
    );
  });
});

describe('default route: no open relay', () => {
  test('a request for a foreign domain is refused 403 unless routing.allowRelay', async (t) => {
    const uas = await UdpResponders.start(1);
    t.after(() => uas.close());
    const routing = { destination: uas.responders[0]?.uri ?? '' };
    const [closed, open] = await Promise.all([
      startEdge(t, { routing }),
      startEdge(t, { routing: { ...routing, allowRelay: true } }),
    ]);
    assert.ok(closed && open);
    const peer = await Peer.open('127.0.0.1');
    t.after(() => peer.close());
    for (const method of ['INVITE', 'OPTIONS', 'MESSAGE']) {
      const answer = await peer.answer(peer.send(closed.port, method, 'sip:bob@example.com'));
      assert.deepEqual(answer, { status: 403, reason: 'Relaying Denied' }, method);
    }
    assert.equal(uas.responders[0]?.pings.length, 0, 'nothing reached the destination');
    // Addressed to the edge itself, the same request is routed to the destination.
    const ours = await peer.answer(
      peer.send(closed.port, 'MESSAGE', `sip:bob@127.0.0.1:${closed.port}`),
    );
    assert.equal(ours.status, 200, 'relayed to the destination');
    // With allowRelay the foreign request goes to the destination too.
    const relayed = await peer.answer(peer.send(open.port, 'MESSAGE', 'sip:bob@example.com'));
    assert.equal(relayed.status, 200);
    assert.equal(uas.responders[0]?.pings.length, 2);
  });
});
