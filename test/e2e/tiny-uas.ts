// The tiny UAS of the foundation's acceptance test ("a sipp UAC talks to a tiny UAS built on the
// transaction layer over UDP and TCP") grew into the product's demo media server, which
// `sipfleet up --demo` runs; the tests keep using it under its old name.
export {
  DemoMediaServer as TinyUas,
  type DemoMediaServerCounters as TinyUasCounters,
  type DemoMediaServerOptions as TinyUasOptions,
} from '../../services/sipfleet/src/demo/media-server.js';
