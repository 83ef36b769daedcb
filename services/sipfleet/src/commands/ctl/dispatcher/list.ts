// `sipfleet ctl dispatcher list|dump [SET]` (kamctl dispatcher dump, dispatcher.list).
import { type CtlCommand, type CtlSettings, EXIT, columns, output, withRedis } from '../common.js';
import { dispatcherAction, parseSetId, plural } from './shared.js';
import { type LatencyView, type SetView, readSets } from './sets.js';

/** Kamailio's dispatcher.list LATENCY block (EST, AVG, STD, MAX, TIMEOUT) on one line. */
function formatLatency(l: LatencyView | null): string {
  if (l === null) return '-';
  const ms = (n: number) => n.toFixed(1);
  return `${ms(l.estimate)} ms (avg ${ms(l.average)}, std ${ms(l.std)}, max ${ms(l.max)}, ${plural(l.timeouts, 'timeout')})`;
}

function listLines(version: number, sets: SetView[], only: number | undefined): string[] {
  if (sets.length === 0) {
    return [
      only !== undefined
        ? `dispatcher set ${only} does not exist`
        : version === 0
          ? "no dispatcher list in Redis (load one: 'sipfleet ctl dispatcher reload --file FILE')"
          : 'the dispatcher list is empty',
    ];
  }
  const count = sets.reduce((n, s) => n + s.destinations.length, 0);
  return [
    ...columns([
      ['SET', 'URI', 'FLAGS', 'PRIORITY', 'LOAD', 'LATENCY', 'ATTRS', 'DESCRIPTION'],
      ...sets.flatMap((s) =>
        s.destinations.map((d) => [
          String(s.setid),
          d.uri,
          d.flagsText,
          String(d.priority),
          String(d.load),
          formatLatency(d.latency),
          d.attrsText === '' ? '-' : d.attrsText,
          d.description ?? '',
        ]),
      ),
    ]).map((line) => line.trimEnd()),
    `${plural(sets.length, 'set')}, ${plural(count, 'destination')} (list version ${version})`,
  ];
}

async function list(settings: CtlSettings, args: string[]): Promise<number> {
  const [setText] = args;
  const only = setText === undefined ? undefined : parseSetId('SET', setText);
  return withRedis(settings, async (conn) => {
    const { version, sets } = await readSets(conn, only);
    output(settings, { version, sets }, () => listLines(version, sets, only));
    return only !== undefined && sets.length === 0 ? EXIT.notFound : EXIT.ok;
  });
}

export function addList(ds: CtlCommand): void {
  ds.command('list')
    .alias('dump')
    .description(
      'flags, priority, attrs, load, latency (est, avg, std, max, timeouts)  [dispatcher.list]',
    )
    .argument('[SET]')
    .action(dispatcherAction(list));
}
