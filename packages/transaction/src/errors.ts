/** Codes of {@link TransactionError}; each is a misuse of the API by the transaction user, never bad input. */
export type TransactionErrorCode =
  | 'SIPFLEET_ERR_TX_CONFIG'
  | 'SIPFLEET_ERR_TX_BRANCH'
  | 'SIPFLEET_ERR_TX_DUPLICATE'
  | 'SIPFLEET_ERR_TX_ACK'
  | 'SIPFLEET_ERR_TX_CLOSED'
  | 'SIPFLEET_ERR_TX_RELEASED';

/** Thrown synchronously by the layer's constructor and `sendRequest` when called wrongly. */
export class TransactionError extends Error {
  override readonly name = 'TransactionError';
  constructor(
    readonly code: TransactionErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A transaction's `request` read after its final response: it lets go of the request then, since
 * absorbing retransmissions for the rest of its life needs only its key and the last bytes sent.
 */
export function releasedRequest(): never {
  throw new TransactionError(
    'SIPFLEET_ERR_TX_RELEASED',
    'a transaction lets go of its request with its final response; keep your own reference',
  );
}
