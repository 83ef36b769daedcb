// Kamailio's dispatcher algorithms 0-13 in one table: number and name, the call input each one
// hashes and how that input is read from a request, and what an edge needs per call besides its
// snapshot (so which ones cost a Redis round trip). select() (algorithms.ts), the edge's
// DispatcherView (fleet/view.ts) and `sipfleet ctl dispatcher hash` all read it.

import { authUsernameOf, type HeaderSource } from './credentials.js';
import { hashAuthUsername, hashCallId, hashUri, hashValue } from './hash.js';
import type { HashTemplate } from './hash-template.js';

/** Kamailio's algorithm numbers (dispatch.c DS_ALG_*). */
export const DS_ALG = {
  HASH_CALLID: 0,
  HASH_FROM_URI: 1,
  HASH_TO_URI: 2,
  HASH_RURI: 3,
  ROUND_ROBIN: 4,
  HASH_AUTH_USER: 5,
  RANDOM: 6,
  HASH_PV: 7,
  SERIAL: 8,
  WEIGHT: 9,
  CALL_LOAD: 10,
  RELATIVE_WEIGHT: 11,
  PARALLEL: 12,
  LATENCY: 13,
} as const;

export type Algorithm = (typeof DS_ALG)[keyof typeof DS_ALG];

/** The request values an algorithm may read; callInputFrom fills what the algorithm needs. */
export interface CallInput {
  /** Call-ID header value (alg 0; alg 10 keys its call-load slot by it). */
  readonly callId?: string;
  /** From header URI: the addr-spec, without display name or tag (alg 1). */
  readonly fromUri?: string;
  /** To header URI (alg 2). */
  readonly toUri?: string;
  /** Request-URI (alg 3). */
  readonly ruri?: string;
  /** User of the digest username of Proxy-Authorization, else Authorization (alg 5). */
  readonly authUser?: string;
  /** What Kamailio would print from `hash_pvar` (alg 7), e.g. a header's value. */
  readonly hashValue?: string;
  /**
   * Hash only the user part of the From/To/R-URI (Kamailio's `flags` modparam bit 1,
   * DS_HASH_USER_ONLY); the same as SelectOptions.userOnly, carried with the input.
   * @default false
   */
  readonly userOnly?: boolean;
}

/** The request values of a CallInput (userOnly says how to hash them, it is not one). */
export type CallInputField = Exclude<keyof CallInput, 'userOnly'>;

/** The request callInputFrom reads; @sipfleet/sip's SipRequest has this shape. */
export interface CallRequest extends HeaderSource {
  /** The Request-URI as it stands (after any rewrite by the route). */
  readonly uri: string;
  readonly callId: string;
  readonly from: { readonly uri: { toString(): string } };
  readonly to: { readonly uri: { toString(): string } };
}

export interface CallInputOptions {
  /**
   * The header whose value algorithm 7 hashes: Kamailio's `hash_pvar` set to `$hdr(NAME)`. A
   * missing header gives '' (a bad-input failure, as Kamailio's empty hash_pvar).
   * @default none (algorithm 7 then has no input: missing-input)
   */
  readonly hashHeader?: string;
  /**
   * Algorithm 7's `hash_pvar` format (compileHashTemplate), e.g. `$fU@$ci`; wins over hashHeader.
   * @default none
   */
  readonly hashTemplate?: HashTemplate;
  /**
   * The Request-URI as it stands when the route rewrote it (Kamailio's `$ru` is the current
   * one): what alg 3 and the template's $ru/$rU/$rd read instead of `request.uri`.
   * @default request.uri
   */
  readonly requestUri?: string;
  /**
   * Kamailio's `flags` bit 1 (DS_HASH_USER_ONLY): URI hashes (alg 1, 2, 3) use only the user part.
   * @default false
   */
  readonly userOnly?: boolean;
}

/** One call input: how messages and the CLI name it, and how it is read from a request. */
export interface CallInputSpec {
  readonly what: string;
  readonly read: (request: CallRequest, options: CallInputOptions) => string | undefined;
}

