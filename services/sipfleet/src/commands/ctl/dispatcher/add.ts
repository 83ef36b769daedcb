// `sipfleet ctl dispatcher add SET URI [--flags N] [--priority N] [--attrs A] [--description T]`
// (dispatcher.add).
import {
  DS_ALL_FLAG_BITS,
  DispatcherFleet,
  DispatcherFleetError,
  formatFlags,
  withSipScheme,
} from '@sipfleet/dispatcher';
import {
  type CtlCommand,
  type CtlSettings,
  EXIT,
  UsageError,
  output,
  withRedis,
} from '../common.js';
import { dispatcherAction, findDestination, parseInteger, parseSetId } from './shared.js';
import { readSets } from './sets.js';

interface AddOptions {
  flags?: string;
  priority?: string;
  attrs?: string;
  description?: string;
}

/** dispatcher.add: a new destination, or the same URI replaced in its place. */
async function add(settings: CtlSettings, args: string[], o: AddOptions) {
  const [setText, uri = ''] = args;
  const setid = parseSetId('SET', setText);
  const flags = parseInteger('--flags', o.flags, 0, DS_ALL_FLAG_BITS) ?? 0;
  const priority = parseInteger('--priority', o.priority, -0x7fffffff, 0x7fffffff) ?? 0;
  return withRedis(settings, async (conn) => {
    const fleet = new DispatcherFleet(conn);
    const existed = (await findDestination(fleet, setid, uri)) !== undefined;
    const version = await fleet
      .add(setid, uri, flags, priority, o.attrs ?? '', o.description)
      .catch((err: unknown) => {
        // The fleet validates with the list parser, whose messages name a line of a file.
        if (err instanceof DispatcherFleetError) {
          throw new UsageError(err.message.replace(/^dispatcher\.list: line \d+: /, ''));
        }
        throw err;
      });
    const { sets } = await readSets(conn, setid);
    const wanted = withSipScheme(uri).toLowerCase();
    const dst = sets[0]?.destinations.find((d) => d.uri.toLowerCase() === wanted) ?? null;
    output(settings, { setid, replaced: existed, version, destination: dst }, () => [
      `${existed ? 'replaced' : 'added'} ${dst?.uri ?? uri} ${existed ? 'in' : 'to'} set ${setid} ` +
        `(${dst?.flagsText ?? formatFlags(flags)}, priority ${priority}` +
        `${o.attrs ? `, ${o.attrs}` : ''}; list version ${version})`,
    ]);
    return EXIT.ok;
  });
}

export function addAdd(ds: CtlCommand): void {
  ds.command('add')
    .description('add or replace a destination  [dispatcher.add]')
    .argument('SET')
    .argument('URI')
    .option('--flags <N>', 'flag bits 0-63 (default 0)')
    .option('--priority <N>', 'priority (default 0)')
    .option('--attrs <A>', "attributes, 'k=v;...'")
    .option('--description <TEXT>', 'free text')
    .action(dispatcherAction(add));
}
