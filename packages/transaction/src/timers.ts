import { TransactionError } from './errors.js';

/** Timer base values, in milliseconds (RFC 3261 section 17.1.1.1 and Table 4). */
export interface TimerSettings {
  /** RTT estimate. @default 500 */
  T1: number;
  /** Maximum retransmit interval for non-INVITE requests and INVITE responses. @default 4000 */
  T2: number;
  /** Maximum duration a message will remain in the network. @default 5000 */
  T4: number;
  /** Wait time for response retransmits on UDP ("at least 32 seconds", section 17.1.1.2). 0 on TCP regardless. @default 32000 */
  timerD?: number;
  /**
   * Kamailio tm's `wt_timer`: how long a finished transaction lingers to absorb retransmissions,
   * used for Timers D, J, L and M instead of their RFC values (32 s each on UDP). Departure from
   * RFC 3261/6026 on purpose: at 2,500 calls/s the RFC values keep ~250,000 transactions alive.
   * Late retransmissions still work: a 2xx or its ACK without a transaction is relayed
   * statelessly by the proxy, and a late request retransmission is answered again by the next hop.
   * @default undefined (the RFC values)
   */
  wait?: number;
}

export const DEFAULT_TIMER_SETTINGS: Readonly<Required<Omit<TimerSettings, 'wait'>>> =
  Object.freeze({
    T1: 500,
    T2: 4000,
    T4: 5000,
    timerD: 32000,
  });

/** Section 17.2.1: "If [the TU] will not generate a provisional or final response within 200 ms, the server transaction MUST generate a 100 (Trying)". */
export const TRYING_DELAY_MS = 200;

/**
 * Every timer of RFC 3261 Table 4 (plus RFC 6026's L and M) resolved to milliseconds, named by its letter.
 * Values are those for unreliable transports; the transactions use 0 for D, I, J and K on TCP and do not run
 * A, E or G there.
 */
export interface TimerValues {
  readonly T1: number;
  readonly T2: number;
  readonly T4: number;
  /** INVITE request retransmit interval, initial value; doubles without cap. */
  readonly A: number;
  /** INVITE transaction timeout (Calling state). */
  readonly B: number;
  /** Wait time for response retransmits (INVITE client, Completed). */
  readonly D: number;
  /** Non-INVITE request retransmit interval, initial value; doubles up to T2. */
  readonly E: number;
  /** Non-INVITE transaction timeout. */
  readonly F: number;
  /** INVITE response retransmit interval, initial value; doubles up to T2. */
  readonly G: number;
  /** Wait time for ACK receipt. */
  readonly H: number;
  /** Wait time for ACK retransmits. */
  readonly I: number;
  /** Wait time for non-INVITE request retransmits. */
  readonly J: number;
  /** Wait time for response retransmits (non-INVITE client, Completed). */
  readonly K: number;
  /** RFC 6026: wait time for INVITE retransmissions and 2xx ACKs after a 2xx (server, Accepted). */
  readonly L: number;
  /** RFC 6026: wait time for 2xx retransmissions (client, Accepted). */
  readonly M: number;
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) {
    throw new TransactionError(
      'SIPFLEET_ERR_TX_CONFIG',
      `timers.${name} must be a positive number of ms, got ${value}`,
    );
  }
  return value;
}

/** Fills in defaults, validates, and derives every lettered timer. Throws `SIPFLEET_ERR_TX_CONFIG`. */
export function resolveTimers(settings: Partial<TimerSettings> = {}): TimerValues {
  const s = { ...DEFAULT_TIMER_SETTINGS, ...settings };
  const T1 = positive('T1', s.T1);
  const T2 = positive('T2', s.T2);
  const T4 = positive('T4', s.T4);
  if (T2 < T1) {
    throw new TransactionError(
      'SIPFLEET_ERR_TX_CONFIG',
      `timers.T2 (${T2}) must not be below timers.T1 (${T1})`,
    );
  }
  const wait = s.wait === undefined ? undefined : positive('wait', s.wait);
  const D = wait ?? positive('timerD', s.timerD);
  const sixtyFourT1 = 64 * T1;
  const linger = wait ?? sixtyFourT1;
  return Object.freeze({
    T1,
    T2,
    T4,
    A: T1,
    B: sixtyFourT1,
    D,
    E: T1,
    F: sixtyFourT1,
    G: T1,
    H: sixtyFourT1,
    I: T4,
    J: linger,
    K: T4,
    L: linger,
    M: linger,
  });
}
