// Probing over TLS: the pinger's OPTIONS to `transport=tls` / `sips:` destinations, with real
// certificates (openssl) and a node:tls responder. A destination whose certificate the prober
// cannot verify is a transport error, as a refused connection is.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createResponse } from '@sipfleet/sip';
import { makeCa } from '@sipfleet/test-helpers/certs';
import { StreamListener } from '@sipfleet/test-helpers/stream-ua';
import { Pinger } from '../src/index.js';

describe('pinger over TLS', () => {
  test('OPTIONS to a transport=tls destination is answered over the connection; an unverifiable one is a transport error', async (t) => {
    const ca = makeCa(t);
    const cert = ca.issue('destination', ['DNS:localhost']);
    const destination = await StreamListener.listen(t, { cert: cert.cert, key: cert.key });
    const pinger = await Pinger.start({ address: '127.0.0.1', tls: { ca: ca.cert } });
    t.after(() => pinger.close());
    const uri = `sip:localhost:${destination.port};transport=tls`;
    const pending = pinger.ping({ uri, from: 'sip:prober@localhost' });
    const conn = await destination.connection();
    const options = await conn.request('OPTIONS');
    assert.match(options.topVia?.transport ?? '', /^TLS$/i);
    conn.send(createResponse(options, 200).toString());
    const result = await pending;
    assert.equal(result.outcome, 'reply');
    assert.equal(result.status, 200);

    const stranger = await Pinger.start({ address: '127.0.0.1' }); // Node's CAs only
    t.after(() => stranger.close());
    const refused = await stranger.ping({
      uri: `sips:localhost:${destination.port}`,
      from: 'sip:prober@localhost',
    });
    assert.equal(refused.outcome, 'transport-error', JSON.stringify(refused));
  });
});
