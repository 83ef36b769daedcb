// `sipfleet ctl keepalive …`: Kamailio's keepalive module RPCs (keepalive.list, keepalive.add,
// keepalive.del, keepalive.get / ka_is_alive, keepalive.flush) on the fleet's keepalive
// destinations in Redis. Writes go through KeepaliveStore, the class the probers and the edges'
// routing hooks use, so every prober picks a change up from the bus (`ka-add` / `ka-remove`) and
// every edge's isAlive() follows the states the probers record.
import type { CtlCommand } from '../common.js';
import { addAdd } from './add.js';
import { addFlush } from './flush.js';
import { addIsAlive } from './is-alive.js';
import { addList } from './list.js';
import { addRemove } from './remove.js';

export function addKeepalive(program: CtlCommand): void {
  const ka = program.group(
    'keepalive',
    'list, add, remove, is-alive, flush',
    "Kamailio's keepalive RPCs (in brackets) on the fleet's monitored destinations in Redis.",
  );
  addList(ka);
  addAdd(ka);
  addRemove(ka);
  addIsAlive(ka);
  addFlush(ka);
}
