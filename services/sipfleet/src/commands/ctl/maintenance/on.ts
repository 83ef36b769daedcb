// `sipfleet ctl maintenance on [--node ID] [--expire S]`: refuse new calls.
import { type CtlCommand, ctlAction } from '../common.js';
import { type FlipOptions, flip } from './flags.js';

export function addOn(maintenance: CtlCommand): void {
  maintenance
    .command('on')
    .description('refuse new calls fleet-wide, or on one edge')
    .option('--node <ID>', 'refuse new calls on one edge (its nodeId) instead of fleet-wide')
    .option('--expire <S>', 'turn the flag off by itself after S seconds')
    .action(ctlAction<FlipOptions>((settings, _, options) => flip(true, settings, options)));
}
