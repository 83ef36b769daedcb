// `sipfleet ctl dispatcher reload [--file FILE]` (kamctl dispatcher reload, dispatcher.reload).
import { readFileSync } from 'node:fs';
import { DispatcherFleet, SipfleetDispatcherError, parseList } from '@sipfleet/dispatcher';
import {
  type CtlCommand,
  CtlError,
  type CtlSettings,
  EXIT,
  UsageError,
  output,
  withRedis,
} from '../common.js';
import { dispatcherAction, plural } from './shared.js';

/**
 * dispatcher.reload: read and parse the file before connecting (a bad file changes nothing),
 * then DispatcherFleet.load: each set atomically, vanished sets deleted, one version bump and one
 * `reload` event, after which every edge re-reads the whole list.
 */
async function reload(settings: CtlSettings, _: string[], { file }: { file?: string }) {
  // The edge's own setting (resolved against the config file's directory by loadEdgeConfig).
  file ??= settings.edgeConfig?.dispatcher.listFile;
  if (file === undefined) {
    throw new UsageError(
      'reload needs --file FILE, or --config FILE with dispatcher.listFile (a Kamailio dispatcher.list)',
    );
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CtlError(
      `cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`,
      EXIT.config,
    );
  }
  let sets;
  try {
    sets = parseList(text);
  } catch (err) {
    if (err instanceof SipfleetDispatcherError && err.issues.length > 0) {
      const lines = err.issues.map((i) => `line ${i.line}: ${i.message}`).join('; ');
      throw new CtlError(`${file}: ${lines} (nothing loaded)`, EXIT.config);
    }
    throw err;
  }
  // An empty file would delete every set fleet-wide, and every call would get the
  // no-destination answer: almost always a wrong path or a truncated file, so refuse it.
  if (sets.length === 0) {
    throw new CtlError(
      `${file} lists no destinations; loading it would empty every set (nothing loaded; ` +
        "'dispatcher remove' takes destinations out one by one)",
      EXIT.config,
    );
  }
  return withRedis(settings, async (conn) => {
    const result = await new DispatcherFleet(conn).load(sets);
    output(settings, { file, ...result }, () => [
      `loaded ${file}: ${plural(result.sets, 'set')}, ${plural(result.destinations, 'destination')} ` +
        `(list version ${result.version}); states restart from the file's flags`,
    ]);
    return EXIT.ok;
  });
}

export function addReload(ds: CtlCommand): void {
  ds.command('reload')
    .description('load a dispatcher.list fleet-wide  [dispatcher.reload]')
    .option('--file <FILE>', 'the list file (default: dispatcher.listFile of --config)')
    .action(dispatcherAction(reload));
}
