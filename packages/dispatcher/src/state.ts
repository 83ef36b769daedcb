// Pure destination state transitions: ds_mark_dst() / keepalive replies with Kamailio's
// thresholds (dispatch.c ds_update_state, ds_options_callback). Each call returns the old and new
// flags and counter so the Redis layer can store them atomically and publish the change; nothing
// here keeps state between calls.

import {
  DS_DISABLED_DST,
  DS_INACTIVE_DST,
  DS_NODNSARES_DST,
  DS_NOPING_DST,
  DS_PROBING_DST,
  DS_STATE_BITS,
  DS_TRYING_DST,
  isActive,
  parseMarkState,
} from './flags.js';

/** What is stored per destination: its flags and Kamailio's probing counter (PROBING_COUNT). */
export interface DestinationState {
  readonly flags: number;
  /**
   * Consecutive failures while trying, or consecutive successes while inactive (one counter, as
   * Kamailio's `probing_count`); 0 otherwise.
   */
  readonly count: number;
}

export interface Thresholds {
  /**
   * Failures (trying marks) before a destination becomes inactive (ds_probing_threshold).
   * @default 1
   */
  readonly probingThreshold?: number;
  /**
   * Successful replies before an inactive destination becomes active (ds_inactive_threshold).
   * @default 1
   */
  readonly inactiveThreshold?: number;
}

/** ds_probing_mode: which destinations keepalives go to. */
export const DS_PROBE = {
  /** 0: only destinations with the probing flag; a good reply clears the flag. */
  NONE: 0,
  /** 1: every destination; a failed keepalive to an active one sets trying. */
  ALL: 1,
  /** 2: only destinations that are inactive AND probing. */
  INACTIVE: 2,
  /** 3: destinations with the probing flag, which replies never clear. */
  ONLY_FLAGGED: 3,
} as const;

export type ProbingMode = (typeof DS_PROBE)[keyof typeof DS_PROBE];

export interface Transition {
  readonly old: DestinationState;
  readonly next: DestinationState;
  readonly oldFlags: number;
  readonly newFlags: number;
  /** The flags changed (what the Redis layer publishes); the counter alone may change without it. */
  readonly changed: boolean;
  /** Became unselectable (Kamailio runs event_route[dispatcher:dst-down]). */
  readonly wentDown: boolean;
  /** Became selectable again (event_route[dispatcher:dst-up]). */
  readonly wentUp: boolean;
}

/**
 * ds_mark_dst(state) / ds_update_state: applies a requested state (a ds_mark_dst string such as
 * `i`, `ip`, `tp`, `a`, or DS_* bits) to a destination:
 * - the state bits (1, 2, 4, 8) are replaced by the requested ones;
 * - requesting trying on an inactive destination keeps it inactive ("it has to go first to active
 *   state and then to trying");
 * - disabled wins: only the disabled bit is kept;
 * - each trying mark counts a failure; at probingThreshold the destination becomes inactive and
 *   the counter resets;
 * - an active mark on an inactive destination counts a success; below inactiveThreshold it stays
 *   inactive (keeping its probing flag), at the threshold it becomes active and the counter resets.
 *
 * Differences from Kamailio, deliberate: the list-file bits 16 (no DNS) and 32 (no ping) are
 * kept, where Kamailio's DS_STATES_ALL mask clears them; and only an active/probing mark (no i, t
 * or d) counts towards recovery, where Kamailio also counts a repeated `i` mark on an inactive
 * destination as a "success".
 */
export function mark(
  current: DestinationState,
  requested: string | number,
  thresholds: Thresholds = {},
): Transition {
  const probingThreshold = thresholds.probingThreshold ?? 1;
  const inactiveThreshold = thresholds.inactiveThreshold ?? 1;
  let state =
    (typeof requested === 'string' ? parseMarkState(requested) : requested) & DS_STATE_BITS;
  const init = state;
  const old = current.flags;
  let flags = old & ~DS_STATE_BITS;
  let count = current.count;

  if (state & DS_TRYING_DST && old & DS_INACTIVE_DST) {
    state = (state & ~DS_TRYING_DST) | DS_INACTIVE_DST;
  }
  flags |= state & DS_DISABLED_DST ? DS_DISABLED_DST : state;

  if (state & DS_TRYING_DST) {
    count++;
    if (count >= probingThreshold) {
      flags = (flags & ~DS_TRYING_DST) | DS_INACTIVE_DST;
      count = 0;
    }
  } else if (
    !(init & (DS_TRYING_DST | DS_INACTIVE_DST | DS_DISABLED_DST)) &&
    old & DS_INACTIVE_DST
  ) {
    count++;
    if (count < inactiveThreshold) {
      flags |= DS_INACTIVE_DST | (old & DS_PROBING_DST);
    } else {
      count = 0;
    }
  } else {
    count = 0;
  }
  return transition(current, { flags, count });
}

/**
 * ds_options_callback: the outcome of one keepalive. A good reply (2xx or a code the caller
 * accepts, ds_ping_reply_codes) marks active, keeping the probing flag in mode ALL, and in mode
 * ONLY_FLAGGED when it is set; any other outcome (error reply, 408 timeout, send failure) marks
 * trying, plus probing unless the mode is NONE. A disabled destination is left alone, and in mode
 * ONLY_FLAGGED so is one whose probing flag was cleared meanwhile.
 */
export function probeResult(
  current: DestinationState,
  ok: boolean,
  mode: ProbingMode,
  thresholds: Thresholds = {},
): Transition {
  const flags = current.flags;
  if (flags & DS_DISABLED_DST || (mode === DS_PROBE.ONLY_FLAGGED && !(flags & DS_PROBING_DST))) {
    return transition(current, current);
  }
  let state: number;
  if (ok) {
    state = 0;
    if (mode === DS_PROBE.ALL || (mode === DS_PROBE.ONLY_FLAGGED && flags & DS_PROBING_DST)) {
      state |= DS_PROBING_DST;
    }
  } else {
    state = DS_TRYING_DST | (mode === DS_PROBE.NONE ? 0 : DS_PROBING_DST);
  }
  return mark(current, state, thresholds);
}

/**
 * ds_ping_set / ds_ping_result_helper: whether a keepalive goes to a destination with these
 * flags. Never to disabled, no-ping (32) or no-DNS (16) destinations; mode ALL pings all others,
 * mode INACTIVE only inactive+probing ones, modes NONE and ONLY_FLAGGED those with the probing flag.
 */
export function shouldProbe(flags: number, mode: ProbingMode): boolean {
  if (flags & (DS_DISABLED_DST | DS_NOPING_DST | DS_NODNSARES_DST)) return false;
  if (mode === DS_PROBE.ALL) return true;
  if (mode === DS_PROBE.INACTIVE) {
    return (flags & DS_PROBING_DST) !== 0 && (flags & DS_INACTIVE_DST) !== 0;
  }
  return (flags & DS_PROBING_DST) !== 0;
}

/**
 * The state ds_mark_dst() applies without a parameter. The README says "same as i"; the code
 * (dispatcher.c w_ds_mark_dst0) adds probing when ds_probing_mode is ALL.
 */
export function defaultMarkState(mode: ProbingMode): number {
  return DS_INACTIVE_DST | (mode === DS_PROBE.ALL ? DS_PROBING_DST : 0);
}

function transition(old: DestinationState, next: DestinationState): Transition {
  return {
    old,
    next,
    oldFlags: old.flags,
    newFlags: next.flags,
    changed: old.flags !== next.flags,
    wentDown: isActive(old.flags) && !isActive(next.flags),
    wentUp: !isActive(old.flags) && isActive(next.flags),
  };
}
