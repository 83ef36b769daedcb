/**
 * Via-based routing at the transport boundary: stamping `received` / `rport` on incoming requests
 * (RFC 3261 section 18.2.1, RFC 3581 section 4) and choosing where a response goes (RFC 3261 section
 * 18.2.2, RFC 3581 section 4).
 */
import net from 'node:net';
import type { SipRequest, Via } from '@sipfleet/sip';
import type { RemoteInfo, SendTarget } from './types.js';

/** RFC 3261 section 18.2.2 / 19.1.2: port when sent-by has none (UDP and TCP). */
export const DEFAULT_SIP_PORT = 5060;
/** RFC 3261 section 19.1.2: port of TLS and `sips:` when none is given. */
export const DEFAULT_SIPS_PORT = 5061;

/**
 * RFC 3261 section 18.2.1: "If the host portion of the "sent-by" field contains a domain name, or if it
 * contains an IP address that differs from the packet source address, the server MUST add a "received"
 * parameter to that Via header field value."
 * RFC 3581 section 4: an `rport` without value "MUST" get the source port, and then the server "MUST
 * insert a "received" parameter containing the source IP address that the request came from, even if
 * it is identical to the value of the "sent-by" component".
 *
 * A `received` already present but different from the source is overwritten (a client cannot steer
 * responses elsewhere with it); an `rport` that already has a value is left alone (RFC 3581 only
 * defines the empty case).
 *
 * Only the top Via value changes (SipRequest.stampTopVia): the other Via values stay byte-for-byte as
 * received, and the parameters of the top one keep their order and spelling. No-op when nothing needs
 * to change.
 */
export function applyReceived(req: SipRequest, remote: RemoteInfo): void {
  const via = req.topVia;
  if (via === undefined) return;
  // WebSocket clients get an rport even unasked (Kamailio's WebSocket configs `force_rport()`):
  // their sent-by is a made-up `.invalid` name, and received + rport is then the only address in
  // the Via that reaches them, for responses relayed without a transaction.
  const fillRport =
    via.rport === null ||
    (via.rport === undefined && (remote.protocol === 'ws' || remote.protocol === 'wss'));
  const wantReceived =
    via.rport !== undefined || via.received !== undefined || !sameAddress(via.host, remote.address);
  const receivedMissing =
    wantReceived && (via.received === undefined || !sameAddress(via.received, remote.address));
  if (!fillRport && !receivedMissing) return;
  req.stampTopVia(
    receivedMissing ? remote.address : undefined,
    fillRport ? remote.port : undefined,
  );
}

/**
 * RFC 3261 section 18.2.2 + RFC 3581 section 4: where to send a response, given the top Via of the
 * request (after applyReceived) and where the request came from.
 *
 * - The transport is the one the request arrived on (`remote.protocol`), not Via's sent-protocol:
 *   it is where the client is listening for sure.
 * - TCP and TLS: "the response MUST be sent using the existing connection to the source of the original
 *   request ... if that connection is still open" -> `connectionId`; the transport falls back to
 *   `received` (else sent-by) and the sent-by port (default 5060) when it is gone.
 * - WS/WSS: the connection, else the source address:port (a browser cannot be connected to).
 * - UDP with `rport`: `received` + `rport` (source address and port: the NAT binding).
 * - UDP otherwise: `received` if present else sent-by, with the sent-by port (default 5060).
 *
 * Departures: `maddr` is ignored (multicast responses are out of scope, and honouring it would let a
 * request aim our responses at any host). A sent-by host that is a name is never resolved: it differs
 * from the source address, so applyReceived has put the source address in `received`; if the caller
 * skipped applyReceived, the source address is used.
 */
export function responseTarget(topVia: Via, remote: RemoteInfo): SendTarget {
  const sentBy = stripBrackets(topVia.host);
  const received = topVia.received === undefined ? undefined : stripBrackets(topVia.received);
  const address = received ?? (net.isIP(sentBy) !== 0 ? sentBy : remote.address);
  const protocol = remote.protocol;
  if (protocol === 'ws' || protocol === 'wss') {
    // RFC 7118: a WebSocket client's sent-by is often a `.invalid` name; only its own
    // connection (or its source address:port, the by-peer index) reaches it.
    return remote.connectionId === undefined
      ? { protocol, address: remote.address, port: remote.port }
      : { protocol, address: remote.address, port: remote.port, connectionId: remote.connectionId };
  }
  if (protocol !== 'udp') {
    const port = topVia.port ?? (protocol === 'tls' ? DEFAULT_SIPS_PORT : DEFAULT_SIP_PORT);
    return remote.connectionId === undefined
      ? { protocol, address, port }
      : { protocol, address, port, connectionId: remote.connectionId };
  }
  const port = topVia.port ?? DEFAULT_SIP_PORT;
  if (topVia.rport !== undefined) {
    // rport === null means applyReceived was skipped: the source port is what rport asks for.
    return {
      protocol: 'udp',
      address: received ?? remote.address,
      port: topVia.rport ?? remote.port,
    };
  }
  return { protocol: 'udp', address, port };
}

/** `[2001:db8::1]` -> `2001:db8::1` (socket APIs take the bare literal). */
export function stripBrackets(host: string): string {
  return host.length > 1 && host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** Same IP? Names never match. IPv6 literals are compared in canonical form (`::1` = `0:0::1`). */
function sameAddress(host: string, address: string): boolean {
  const bare = stripBrackets(host);
  if (bare === address) return true;
  if (!net.isIPv6(bare) || !net.isIPv6(address)) return false;
  try {
    return (
      new net.SocketAddress({ address: bare, family: 'ipv6' }).address ===
      new net.SocketAddress({ address, family: 'ipv6' }).address
    );
  } catch {
    return false; // e.g. a zone index inet_pton refuses: treat as different, so received is added
  }
}
