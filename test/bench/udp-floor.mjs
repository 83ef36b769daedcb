// The floor under any Node.js proxy on the side-by-side job: one UDP socket that forwards every
// datagram of a call once, unparsed (from the UAS to the last caller seen, from anyone else to
// the UAS), and does nothing else: no parse, no transaction, no 100 Trying, no routing. A proxy
// must at least receive and send each of these datagrams, so its CPU per call is a lower bound
// for what any proxy built on node:dgram can cost here (proxy-ramp.bench.ts, proxy "floor").
// Run: node test/bench/udp-floor.mjs <port> <uas port>
import { createSocket } from 'node:dgram';

const [port, uasPort] = process.argv.slice(2).map(Number);
const host = '127.0.0.1';
const socket = createSocket('udp4');
let callerPort = 0;
socket.on('message', (data, from) => {
  if (from.port === uasPort) {
    if (callerPort !== 0) socket.send(data, callerPort, host);
  } else {
    callerPort = from.port;
    socket.send(data, uasPort, host);
  }
});
socket.bind(port, host);
process.on('SIGTERM', () => socket.close());
