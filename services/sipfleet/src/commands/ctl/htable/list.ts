// `sipfleet ctl htable list` (htable.listTables): the tables found in Redis and the ones --config
// declares, with their settings.
import { HtableStore } from '@sipfleet/htable';
import {
  type CtlCommand,
  type CtlSettings,
  EXIT,
  columns,
  ctlAction,
  output,
  withRedis,
} from '../common.js';
import { definitions } from './items.js';

async function list(settings: CtlSettings): Promise<number> {
  const declared = definitions(settings);
  return withRedis(settings, async (conn) => {
    const found = await new HtableStore(conn).tables();
    const names = [...new Set([...found.keys(), ...declared.map((d) => d.name)])].sort();
    const tables = names.map((name) => {
      const def = declared.find((d) => d.name === name);
      return {
        name,
        keys: found.get(name)?.length ?? 0,
        declared: def !== undefined,
        autoexpire: def?.autoexpire ?? null,
        updateexpire: def?.updateexpire ?? null,
        initval: def?.initval ?? null,
      };
    });
    output(settings, { tables }, () =>
      tables.length === 0
        ? ['no htables in Redis']
        : columns([
            ['TABLE', 'KEYS', 'AUTOEXPIRE', 'UPDATEEXPIRE', 'INITVAL'],
            ...tables.map((t) => [
              t.name,
              String(t.keys),
              t.autoexpire === null ? '-' : String(t.autoexpire),
              t.updateexpire === null ? '-' : String(t.updateexpire),
              t.initval === null ? '-' : String(t.initval),
            ]),
          ]),
    );
    return EXIT.ok;
  });
}

export function addList(htable: CtlCommand): void {
  htable
    .command('list')
    .description('tables found in Redis  [htable.listTables]')
    .action(ctlAction(list));
}
