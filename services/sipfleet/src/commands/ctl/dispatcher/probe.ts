// `sipfleet ctl dispatcher probe SET URI`: have a prober ping one destination now.
import { DispatcherFleet } from '@sipfleet/dispatcher';
import { getPingActive } from '@sipfleet/keepalive/store';
import { type CtlCommand, CtlError, type CtlSettings, EXIT, output, withRedis } from '../common.js';
import { dispatcherAction, findDestination, parseSetId } from './shared.js';

/** Probe now: one BullMQ job that the next free prober runs at once (whatever the flags). */
async function probe(settings: CtlSettings, args: string[]) {
  const [setText, uri = ''] = args;
  const setid = parseSetId('SET', setText);
  return withRedis(settings, async (conn) => {
    const dst = await findDestination(new DispatcherFleet(conn), setid, uri);
    if (dst === undefined) {
      throw new CtlError(`no destination ${uri} in dispatcher set ${setid}`, EXIT.notFound);
    }
    // The prober side (BullMQ) loads only for this command.
    const { requestProbe } = await import('@sipfleet/keepalive');
    try {
      await requestProbe(conn, setid, dst.uri);
    } catch (err) {
      throw new CtlError(
        `cannot queue the probe: ${err instanceof Error ? err.message : String(err)}`,
        EXIT.failure,
      );
    }
    const active = await getPingActive(conn);
    output(settings, { setid, uri: dst.uri, queued: true, pingActive: active }, () => [
      `probe of ${dst.uri} in set ${setid} queued: a prober pings it now ('dispatcher list' shows the result)`,
      ...(active ? [] : ["note: ping-active is off, so probers skip it ('ping-active on')"]),
    ]);
    return EXIT.ok;
  });
}

export function addProbe(ds: CtlCommand): void {
  ds.command('probe')
    .description('have a prober ping one destination now')
    .argument('SET')
    .argument('URI')
    .action(dispatcherAction(probe));
}
