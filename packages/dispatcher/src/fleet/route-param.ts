// The set id travels with the dialog in our Record-Route URI, so a 2xx, BYE or CANCEL reaching
// any edge can confirm or release the call-load slot in one round trip (call-load.ts explains
// why the Call-ID alone cannot find the set's Cluster slot). This plays the role of Kamailio's
// dialog variables / the ds_load hash, without shared memory.

/** URI parameter name on our Record-Route entry: `;lr;dsset=<setid>`. */
export const DS_SET_ROUTE_PARAM = 'dsset';

/** The param value to put on the Record-Route URI of a call dispatched with alg 10. */
export function formatSetParam(setid: number): string {
  return String(setid);
}

/**
 * The set id from a Route / Record-Route URI's params (keys lower-cased, as SipUri.params), or
 * undefined when absent or malformed (a forged or foreign value never throws).
 */
export function parseSetParam(params: ReadonlyMap<string, string | null>): number | undefined {
  const value = params.get(DS_SET_ROUTE_PARAM);
  if (value === undefined || value === null || !/^\d{1,10}$/.test(value)) return undefined;
  const n = Number(value);
  return n <= 0x7fffffff ? n : undefined;
}