export const CALL_INPUTS: { readonly [F in CallInputField]: CallInputSpec } = {
  callId: { what: 'the Call-ID', read: (r) => r.callId },
  fromUri: { what: 'the From URI', read: (r) => uriText(() => r.from.uri) },
  toUri: { what: 'the To URI', read: (r) => uriText(() => r.to.uri) },
  ruri: { what: 'the Request-URI', read: (r, o) => o.requestUri ?? r.uri },
  authUser: { what: 'the digest username', read: (r) => authUsernameOf(r) },
  hashValue: {
    what: 'the hash_pvar value',
    read: (r, o) =>
      o.hashTemplate !== undefined
        ? o.hashTemplate.print(r, o.requestUri ?? r.uri)
        : o.hashHeader === undefined
          ? undefined
          : (r.getHeader(o.hashHeader) ?? ''),
  },
};

/**
 * A From/To URI the SIP parser refuses (RFC 3261 section 19.1: an unknown scheme, a bad host) has
 * nothing to hash; '' makes that a bad-input failure, as in Kamailio, instead of an exception.
 */
function uriText(uri: () => { toString(): string }): string {
  try {
    return uri().toString();
  } catch {
    return '';
  }
}

/**
 * What an edge needs per call besides its snapshot (DispatcherView.selectDestinations):
 * `snapshot` and `random` nothing else, `edge-counter` a counter of its own (weight slot, latency
 * start), all without a round trip; `fleet-counter` the fleet-wide round-robin counter (1 INCR)
 * and `call-load` a call-load slot reserved atomically (1 EVALSHA).
 */
export type CallPath = 'snapshot' | 'random' | 'edge-counter' | 'fleet-counter' | 'call-load';

/** Redis round trips per call for each CallPath (the per-call budget in docs/architecture.md). */
export const CALL_PATH_ROUND_TRIPS: { readonly [P in CallPath]: 0 | 1 } = {
  snapshot: 0,
  random: 0,
  'edge-counter': 0,
  'fleet-counter': 1,
  'call-load': 1,
};

/** The input a hashing algorithm hashes (dispatch.c ds_hash_*) and how. */
export interface HashedInput {
  readonly field: CallInputField;
  /** ds_get_hash over the value, or the reason it is unusable (a bad-input failure). */
  readonly hash: (value: string, userOnly: boolean) => number | string;
  /** Alg 5: without the input (absent or blank) Kamailio runs round-robin instead. */
  readonly otherwise?: Algorithm;
}

export interface AlgorithmEntry {
  readonly alg: Algorithm;
  readonly name: string;
  /** The call input it hashes; undefined for algorithms that pick by counter, chance or load. */
  readonly hashes?: HashedInput;
  /** Every call input it reads (the hashed one; alg 10 keys its slot by the Call-ID). */
  readonly reads: readonly CallInputField[];
  readonly callPath: CallPath;
}

function uriInput(field: 'fromUri' | 'toUri' | 'ruri'): HashedInput {
  return {
    field,
    hash: (uri, userOnly) => hashUri(uri, userOnly) ?? `${field} '${uri}' has no usable host`,
  };
}

function hashing(alg: Algorithm, name: string, hashes: HashedInput): AlgorithmEntry {
  return { alg, name, hashes, reads: [hashes.field], callPath: 'snapshot' };
}

function picking(alg: Algorithm, name: string, callPath: CallPath): AlgorithmEntry {
  return { alg, name, reads: alg === DS_ALG.CALL_LOAD ? ['callId'] : [], callPath };
}

