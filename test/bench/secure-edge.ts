// What the TLS and WSS benches share: an edge relaying to a sipp UAS over UDP with one secure
// listener on a certificate for localhost, and the calls table they print.
import { makeCa } from '@sipfleet/test-helpers/certs';
import { startEdge } from '@sipfleet/test-helpers/edge';
import { freePort } from '@sipfleet/test-helpers/ports';
import { startSipp } from '@sipfleet/test-helpers/sipp';
import type { Owner, Row } from './ramp.js';

/** The edge, its pid, the `protocol` listener's port and the CA its certificate chains to. */
export async function secureEdge(owner: Owner, protocol: 'tls' | 'wss') {
  const ca = makeCa(owner);
  const server = ca.issue('edge', ['DNS:localhost', 'IP:127.0.0.1']);
  const uasPort = await freePort();
  await startSipp({ scenario: 'uas-call', localPort: uasPort, autoAnswer: true, owner });
  const port = await freePort();
  const edge = await startEdge(
    owner,
    // No shedding: this measures what a call costs, with the generators on the same cores.
    { routing: { destination: `sip:127.0.0.1:${uasPort}` }, overload: { enabled: false } },
    {},
    {
      extraListen: [
        {
          protocol,
          address: '127.0.0.1',
          port,
          tls: { certFile: server.certFile, keyFile: server.keyFile },
        },
      ],
    },
  );
  return { ca, edge, port, pid: edge.process.pid ?? 0 };
}

/** The markdown table of calls per caller transport. */
export function printCallRows(rows: readonly Row[]): void {
  console.log('| caller | calls | failed | calls/s | edge CPU per call |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const r of rows) {
    console.log(
      `| ${r.caller} | ${r.calls} | ${r.failed} | ${(r.calls / r.seconds).toFixed(0)} | ${(r.cpuMs / r.calls).toFixed(3)} ms |`,
    );
  }
}
