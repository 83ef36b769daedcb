// What the dispatcher commands share: argument checks, the dispatcher's errors as exit codes.
import {
  type DispatcherFleet,
  DispatcherFleetError,
  SipfleetDispatcherError,
  indexOfUri,
  withSipScheme,
} from '@sipfleet/dispatcher';
import { CtlError, type CtlSettings, EXIT, UsageError, ctlAction } from '../common.js';

/** A set id as Kamailio takes it (non-negative int32), or UsageError naming what it was for. */
export function parseSetId(what: string, text: string | undefined): number {
  if (text === undefined || !/^\d+$/.test(text) || Number(text) > 0x7fffffff) {
    throw new UsageError(`${what} must be a set id 0-2147483647 (got '${text ?? ''}')`);
  }
  return Number(text);
}

export function parseInteger(
  option: string,
  text: string | undefined,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^-?\d+$/.test(text) || !Number.isSafeInteger(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `${min}-${max}`;
    throw new UsageError(`${option} takes an integer ${range} (got '${text}')`);
  }
  return n;
}

/** The dispatcher's typed errors as ctl exit codes; anything else goes on to runCtl. */
function translate(err: unknown): unknown {
  if (err instanceof DispatcherFleetError) {
    switch (err.code) {
      case 'SIPFLEET_ERR_DISPATCHER_BAD_ARGUMENT':
        return new UsageError(err.message);
      case 'SIPFLEET_ERR_DISPATCHER_UNKNOWN_DESTINATION':
        return new CtlError(err.message, EXIT.notFound);
      default:
        return new CtlError(`${err.code}: ${err.message}`, EXIT.failure);
    }
  }
  if (err instanceof SipfleetDispatcherError && err.code === 'SIPFLEET_ERR_DISPATCHER_STATE') {
    return new UsageError(err.message);
  }
  return err;
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export async function findDestination(fleet: DispatcherFleet, setid: number, uri: string) {
  const set = (await fleet.read()).sets.find((s) => s.id === setid);
  return set?.destinations[indexOfUri(set, withSipScheme(uri))];
}

/** A dispatcher command's action: the dispatcher's typed errors become ctl's exit codes. */
export function dispatcherAction<O extends object>(
  handler: (settings: CtlSettings, args: string[], options: O) => Promise<number>,
) {
  return ctlAction<O>(async (...a) => {
    try {
      return await handler(...a);
    } catch (err) {
      throw translate(err);
    }
  });
}
