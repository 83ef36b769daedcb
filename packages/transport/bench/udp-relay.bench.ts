// UDP hot-path figure: an "edge" layer relays every datagram from a UAC-side layer to a UAS-side layer
// and back (4 datagrams per round trip, 2 through the edge's receive and send paths), with a window
// of datagrams in flight. Prints datagrams/s through the edge. Not a test: nothing is asserted.
// Run: node --import tsx packages/transport/bench/udp-relay.bench.ts [seconds] [window]
import { TransportLayer, type SendTarget } from '../src/index.js';

const seconds = Number(process.argv[2] ?? 5);
const window = Number(process.argv[3] ?? 200);
const payload = Buffer.alloc(900, 0x61); // about an INVITE with SDP

const udp = { protocol: 'udp' as const, address: '127.0.0.1', port: 0 };
const [uac, edge, uas] = await Promise.all([
  TransportLayer.listen([udp]),
  TransportLayer.listen([udp]),
  TransportLayer.listen([udp]),
]);
const at = (l: TransportLayer): SendTarget => ({ ...udp, port: l.sentBy('udp').port });
const edgeTarget = at(edge);
const uasTarget = at(uas);
const uacTarget = at(uac);

let relayed = 0;
let roundTrips = 0;
let running = true;
edge.onMessage = (data, remote) => {
  relayed++;
  edge.send(remote.port === uasTarget.port ? uacTarget : uasTarget, data);
};
uas.onMessage = (data) => uas.send(edgeTarget, data);
uac.onMessage = (data) => {
  roundTrips++;
  if (running) uac.send(edgeTarget, data);
};
const started = process.hrtime.bigint();
for (let i = 0; i < window; i++) uac.send(edgeTarget, payload);
await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
running = false;
const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
await new Promise((resolve) => setTimeout(resolve, 100));
await Promise.all([uac.close(), edge.close(), uas.close()]);
const perSecond = relayed / elapsed;
console.log(
  `udp relay: ${Math.round(perSecond)} datagrams/s through the edge ` +
    `(${roundTrips} round trips, window ${window}, ${payload.length} B, ${elapsed.toFixed(1)} s); ` +
    `= ${Math.round(perSecond / 13)} calls/s at 13 datagrams per call`,
);
