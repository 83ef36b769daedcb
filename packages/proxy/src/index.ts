export { ProxyCore } from './proxy-core.js';
export type { ProxyCoreInit, UnmatchedMessages } from './proxy-core.js';
export { defaultRoute, withinDialog } from './default-route.js';
export type { DefaultRouteOptions } from './default-route.js';
export type {
  BranchContext,
  FailureContext,
  ReplyContext,
  RequestContext,
  RoutingContext,
  RoutingHooks,
  RoutingMetrics,
} from './hooks.js';
export type { ProxyObserver, ResponseOrigin } from './observer.js';
export { DEFAULT_MAX_FORWARDS, DEFAULT_TIMERS } from './options.js';
export type { AdvertisedAddress, BranchTimers, ProxyOptions } from './options.js';
export { Myself } from './myself.js';
