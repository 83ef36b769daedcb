/**
 * RFC 3261 §16.7 step 6: choose the best final among the branches' responses. Any 6xx wins;
 * otherwise the lowest class; within a class the first one received. Departure: 401/407
 * challenges from several branches are not merged (§16.7 step 7); the chosen one is sent as is.
 */
export function isBetter(candidate: number, current: number | undefined): boolean {
  if (current === undefined) return true;
  const candClass = Math.floor(candidate / 100);
  const curClass = Math.floor(current / 100);
  if (curClass === 6) return false;
  if (candClass === 6) return true;
  return candClass < curClass;
}

/**
 * §16.7 step 6: "If the selected response is a 503 (Service Unavailable), the proxy MUST generate a
 * 500 (Server Internal Error) response and forward that upstream" — so a caller does not take our
 * downstream's overload for ours.
 */
export function upstreamStatus(status: number): number {
  return status === 503 ? 500 : status;
}
