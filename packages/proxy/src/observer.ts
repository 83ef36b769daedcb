/**
 * Who made a response the element sent: `relayed` (a downstream answer forwarded upstream, with
 * or without a transaction), `local` (the proxy or a routing hook answered: 404 from routing, 503
 * from maintenance or shedding), `stateless` (the receive path answered a request it could not
 * hand on, such as a 400 to a malformed one) and `transaction` (the transaction layer's own: 100
 * Trying, 200 or 481 to a CANCEL).
 */
export type ResponseOrigin = 'relayed' | 'local' | 'stateless' | 'transaction';

/** What the proxy tells its host process about, for metrics (the service owns prom-client). */
export interface ProxyObserver {
  requestReceived(method: string): void;
  /** A response went upstream; the proxy reports `relayed` and `local` ones. */
  responseSent(status: number, origin: ResponseOrigin): void;
  /** Seconds from a request's arrival to the relay of its branch. */
  relayLatency(seconds: number): void;
  hookError(hook: string): void;
  /**
   * A response from downstream that was not forwarded. `no-upstream-via`: once our Via was
   * removed none was left, so it "was meant for this element and MUST NOT be forwarded" (RFC 3261
   * §16.7 step 3). Optional, so an observer written before it still fits.
   */
  responseDropped?(reason: 'no-upstream-via'): void;
  /**
   * A branch moved on to the next target of its next hop (DNS failover, RFC 3263 §4.3) after
   * its target gave a transport error, no reply within `fr_timer`, or a 503.
   */
  dnsFailover?(cause: 'transport-error' | 'timeout' | '503'): void;
}

export const NO_OBSERVER: Required<ProxyObserver> = {
  requestReceived() {},
  responseSent() {},
  relayLatency() {},
  hookError() {},
  responseDropped() {},
  dnsFailover() {},
};
