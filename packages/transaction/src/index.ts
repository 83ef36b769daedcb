export { systemClock, ManualClock } from './clock.js';
export type { Clock } from './clock.js';
export { TransactionError } from './errors.js';
export type { TransactionErrorCode } from './errors.js';
export { DEFAULT_TIMER_SETTINGS, TRYING_DELAY_MS, resolveTimers } from './timers.js';
export type { TimerSettings, TimerValues } from './timers.js';
export { TransactionLayer } from './transaction-layer.js';
export type { TransactionLayerOptions } from './transaction-layer.js';
export { SipEndpoint } from './sip-endpoint.js';
export type { SipEndpointObserver, SipEndpointOptions } from './sip-endpoint.js';
export { isRfc2543Key, serverTransactionKey } from './matching.js';
export type { InviteClientState } from './invite-client-transaction.js';
export type { NonInviteClientState } from './non-invite-client-transaction.js';
export type { InviteServerState } from './invite-server-transaction.js';
export type { NonInviteServerState } from './non-invite-server-transaction.js';
export type {
  ClientTransaction,
  ClientTransactionHandlers,
  ServerTransaction,
  TransactionUser,
} from './types.js';