/** Indexed by algorithm number. */
export const ALGORITHMS: readonly AlgorithmEntry[] = [
  hashing(DS_ALG.HASH_CALLID, 'Call-ID hash', { field: 'callId', hash: hashCallId }),
  hashing(DS_ALG.HASH_FROM_URI, 'From-URI hash', uriInput('fromUri')),
  hashing(DS_ALG.HASH_TO_URI, 'To-URI hash', uriInput('toUri')),
  hashing(DS_ALG.HASH_RURI, 'R-URI hash', uriInput('ruri')),
  picking(DS_ALG.ROUND_ROBIN, 'round-robin', 'fleet-counter'),
  hashing(DS_ALG.HASH_AUTH_USER, 'auth-username hash', {
    field: 'authUser',
    hash: hashAuthUsername,
    otherwise: DS_ALG.ROUND_ROBIN,
  }),
  picking(DS_ALG.RANDOM, 'random', 'random'),
  hashing(DS_ALG.HASH_PV, 'value hash', {
    field: 'hashValue',
    // dispatch.c ds_hash_pvar: an empty printed value is an error, not a hash.
    hash: (value) => (value.trim() === '' ? 'hashValue is empty' : hashValue(value)),
  }),
  picking(DS_ALG.SERIAL, 'priority (serial)', 'snapshot'),
  picking(DS_ALG.WEIGHT, 'weight', 'edge-counter'),
  picking(DS_ALG.CALL_LOAD, 'call load', 'call-load'),
  picking(DS_ALG.RELATIVE_WEIGHT, 'relative weight', 'edge-counter'),
  picking(DS_ALG.PARALLEL, 'parallel', 'snapshot'),
  picking(DS_ALG.LATENCY, 'latency', 'edge-counter'),
];

/** The entry of an algorithm number; undefined for numbers Kamailio does not know (64 included). */
export function algorithmEntry(alg: number): AlgorithmEntry | undefined {
  return Number.isInteger(alg) ? ALGORITHMS[alg] : undefined;
}

/** The algorithms that hash a call input: 0, 1, 2, 3, 5, 7. */
export const HASHING_ALGORITHMS: readonly Algorithm[] = ALGORITHMS.filter((e) => e.hashes).map(
  (e) => e.alg,
);

/** What a hashing algorithm makes of a call's input. */
export type InputHash =
  | { readonly kind: 'hash'; readonly hash: number }
  /** Alg 5 without credentials: select as this algorithm instead. */
  | { readonly kind: 'otherwise'; readonly alg: Algorithm }
  | {
      readonly kind: 'failure';
      readonly reason: 'missing-input' | 'bad-input';
      readonly message: string;
    };

/**
 * The number a hashing algorithm takes modulo the set size, from the input the table names.
 * Undefined for algorithms that hash nothing. `userOnly` is Kamailio's DS_HASH_USER_ONLY flag.
 */
export function hashCallInput(
  alg: number,
  input: CallInput,
  userOnly = false,
): InputHash | undefined {
  const hashed = algorithmEntry(alg)?.hashes;
  if (hashed === undefined) return undefined;
  const value = input[hashed.field];
  const otherwise = otherwiseOf(hashed, input);
  if (otherwise !== undefined) return { kind: 'otherwise', alg: otherwise };
  if (value === undefined) {
    const message = `algorithm ${alg} needs input.${hashed.field}`;
    return { kind: 'failure', reason: 'missing-input', message };
  }
  const hash = hashed.hash(value, userOnly || input.userOnly === true);
  return typeof hash === 'number'
    ? { kind: 'hash', hash }
    : { kind: 'failure', reason: 'bad-input', message: hash };
}

function otherwiseOf(hashed: HashedInput, input: CallInput): Algorithm | undefined {
  return hashed.otherwise !== undefined && (input[hashed.field]?.trim() ?? '') === ''
    ? hashed.otherwise
    : undefined;
}

/** What `alg` needs per call for this input (alg 5 without credentials: round-robin's). */
export function callPathOf(alg: number, input: CallInput): CallPath {
  const entry = algorithmEntry(alg);
  if (entry === undefined) return 'snapshot';
  const otherwise = entry.hashes && otherwiseOf(entry.hashes, input);
  return otherwise === undefined ? entry.callPath : (ALGORITHMS[otherwise]?.callPath ?? 'snapshot');
}

/**
 * The input `alg` reads, taken from a request: only the fields the table lists for it, so an
 * algorithm that hashes the Call-ID never parses the From URI.
 */
export function callInputFrom(
  request: CallRequest,
  alg: number,
  options: CallInputOptions = {},
): CallInput {
  const input: { -readonly [F in CallInputField]?: string } & { userOnly?: boolean } = {};
  for (const field of algorithmEntry(alg)?.reads ?? []) {
    const value = CALL_INPUTS[field].read(request, options);
    if (value !== undefined) input[field] = value;
  }
  if (options.userOnly === true) input.userOnly = true;
  return input;
}
