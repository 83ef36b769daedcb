/** What the proxy tells its host process about, for metrics (the service owns prom-client). */
export interface ProxyObserver {
  requestReceived(method: string): void;
  responseSent(status: number): void;
  /** Seconds from a request's arrival to the relay of its branch. */
  relayLatency(seconds: number): void;
  hookError(hook: string): void;
}

export const NO_OBSERVER: ProxyObserver = {
  requestReceived() {},
  responseSent() {},
  relayLatency() {},
  hookError() {},
};
