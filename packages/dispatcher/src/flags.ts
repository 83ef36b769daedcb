// Destination state flags: Kamailio dispatcher.h bit values, the two-letter rendering of
// `dispatcher.list` (RPC) and the state strings of ds_mark_dst() and dispatcher.set_state.

import { SipfleetDispatcherError } from './errors.js';

/** Inactive: skipped by selection (dispatch.h DS_INACTIVE_DST). */
export const DS_INACTIVE_DST = 1;
/** Trying: still selected, but a failure was seen; becomes inactive at the probing threshold. */
export const DS_TRYING_DST = 2;
/** Admin disabled: skipped by selection and never probed. */
export const DS_DISABLED_DST = 4;
/** Probing: keepalive OPTIONS are sent to it. */
export const DS_PROBING_DST = 8;
/** No DNS A/AAAA resolution of the host (list-file configuration bit, not a runtime state). */
export const DS_NODNSARES_DST = 16;
/** Never pinged (list-file configuration bit, not a runtime state). */
export const DS_NOPING_DST = 32;

/**
 * The runtime state bits a mark replaces. Kamailio's DS_STATES_ALL is 63 and so also clears the
 * two configuration bits (16, 32) on every state update; we keep them, because they come from the
 * list file and a keepalive reply should not turn pinging of a no-ping destination back on.
 */
export const DS_STATE_BITS = DS_INACTIVE_DST | DS_TRYING_DST | DS_DISABLED_DST | DS_PROBING_DST;

/** Every bit Kamailio defines for a destination (DS_STATES_ALL). */
export const DS_ALL_FLAG_BITS = 63;

/**
 * Kamailio's `ds_skip_dst()`: a destination is selectable unless it is inactive or disabled.
 * Trying counts as active: it stays selectable until the probing threshold turns it inactive.
 */
export function isActive(dst: number | { readonly flags: number }): boolean {
  const flags = typeof dst === 'number' ? dst : dst.flags;
  return (flags & (DS_INACTIVE_DST | DS_DISABLED_DST)) === 0;
}

/**
 * The two letters `kamcmd dispatcher.list` prints in FLAGS (dispatcher.c ds_rpc_print_set):
 * first I (inactive) > D (disabled) > T (trying) > A (active), checked in that order, so a
 * destination with both I and D reads `I`; second P (probing) > N (no-ping bit 32) > X.
 */
export function formatFlags(flags: number): string {
  let first = 'A';
  if (flags & DS_INACTIVE_DST) first = 'I';
  else if (flags & DS_DISABLED_DST) first = 'D';
  else if (flags & DS_TRYING_DST) first = 'T';
  let second = 'X';
  if (flags & DS_PROBING_DST) second = 'P';
  else if (flags & DS_NOPING_DST) second = 'N';
  return first + second;
}

/**
 * Parses a ds_mark_dst() state string (dispatcher.c ds_parse_flags): each letter, any case,
 * `a` clears what came before, `i` `d` `t` `p` add inactive, disabled, trying, probing.
 * So `ip` = inactive+probing, `tp` = trying+probing, `ia` = active. Returns the state bits.
 * @throws SipfleetDispatcherError SIPFLEET_ERR_DISPATCHER_STATE on an empty string or another letter.
 */
export function parseMarkState(state: string): number {
  if (state.length === 0) throw badState(state, 'is empty');
  let flags = 0;
  for (const ch of state) {
    switch (ch) {
      case 'a':
      case 'A':
        flags = 0;
        break;
      case 'i':
      case 'I':
        flags |= DS_INACTIVE_DST;
        break;
      case 'd':
      case 'D':
        flags |= DS_DISABLED_DST;
        break;
      case 't':
      case 'T':
        flags |= DS_TRYING_DST;
        break;
      case 'p':
      case 'P':
        flags |= DS_PROBING_DST;
        break;
      default:
        throw badState(state, `has an unknown letter '${ch}' (expected a, i, d, t, p)`);
    }
  }
  return flags;
}

/**
 * Parses a `dispatcher.set_state` RPC state (dispatcher.c dispatcher_rpc_set_state_helper): the
 * first character is `a`/`1` active, `i`/`0` inactive, `d`/`2` disabled, `t`/`3` trying; for
 * a, i and t a second `p` adds probing (`ap`, `ip`, `tp`). Later characters are ignored, as in
 * Kamailio.
 * @throws SipfleetDispatcherError SIPFLEET_ERR_DISPATCHER_STATE when the first character is none of those.
 */
export function parseRpcState(state: string): number {
  const probing = state.length > 1 && (state[1] === 'p' || state[1] === 'P') ? DS_PROBING_DST : 0;
  switch (state[0]) {
    case 'i':
    case 'I':
    case '0':
      return DS_INACTIVE_DST | probing;
    case 'a':
    case 'A':
    case '1':
      return probing;
    case 'd':
    case 'D':
    case '2':
      return DS_DISABLED_DST;
    case 't':
    case 'T':
    case '3':
      return DS_TRYING_DST | probing;
    default:
      throw badState(state, 'must start with a, i, d, t or 0-3');
  }
}

function badState(state: string, what: string): SipfleetDispatcherError {
  return new SipfleetDispatcherError(
    'SIPFLEET_ERR_DISPATCHER_STATE',
    `dispatcher state '${state}' ${what}`,
  );
}
