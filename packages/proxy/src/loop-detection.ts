import type { SipRequest } from '@sipfleet/sip';

/**
 * RFC 3261 §16.6 step 8 / §16.3 step 4: the branch we put in our Via carries a hash of the fields
 * that stay the same when a request comes back to us unchanged (a loop) but differ when it comes
 * back with a new Request-URI (a spiral). FNV-1a 32-bit over Request-URI, From tag, To tag,
 * Call-ID and CSeq number.
 */
export function loopHash(req: SipRequest): string {
  let h = mix(0x811c9dc5, req.uri);
  h = mix(h, req.from.tag ?? '');
  h = mix(h, req.to.tag ?? '');
  h = mix(h, req.callId);
  h = mixDigits(h, req.cseq.seq);
  let hex = '';
  for (let shift = 28; shift >= 0; shift -= 4) hex += HEX[(h >>> shift) & 15];
  return hex;
}

const HEX = '0123456789abcdef';

/** FNV-1a of `part` and a separator into `h`, so that ('ab','c') and ('a','bc') differ. */
function mix(h: number, part: string): number {
  for (let i = 0; i < part.length; i++) {
    h ^= part.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= 0x7c;
  return Math.imul(h, 0x01000193);
}

/** {@link mix} of `String(n)` for a CSeq number (an integer 0..2^32-1), without the string. */
function mixDigits(h: number, n: number): number {
  let unit = 1;
  while (unit * 10 <= n) unit *= 10;
  for (; unit >= 1; unit /= 10) {
    h ^= 48 + (Math.floor(n / unit) % 10);
    h = Math.imul(h, 0x01000193);
  }
  h ^= 0x7c;
  return Math.imul(h, 0x01000193);
}

/** Our branches look like `z9hG4bK` + `sf` + loop hash + `.` + unique part. */
export const OWN_BRANCH_PREFIX = 'z9hG4bKsf';

let branchCounter = 0;
const branchSalt = Math.floor(Math.random() * 0x7fffffff).toString(36);

export function ownBranch(hash: string): string {
  branchCounter = (branchCounter + 1) % 0x7fffffff;
  return `${OWN_BRANCH_PREFIX}${hash}.${branchSalt}${branchCounter.toString(36)}`;
}

/** The loop hash embedded in one of our branches, or undefined for a branch we did not make. */
export function hashInBranch(branch: string | undefined): string | undefined {
  if (branch === undefined || !branch.startsWith(OWN_BRANCH_PREFIX)) return undefined;
  return branch.slice(OWN_BRANCH_PREFIX.length, OWN_BRANCH_PREFIX.length + 8);
}
