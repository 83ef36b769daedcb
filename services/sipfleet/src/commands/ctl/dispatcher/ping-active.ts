// `sipfleet ctl dispatcher ping-active on|off|status` (dispatcher.ping_active).
import { getPingActive, setPingActive } from '@sipfleet/keepalive/store';
import { Argument } from 'commander';
import { type CtlCommand, type CtlSettings, EXIT, output, withRedis } from '../common.js';
import { dispatcherAction } from './shared.js';

/** dispatcher.ping_active: the fleet-wide probing switch every prober checks before a batch. */
async function pingActive(settings: CtlSettings, [action]: string[]) {
  return withRedis(settings, async (conn) => {
    if (action !== 'status') await setPingActive(conn, action === 'on');
    const active = await getPingActive(conn);
    const stored = await conn.call('GET', conn.keys.dsPingActive());
    const value = typeof stored === 'string' ? stored : null;
    output(settings, { active, value }, () => [
      `ping-active: ${active ? 'on' : 'off'}` +
        (value === null ? ' (not set: on by default)' : '') +
        (active ? '' : ' (probers skip every ping, probe-now included)'),
    ]);
    return EXIT.ok;
  });
}

export function addPingActive(ds: CtlCommand): void {
  ds.command('ping-active')
    .description('probing on/off fleet-wide  [dispatcher.ping_active]')
    .addArgument(new Argument('on|off|status').choices(['on', 'off', 'status']))
    .action(dispatcherAction(pingActive));
}
