// The sets as `list` shows them (and `add` answers with): DispatcherFleet.list() joined with the
// structured attrs and the prober's latencies.
import {
  type Destination,
  type DestinationAttrs,
  DispatcherFleet,
  type FleetDestinationInfo,
  specialAttrs,
} from '@sipfleet/dispatcher';
import { readLatency } from '@sipfleet/keepalive/store';
import type { RedisConnection } from '@sipfleet/redis';

/** The attrs column broken out: special attributes under their list-file names, then `extra`. */
interface AttrsView {
  [name: string]: string | number | Record<string, string>;
  /** Every other attribute, as written (free-form attributes are kept). */
  extra: Record<string, string>;
}

export interface LatencyView {
  /** EWMA of keepalive round trips, ms (Kamailio's EST). */
  estimate: number;
  /** Long-run average, ms (AVG). */
  average: number;
  samples: number;
  /** Standard deviation of the round trips, ms (STD). */
  std: number;
  /** Longest round trip, ms (MAX). */
  max: number;
  /** Keepalives without a reply in time (TIMEOUT). */
  timeouts: number;
}

export interface DestinationView {
  uri: string;
  flags: number;
  /** Kamailio's two letters: AP, AX, IP, TP, DX, ... */
  flagsText: string;
  priority: number;
  /** The attrs column as stored (list-file format). */
  attrsText: string;
  attrs: AttrsView;
  description: string | null;
  /** Live call-load slots of its load key (duid, else the URI), fleet-wide. */
  load: number;
  /** From the prober's pings; null before the first one. */
  latency: LatencyView | null;
}

export interface SetView {
  setid: number;
  destinations: DestinationView[];
}

function attrsView(attrs: DestinationAttrs | undefined): AttrsView {
  if (attrs === undefined) return { extra: {} };
  return { ...Object.fromEntries(specialAttrs(attrs)), extra: Object.fromEntries(attrs.extra) };
}

/**
 * dispatcher.list from DispatcherFleet.list() (flags, load), joined with readFleet for the
 * structured attrs and with the prober's latency hash. A reload between the two reads leaves a
 * destination without structured attrs, never a wrong one (joined by lower-cased URI).
 */
export async function readSets(conn: RedisConnection, only: number | undefined) {
  const fleet = new DispatcherFleet(conn);
  const listed = (await fleet.list()).filter((s) => only === undefined || s.setid === only);
  const read = await fleet.read();
  const sets: SetView[] = [];
  for (const set of listed) {
    const latency = await readLatency(conn, set.setid);
    const byUri = new Map<string, Destination>(
      (read.sets.find((s) => s.id === set.setid)?.destinations ?? []).map((d) => [
        d.uri.toLowerCase(),
        d,
      ]),
    );
    sets.push({
      setid: set.setid,
      destinations: set.destinations.map((d: FleetDestinationInfo) => {
        const l = latency.get(d.uri.toLowerCase());
        return {
          uri: d.uri,
          flags: d.flags,
          flagsText: d.flagsText,
          priority: d.priority,
          attrsText: d.attrs,
          attrs: attrsView(byUri.get(d.uri.toLowerCase())?.attrs),
          description: d.description ?? null,
          load: d.load,
          latency: l
            ? {
                estimate: l.estimate,
                average: l.average,
                samples: l.samples,
                std: l.std,
                max: l.max,
                timeouts: l.timeouts,
              }
            : null,
        };
      }),
    });
  }
  return { version: read.version, sets };
}
