/** What the proxy tells its host process about, for metrics (the service owns prom-client). */
export interface ProxyObserver {
  requestReceived(method: string): void;
  responseSent(status: number): void;
  /** Seconds from a request's arrival to the relay of its branch. */
  relayLatency(seconds: number): void;
  hookError(hook: string): void;
  /**
   * A response from downstream that was not forwarded. `no-upstream-via`: once our Via was
   * removed none was left, so it "was meant for this element and MUST NOT be forwarded" (RFC 3261
   * §16.7 step 3). Optional, so an observer written before it still fits.
   */
  responseDropped?(reason: 'no-upstream-via'): void;
}

export const NO_OBSERVER: Required<ProxyObserver> = {
  requestReceived() {},
  responseSent() {},
  relayLatency() {},
  hookError() {},
  responseDropped() {},
};
