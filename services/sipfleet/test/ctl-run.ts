// The ctl runner the ctl test files share (it lives with the other test helpers).
export { SIPFLEET_BIN } from '@sipfleet/test-helpers/edge';
export { ctl, type Run } from '@sipfleet/test-helpers/ctl';
