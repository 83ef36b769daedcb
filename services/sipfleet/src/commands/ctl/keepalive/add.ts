// `sipfleet ctl keepalive add URI [--owner O] [--interval MS] [--from URI]` (keepalive.add).
import { KeepaliveStore } from '@sipfleet/keepalive/store';
import {
  type CtlCommand,
  type CtlSettings,
  EXIT,
  UsageError,
  ctlAction,
  output,
  withRedis,
} from '../common.js';
import { parseInteger } from '../dispatcher/shared.js';

interface AddOptions {
  owner?: string;
  interval?: string;
  from?: string;
}

/** keepalive.add: monitored by every prober from its next schedule check. */
async function add(settings: CtlSettings, args: string[], o: AddOptions) {
  const [uri = ''] = args;
  if (!/^(sips?:)?[^\s<>]+$/i.test(uri))
    throw new UsageError(`URI must be a SIP URI (got '${uri}')`);
  if (o.from !== undefined && !/^sips?:[^\s<>]+$/i.test(o.from)) {
    throw new UsageError(`--from takes a sip: URI (got '${o.from}')`);
  }
  const intervalMs = parseInteger('--interval', o.interval, 100);
  const owner = o.owner ?? 'ctl';
  return withRedis(settings, async (conn) => {
    await new KeepaliveStore(conn).add(uri, owner, {
      ...(o.from !== undefined ? { from: o.from } : {}),
      ...(intervalMs !== undefined ? { intervalMs } : {}),
    });
    output(settings, { uri, owner, intervalMs: intervalMs ?? null }, () => [
      `added ${uri} (owner ${owner}, interval ${intervalMs === undefined ? 'default' : `${intervalMs} ms`})`,
    ]);
    return EXIT.ok;
  });
}

export function addAdd(ka: CtlCommand): void {
  ka.command('add')
    .description('monitor a destination  [keepalive.add]')
    .argument('URI')
    .option('--owner <NAME>', "who added it (default 'ctl')")
    .option('--interval <MS>', "its own ping interval, ms >= 100 (default: the prober's)")
    .option('--from <URI>', "From URI of its pings (default: the prober's)")
    .action(ctlAction(add));
}
