import type { TransportProtocol } from '@sipfleet/transport';

/** The address this proxy puts in Record-Route and recognises in Route (a fleet shares one name). */
export interface AdvertisedAddress {
  host: string;
  /** @default the listening port of the protocol the request arrived on */
  port?: number;
}

/** Per-branch timers, Kamailio tm's `fr_timer` and `fr_inv_timer`. */
export interface BranchTimers {
  /** No reply at all on a branch within this many ms: the branch ends as 408. @default 30000 */
  frTimerMs: number;
  /** INVITE branch with a provisional reply but no final within this many ms: CANCEL it, 408 (RFC 3261 Timer C). @default 120000 */
  frInvTimerMs: number;
}

export interface ProxyOptions {
  /** Record-Route / own-Route address. @default the listening socket's address */
  advertised?: AdvertisedAddress;
  /** Extra host[:port] names this proxy answers to (all fleet members' names, DNS aliases). @default [] */
  aliases?: string[];
  /** @default { frTimerMs: 30000, frInvTimerMs: 120000 } */
  timers?: Partial<BranchTimers>;
  /** Max-Forwards value added when a request has none (RFC 3261 §16.6 step 3). @default 70 */
  maxForwards?: number;
  /**
   * Kamailio core `use_dns_failover`: when a next hop resolves to several targets (SRV records,
   * several addresses), a branch whose target gives a transport error, no reply within
   * `fr_timer`, or a 503 is sent again to the next target (RFC 3263 §4.3), in the same branch.
   * @default true
   */
  dnsFailover?: boolean;
  /**
   * RFC 3261 §18.1.1 (Kamailio core `udp_mtu`, with `udp_mtu_try_proto` TCP): a request that
   * would go over UDP and comes within 200 bytes of this path MTU goes over TCP instead, when the
   * proxy listens on TCP. 0 = off (Kamailio's default too).
   * @default 0
   */
  udpMtu?: number;
  /** Via sent-by per listening protocol (the transport layer knows them). */
  sentBy: Partial<Record<TransportProtocol, { host: string; port: number }>>;
  /**
   * Every listening socket with its Via sent-by (the transport layer's `sockets`): what
   * `setSendSocket` (Kamailio `force_send_socket`) may name, and more Vias to recognise as ours.
   * @default none (requests leave from the default socket of their protocol)
   */
  listeners?: readonly Listener[];
}

/** One listening socket of the proxy. */
export interface Listener {
  protocol: TransportProtocol;
  address: string;
  port: number;
  sentBy: { host: string; port: number };
}

export const DEFAULT_TIMERS: BranchTimers = { frTimerMs: 30_000, frInvTimerMs: 120_000 };
export const DEFAULT_MAX_FORWARDS = 70;
