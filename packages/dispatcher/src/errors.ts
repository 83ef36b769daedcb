// Typed errors of the dispatcher core. Callers branch on `code`, never on message text.

/** Every error code this package can produce (a catalogue: never reuse a code for something else). */
export const DISPATCHER_ERROR_CODES = [
  /** A dispatcher.list text is malformed; `issues` names each bad line. */
  'SIPFLEET_ERR_DISPATCHER_LIST',
  /** A state string (ds_mark_dst / dispatcher.set_state) is not one Kamailio accepts. */
  'SIPFLEET_ERR_DISPATCHER_STATE',
  /** An algorithm 7 hash template (`hash_pvar`) is empty or names an unknown variable. */
  'SIPFLEET_ERR_DISPATCHER_HASH_TEMPLATE',
  /** A ds_select_routes rule string is not `set=alg;set=alg`. */
  'SIPFLEET_ERR_DISPATCHER_ROUTES',
] as const;

export type DispatcherErrorCode = (typeof DISPATCHER_ERROR_CODES)[number];

/** One problem found in a list file, with its 1-based line number. */
export interface ListIssue {
  readonly line: number;
  readonly message: string;
}

export class SipfleetDispatcherError extends Error {
  override readonly name = 'SipfleetDispatcherError';
  constructor(
    readonly code: DispatcherErrorCode,
    message: string,
    /** For SIPFLEET_ERR_DISPATCHER_LIST: every bad line, in file order. */
    readonly issues: readonly ListIssue[] = [],
  ) {
    super(message);
  }
}
