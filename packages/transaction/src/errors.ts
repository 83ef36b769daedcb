/** Codes of {@link TransactionError}; each is a misuse of the API by the transaction user, never bad input. */
export type TransactionErrorCode =
  | 'SIPFLEET_ERR_TX_CONFIG'
  | 'SIPFLEET_ERR_TX_BRANCH'
  | 'SIPFLEET_ERR_TX_DUPLICATE'
  | 'SIPFLEET_ERR_TX_ACK'
  | 'SIPFLEET_ERR_TX_CLOSED';

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
