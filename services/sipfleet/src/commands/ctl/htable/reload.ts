// `sipfleet ctl htable reload [TABLE] --config FILE` (htable.reload): write the declared initial
// values that are missing.
import { HtableStore } from '@sipfleet/htable';
import {
  type CtlCommand,
  CtlError,
  type CtlSettings,
  EXIT,
  UsageError,
  ctlAction,
  output,
  withRedis,
} from '../common.js';
import { definitions, plural } from './items.js';

/**
 * `htable.reload`, through the store as `Htables.reload` does it: write each declared initial value that is
 * missing (`nx`, never overwriting an operator's value). Kamailio re-reads its database instead;
 * here Redis is the store. Edges need no signal: tracking tells them about every key written.
 */
async function reload(settings: CtlSettings, args: string[]): Promise<number> {
  const [table] = args;
  if (!settings.edgeConfig) {
    throw new UsageError(
      'reload needs --config FILE: initial values are declared in the edge config',
    );
  }
  const declared = definitions(settings);
  const targets = table === undefined ? declared : declared.filter((d) => d.name === table);
  if (table !== undefined && targets.length === 0) {
    throw new CtlError(`htable "${table}" is not declared in the config file`, EXIT.notFound);
  }
  return withRedis(settings, async (conn) => {
    const store = new HtableStore(conn);
    const results: { table: string; written: string[]; present: string[] }[] = [];
    for (const def of targets) results.push({ table: def.name, ...(await store.seed(def)) });
    output(settings, { tables: results }, () =>
      results.length === 0
        ? ['no htables declared in the config file']
        : results.map(
            (r) =>
              `${r.table}: wrote ${plural(r.written.length, 'missing initial value')}` +
              (r.written.length > 0 ? ` (${r.written.join(', ')})` : '') +
              `, ${r.present.length} already present`,
          ),
    );
    return EXIT.ok;
  });
}

export function addReload(htable: CtlCommand): void {
  htable
    .command('reload')
    .description('write missing initial values, needs --config FILE  [htable.reload]')
    .argument('[TABLE]')
    .action(ctlAction(reload));
}
