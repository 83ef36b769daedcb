// `sipfleet ctl fleet …`: the fleet's members (one command, list).
import type { CtlCommand } from '../common.js';
import { addList } from './list.js';

export function addFleet(program: CtlCommand): void {
  const fleet = program
    .group(
      'fleet',
      'list (the live edges)',
      'The edges alive right now, from the membership records they heartbeat into Redis.',
    )
    // One command: the usage line names it.
    .usage('list [options]');
  addList(fleet);
}
