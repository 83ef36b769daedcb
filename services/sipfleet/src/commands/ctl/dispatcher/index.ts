// `sipfleet ctl dispatcher …`: Kamailio's `kamctl dispatcher` and the dispatcher RPCs
// (dispatcher.list, .reload, .set_state, .set_duid_state, .add, .remove, .hash, .ping_active) and
// the script functions ds_mark_addr, ds_count and ds_is_active run against the
// fleet's list in Redis, plus "probe now".
//
// Every write goes through DispatcherFleet, the class the prober and the edges' failure hooks use,
// so a ctl change is the same Lua step (compare-and-set, version bump, event published in the
// same script) and every edge applies it from the bus within milliseconds. `hash` answers with
// the core `select()` over the set as an edge's snapshot holds it (readFleet, current flags), so
// it names exactly the destination an edge would pick for that key.
import type { CtlCommand } from '../common.js';
import { addAdd } from './add.js';
import { addCount } from './count.js';
import { addIsActive } from './is-active.js';
import { addMarkAddr } from './mark-addr.js';
import { addSetDuidState } from './set-duid-state.js';
import { addHash } from './hash.js';
import { addList } from './list.js';
import { addPingActive } from './ping-active.js';
import { addProbe } from './probe.js';
import { addReload } from './reload.js';
import { addRemove } from './remove.js';
import { addSetState } from './set-state.js';

export function addDispatcher(program: CtlCommand): void {
  const ds = program.group(
    'dispatcher',
    'list, reload, set-state, set-duid-state, mark-addr, count, is-active, add, remove, hash, ping-active, probe',
    "Kamailio's dispatcher RPCs (in brackets) on the fleet's destination list in Redis.",
  );
  addList(ds);
  addReload(ds);
  addSetState(ds);
  addSetDuidState(ds);
  addMarkAddr(ds);
  addCount(ds);
  addIsActive(ds);
  addAdd(ds);
  addRemove(ds);
  addHash(ds);
  addPingActive(ds);
  addProbe(ds);
}
