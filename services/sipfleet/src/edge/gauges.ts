import { DS_ALG, isActive } from '@sipfleet/dispatcher';
import type { DispatcherView } from '@sipfleet/dispatcher';
import type { EdgeConfig } from '../config.js';
import type { DestinationGaugeRow } from '../metrics.js';

/** Rows for the destination gauges: state from the snapshot, load from Redis for algorithm 10. */
export async function destinationRows(
  view: DispatcherView | undefined,
  config: EdgeConfig,
): Promise<DestinationGaugeRow[]> {
  if (view === undefined) return [];
  const rows: DestinationGaugeRow[] = [];
  const routed = config.routing.dispatcher;
  for (const set of view.snapshot.sets.values()) {
    let loads: ReadonlyMap<string, number> | undefined;
    if (routed?.set === set.id && routed.algorithm === DS_ALG.CALL_LOAD) {
      loads = await view.callLoad.loads(set.id).catch(() => undefined);
    }
    for (const d of set.destinations) {
      const key = (d.attrs.duid ?? d.uri).toLowerCase();
      const load = loads?.get(key) ?? (loads === undefined ? undefined : 0);
      rows.push({
        set: set.id,
        uri: d.uri,
        active: isActive(d),
        ...(load === undefined ? {} : { load }),
      });
    }
  }
  return rows;
}
