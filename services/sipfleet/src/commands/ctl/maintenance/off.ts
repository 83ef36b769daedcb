// `sipfleet ctl maintenance off [--node ID]`: accept calls again (writes 0).
import { type CtlCommand, ctlAction } from '../common.js';
import { type FlipOptions, flip } from './flags.js';

export function addOff(maintenance: CtlCommand): void {
  maintenance
    .command('off')
    .description('accept calls again (writes 0)')
    .option('--node <ID>', 'accept calls on one edge (its nodeId) instead of fleet-wide')
    .action(ctlAction<FlipOptions>((settings, _, options) => flip(false, settings, options)));
}
