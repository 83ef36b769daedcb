// Kamailio's ds_dns_mode for the edge: the names of dispatcher destinations are resolved into the
// DNS cache when the list loads (start-up, reload: `init`), and with `timer` also every
// dnsIntervalSeconds, so a call to a destination never waits for DNS: the route reads the cache,
// which refreshes itself in the background (packages/transport resolve.ts).
import { DS_NODNSARES_DST } from '@sipfleet/dispatcher';
import type { DispatcherView, Snapshot } from '@sipfleet/dispatcher';
import { parseUri } from '@sipfleet/sip';
import type { SipResolver } from '@sipfleet/transport';
import type { EdgeConfig } from '../config.js';

/**
 * Resolves every destination of each snapshot the view loads (and, in `timer` mode, of the current
 * one on a timer: that re-queries answers past their TTL and keeps destinations without calls from
 * being dropped from the cache as idle). Destinations with flag 16 (DS_NODNSARES_DST) are skipped,
 * as Kamailio does; the call path still resolves them. Returns the function that stops it.
 */
export function warmDestinations(
  view: DispatcherView,
  resolver: SipResolver,
  settings: Pick<EdgeConfig['dispatcher'], 'dnsMode' | 'dnsIntervalSeconds'>,
): () => void {
  const warm = (snapshot: Snapshot) => {
    for (const set of snapshot.sets.values()) {
      for (const d of set.destinations) {
        if (d.flags & DS_NODNSARES_DST) continue;
        let uri;
        try {
          uri = parseUri(d.uri);
        } catch {
          continue; // the list loader reported it; a call to it fails with 503 as well
        }
        void resolver.warm(uri);
      }
    }
  };
  warm(view.snapshot);
  view.on('reload', warm);
  const timer =
    settings.dnsMode === 'timer'
      ? setInterval(() => warm(view.snapshot), settings.dnsIntervalSeconds * 1000).unref()
      : undefined;
  return () => {
    view.off('reload', warm);
    clearInterval(timer);
  };
}
