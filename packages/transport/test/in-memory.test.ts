import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InMemoryNetwork, TransportErrorCode, type RemoteInfo } from '../src/index.js';

function collect(): {
  got: string[];
  remotes: RemoteInfo[];
  onMessage: (d: Buffer, r: RemoteInfo) => void;
} {
  const got: string[] = [];
  const remotes: RemoteInfo[] = [];
  return { got, remotes, onMessage: (d, r) => (got.push(d.toString()), remotes.push(r)) };
}

describe('InMemoryNetwork', () => {
  it('delivers on flush, with the sender as RemoteInfo, including replies sent while delivering', () => {
    const net = new InMemoryNetwork();
    const a = net.endpoint('10.0.0.1', 5060);
    const b = net.endpoint('10.0.0.2', 5070);
    const atA = collect();
    a.onMessage = atA.onMessage;
    b.onMessage = (data, remote) => b.send(remote, Buffer.from(`re:${data.toString()}`));
    a.send({ protocol: 'udp', address: '10.0.0.2', port: 5070 }, Buffer.from('hello'));
    assert.deepEqual(atA.got, []); // nothing moves before flush
    assert.equal(net.flush(), 2);
    assert.deepEqual(atA.got, ['re:hello']);
    assert.deepEqual(atA.remotes[0], {
      protocol: 'udp',
      address: '10.0.0.2',
      port: 5070,
      family: 'IPv4',
      local: { address: '10.0.0.1', port: 5060 },
    });
    assert.deepEqual(b.sentBy(), { host: '10.0.0.2', port: 5070 });
  });

  it('drops, duplicates and reorders UDP packets as the fate function says', () => {
    const net = new InMemoryNetwork();
    const a = net.endpoint('10.0.0.1', 5060);
    const b = net.endpoint('10.0.0.2', 5060);
    const atB = collect();
    b.onMessage = atB.onMessage;
    const fates = { '1': 'drop', '2': 'duplicate', '3': 'hold', '4': 'deliver' } as const;
    net.fate = (p) => fates[p.data.toString() as keyof typeof fates];
    for (const n of ['1', '2', '3', '4']) {
      a.send({ protocol: 'udp', address: '10.0.0.2', port: 5060 }, Buffer.from(n));
    }
    net.flush();
    assert.deepEqual(atB.got, ['2', '2', '4']);
    assert.equal(net.held.length, 1);
    net.release();
    assert.deepEqual(atB.got, ['2', '2', '4', '3']);
    assert.equal(net.log.length, 4);
  });

  it('keeps TCP reliable and reports a TCP send to nobody as a connect error', async () => {
    const net = new InMemoryNetwork({ autoFlush: true });
    const a = net.endpoint('10.0.0.1', 5060);
    const b = net.endpoint('10.0.0.2', 5060);
    const atB = collect();
    b.onMessage = atB.onMessage;
    net.fate = () => 'drop';
    a.send({ protocol: 'tcp', address: '10.0.0.2', port: 5060 }, Buffer.from('reliable'));
    await Promise.resolve();
    assert.deepEqual(atB.got, ['reliable']);
    assert.equal(atB.remotes[0]?.protocol, 'tcp');
    const err = await new Promise<Error>((resolve) =>
      a.send({ protocol: 'tcp', address: '10.0.0.9', port: 5060 }, Buffer.from('x'), resolve),
    );
    assert.equal((err as { code?: string }).code, TransportErrorCode.Connect);
    b.close();
    const closed = await new Promise<Error>((resolve) =>
      b.send({ protocol: 'udp', address: '10.0.0.1', port: 5060 }, Buffer.from('x'), resolve),
    );
    assert.equal((closed as { code?: string }).code, TransportErrorCode.Closed);
  });
});
