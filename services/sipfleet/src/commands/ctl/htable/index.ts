// `sipfleet ctl htable …`: Kamailio's htable RPCs (htable.get, .sets, .seti, .setex, .delete,
// .dump, .listTables, .flush, .reload, .stats) run against Redis for the whole fleet, one file per command.
import type { CtlCommand } from '../common.js';
import { addDelete } from './delete.js';
import { addDump } from './dump.js';
import { addFlush } from './flush.js';
import { addGet } from './get.js';
import { addList } from './list.js';
import { addReload } from './reload.js';
import { addSet } from './set.js';
import { addSetex } from './setex.js';
import { addStats } from './stats.js';

export function addHtable(program: CtlCommand): void {
  const htable = program.group(
    'htable',
    'get, sets, seti, setex, delete, dump, list, flush, reload, stats',
    "Kamailio's htable RPCs (in brackets) on any table found in Redis.",
  );
  addGet(htable);
  addSet(htable);
  addSetex(htable);
  addDelete(htable);
  addDump(htable);
  addList(htable);
  addFlush(htable);
  addReload(htable);
  addStats(htable);
}
