// ds_ping_reply_codes (Kamailio dispatcher): which keepalive replies besides 2xx count as "alive".
// Syntax: `class=2;code=403;code=488;class=3`: `class=N` accepts every N00-N99 reply, `code=NNN`
// one status. dispatcher.c ds_options_callback: a 2xx is always good, then the configured list.

import { SipfleetKeepaliveError } from './errors.js';

export interface ReplyCodes {
  /** Accepted reply classes (1-6): `class=4` accepts 400-499. */
  readonly classes: ReadonlySet<number>;
  /** Accepted single statuses (100-699). */
  readonly codes: ReadonlySet<number>;
}

/** No extra codes: only 2xx (Kamailio's default, an empty ds_ping_reply_codes). */
export const NO_EXTRA_REPLY_CODES: ReplyCodes = Object.freeze({
  classes: new Set<number>(),
  codes: new Set<number>(),
});

/**
 * Parses a ds_ping_reply_codes string. Names are case-insensitive (`Class=4`), spaces around
 * `;` and `=` are ignored, one trailing `;` is allowed, an empty string means "2xx only".
 * @throws SipfleetKeepaliveError SIPFLEET_ERR_KEEPALIVE_REPLY_CODES naming the bad item.
 */
export function parseReplyCodes(text: string): ReplyCodes {
  const classes = new Set<number>();
  const codes = new Set<number>();
  const items = text.split(';').map((s) => s.trim());
  if (items.length > 1 && items[items.length - 1] === '') items.pop();
  if (items.length === 1 && items[0] === '') return NO_EXTRA_REPLY_CODES;
  for (const item of items) {
    const eq = item.indexOf('=');
    const name = (eq < 0 ? item : item.slice(0, eq)).trim().toLowerCase();
    const value = eq < 0 ? '' : item.slice(eq + 1).trim();
    if (!/^\d+$/.test(value)) throw bad(text, item, 'needs name=number');
    const n = Number(value);
    if (name === 'class') {
      if (n < 1 || n > 6) throw bad(text, item, 'class must be 1-6');
      classes.add(n);
    } else if (name === 'code') {
      if (n < 100 || n > 699) throw bad(text, item, 'code must be 100-699');
      codes.add(n);
    } else {
      throw bad(text, item, "name must be 'class' or 'code'");
    }
  }
  return Object.freeze({ classes, codes });
}

/** The good-reply test of ds_options_callback: any 2xx, or a configured class or code. */
export function isAcceptedReply(status: number, accepted: ReplyCodes): boolean {
  if (status >= 200 && status <= 299) return true;
  return accepted.codes.has(status) || accepted.classes.has(Math.trunc(status / 100));
}

/** Renders the Kamailio string again (classes first, ascending), e.g. for logs and `ctl`. */
export function formatReplyCodes(accepted: ReplyCodes): string {
  const parts = [
    ...[...accepted.classes].sort((a, b) => a - b).map((c) => `class=${c}`),
    ...[...accepted.codes].sort((a, b) => a - b).map((c) => `code=${c}`),
  ];
  return parts.join(';');
}

function bad(text: string, item: string, why: string): SipfleetKeepaliveError {
  return new SipfleetKeepaliveError(
    'SIPFLEET_ERR_KEEPALIVE_REPLY_CODES',
    `ds_ping_reply_codes ${JSON.stringify(text)}: item ${JSON.stringify(item)}: ${why}`,
  );
}
