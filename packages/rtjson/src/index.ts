export { MAX_ROUTES, parseRtjson, readExtraHeaders, RtjsonError } from './document.js';
export type {
  ExtraHeader,
  NameAddrRewrite,
  Route,
  RouteHeaders,
  RoutingDocument,
  RoutingMode,
  RtjsonEnvelope,
  RtjsonErrorCode,
  RtjsonParseOptions,
  RtjsonParseResult,
} from './document.js';
export {
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_MAX_SOCKETS,
  DEFAULT_TIMEOUT_MS,
  QUERY_OUTCOME_KINDS,
  RoutingClient,
} from './client.js';
export type {
  HttpAnswer,
  QueryOutcome,
  QueryOutcomeKind,
  RoutingClientObserver,
  RoutingClientOptions,
  RoutingClientTls,
} from './client.js';
export { buildQuery, credentialsUser } from './query.js';
export type { RoutingQuery } from './query.js';
export { renderNameAddr, restoreFromTo, updateBranch } from './branch-update.js';
export {
  httpAnswer,
  httpRouting,
  relayNextRoute,
  relayRoutes,
  routeOfBranch,
  rtjsonState,
} from './http-routing.js';
export type {
  HttpRoutingOptions,
  RoutedDocument,
  RtjsonState,
  StatusReply,
  UnavailableReason,
} from './http-routing.js';
