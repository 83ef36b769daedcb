import type { SipMessage, SipRequest, SipResponse, Via } from '@sipfleet/sip';
import { DEFAULT_SIP_PORT, DEFAULT_SIPS_PORT, stripBrackets } from '@sipfleet/transport';
import type { MessageSender, SendTarget, TransportProtocol } from '@sipfleet/transport';
import type { Logger } from 'pino';
import type { Forwarder } from './forwarder.js';
import { loopHash, OWN_BRANCH_PREFIX } from './loop-detection.js';
import type { ProxyObserver } from './observer.js';
import type { OwnAddresses } from './own-addresses.js';
import { decrementMaxForwards, preprocessRoutes } from './request-checks.js';

/**
 * What the proxy relays without a transaction (Kamailio's `forward_reply()` and stateless
 * forwarding): the ACK for a 2xx, which is its own end-to-end transaction (RFC 3261 §17.1.1.3),
 * and responses that match no client transaction (2xx retransmissions, late 2xx, §16.7 step 3).
 */
export class StatelessRelay {
  constructor(
    private readonly own: OwnAddresses,
    private readonly forwarder: Forwarder,
    private readonly sender: MessageSender,
    private readonly observer: ProxyObserver,
    private readonly log: Logger,
    /** Max-Forwards for an ACK that has none (§16.6 step 3). */
    private readonly maxForwards: string,
  ) {}

  /**
   * A 2xx ACK: Route pre-processing (§16.4), Max-Forwards, next hop and our Via, as for a request
   * with a transaction, but nothing is kept and nothing is answered. A malformed Route throws a
   * `SipParseError` (the caller counts a dropped message).
   */
  forwardAck(req: SipRequest): void {
    if (req.maxForwards === 0) return;
    const routes = preprocessRoutes(req, this.own.myself);
    if (!routes.hadRouteSet && this.own.myself.matches(req.parsedUri)) return; // an ACK for us: nothing to do
    const flow = this.forwarder.flowTarget(routes, req);
    decrementMaxForwards(req, this.maxForwards);
    let hop: string;
    try {
      hop = this.forwarder.nextHop(req, undefined);
    } catch (err) {
      this.log.debug({ err, callId: req.callId }, 'ACK with an unusable route, dropped');
      return;
    }
    // Retransmitted ACKs must get the same branch (stateless forwarding, §16.11).
    const branch = `${OWN_BRANCH_PREFIX}${loopHash(req)}.a${fnv(req.topVia?.branch ?? '')}`;
    (flow === undefined ? this.forwarder.resolve(hop) : Promise.resolve([flow])).then(
      ([target]) => {
        if (target === undefined) return;
        try {
          this.forwarder.addVia(req, target.protocol, branch);
        } catch (err) {
          this.log.debug({ err, callId: req.callId }, 'ACK cannot be sent, dropped');
          return;
        }
        this.send(target, req);
      },
      (err: unknown) => this.log.debug({ err, callId: req.callId }, 'ACK next hop unresolvable'),
    );
  }

  /**
   * §16.7 step 3 / §16.11: a response with no transaction: pop our Via, send to the next one. "If
   * no Via header field values remain in the response, the response was meant for this element
   * and MUST NOT be forwarded": dropped and counted.
   */
  forwardResponse(res: SipResponse): void {
    const top = res.topVia;
    if (top === undefined || !this.own.isOwnVia(top)) return;
    res.removeFirstValue('via');
    const next = res.topVia;
    if (next === undefined) {
      this.observer.responseDropped?.('no-upstream-via');
      return;
    }
    this.send(viaTarget(next), res);
    this.observer.responseSent(res.status, 'relayed');
  }

  private send(target: SendTarget, msg: SipMessage): void {
    this.sender.send(target, msg.toBuffer(), (err) =>
      this.log.debug({ err, target }, 'stateless send failed'),
    );
  }
}

/** Via sent-protocol -> the transport that answers it; anything else goes by UDP. */
const VIA_TRANSPORTS: Record<string, TransportProtocol> = {
  TCP: 'tcp',
  TLS: 'tls',
  WS: 'ws',
  WSS: 'wss',
};

/**
 * Where a response goes when only its Via is known (RFC 3261 §18.2.2, RFC 3581). A WebSocket
 * client's Via always has received + rport (`applyReceived`): its source address:port, which names
 * its open connection.
 */
function viaTarget(via: Via): SendTarget {
  const protocol = VIA_TRANSPORTS[via.transport.toUpperCase()] ?? 'udp';
  const address = stripBrackets(via.received ?? via.host);
  const port =
    typeof via.rport === 'number'
      ? via.rport
      : (via.port ?? (protocol === 'tls' ? DEFAULT_SIPS_PORT : DEFAULT_SIP_PORT));
  return { protocol, address, port };
}

function fnv(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(36);
}
