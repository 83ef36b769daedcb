// `sipfleet ctl htable stats` (htable.stats): item counts per table, from Redis.
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
import { readTable } from './items.js';

interface TableStats {
  name: string;
  items: number;
  int: number;
  str: number;
  /** Items with a TTL. */
  expiring: number;
  malformed: number;
}

async function stats(settings: CtlSettings): Promise<number> {
  return withRedis(settings, async (conn) => {
    const store = new HtableStore(conn);
    const found = await store.tables();
    const tables: TableStats[] = [];
    for (const name of [...found.keys()].sort()) {
      const read = await readTable(store, name, found.get(name) ?? []);
      tables.push({
        name,
        items: read.items.length,
        int: read.items.filter((i) => i.type === 'int').length,
        str: read.items.filter((i) => i.type === 'str').length,
        expiring: read.items.filter((i) => i.expiresInMs !== null).length,
        malformed: read.malformed.length,
      });
    }
    output(settings, { tables }, () =>
      tables.length === 0
        ? ['no htables in Redis']
        : columns([
            ['TABLE', 'ITEMS', 'INT', 'STR', 'EXPIRING', 'MALFORMED'],
            ...tables.map((t) =>
              [t.name, t.items, t.int, t.str, t.expiring, t.malformed].map(String),
            ),
          ]),
    );
    return EXIT.ok;
  });
}

export function addStats(htable: CtlCommand): void {
  htable
    .command('stats')
    .description('item counts per table  [htable.stats]')
    .action(ctlAction(stats));
}
