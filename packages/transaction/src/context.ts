import type { MessageSender } from '@sipfleet/transport';
import type { Clock } from './clock.js';
import type { TimerValues } from './timers.js';
import type { ClientTransaction, TransactionUser } from './types.js';

/** What a transaction needs from the layer that owns it: one shared object, so a transaction holds one pointer. */
export interface TransactionContext {
  readonly sender: MessageSender;
  readonly clock: Clock;
  readonly timers: TimerValues;
  readonly user: TransactionUser;
  /** A retransmission was sent (metric). */
  retransmitted(kind: 'request' | 'response'): void;
  /** The transaction sent a response of its own making, a 100 Trying (metric). */
  responded(status: number): void;
  /** Removes a terminated server transaction from the layer's table (if it is still the one under `key`). */
  serverTerminated(key: string, tx: object): void;
  /** Removes a terminated client transaction from the layer's tables (if it is still the one under `branch`). */
  clientTerminated(branch: string, isCancel: boolean, tx: object): void;
  /** Sends a CANCEL for an INVITE client transaction in a non-INVITE client transaction of its own (section 9.1). */
  sendCancel(invite: ClientTransaction): void;
}
