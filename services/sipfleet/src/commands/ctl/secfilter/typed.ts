// What the secfilter commands share.
import { SecfilterError } from '@sipfleet/secfilter';
import { UsageError } from '../common.js';

/** A malformed list name or entry is the operator's typo: usage (exit 2). */
export function typed<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof SecfilterError) throw new UsageError(err.message);
    throw err;
  }
}
