import { parseUri } from '@sipfleet/sip';
import type { SipRequest, SipUri } from '@sipfleet/sip';
import type {
  ClientTransaction,
  ClientTransactionHandlers,
  Clock,
  TransactionLayer,
} from '@sipfleet/transaction';
import { sharedResolver } from '@sipfleet/transport';
import type {
  FlowRouter,
  RemoteInfo,
  SendTarget,
  SipResolver,
  SocketSpec,
  TransportProtocol,
} from '@sipfleet/transport';
import type { BranchContext } from './hooks.js';
import type { HookRunner } from './hook-runner.js';
import { loopHash, ownBranch } from './loop-detection.js';
import type { ProxyObserver } from './observer.js';
import type { OwnAddresses } from './own-addresses.js';
import { parsed } from './request-checks.js';
import type { RouteInfo } from './request-checks.js';

/** The tag Path flow tokens are bound to: none, as initial requests towards a Contact have no To tag. */
const PATH_TAG = '';

/**
 * Marks the tag of a callee's flow token (see {@link Forwarder.recordRouteOutbound}): `'>'` and the
 * caller's From tag, "towards the callee of the dialog this caller created". No From or To tag can
 * start with it (`>` is not a token character, RFC 3261 section 25.1), so a callee token never
 * matches a request's To tag, nor a caller token the marked From tag.
 */
const CALLEE_MARK = '>';

/** Next hops kept by Forwarder.resolve; past this many, it starts again from none. */
const LITERAL_HOPS = 1024;

/**
 * RFC 3261 §16.6, request forwarding (Kamailio tm's `t_fwd.c`): builds each branch's copy of the
 * request (Request-URI, Record-Route, next hop), runs the branch hook, resolves the next hop, puts
 * our Via on top and starts the client transaction. One per proxy, handed to every branch; it
 * keeps no per-request state.
 */
export class Forwarder {
  /** resolve() of next hops whose host is an IP address, by URI text (at most LITERAL_HOPS). */
  private readonly literalHops = new Map<string, Promise<SendTarget[]>>();

  constructor(
    private readonly own: OwnAddresses,
    private readonly transactions: TransactionLayer,
    private readonly hooks: HookRunner,
    readonly observer: ProxyObserver,
    /** The clock the branches' `fr_timer`/`fr_inv_timer` run on. */
    readonly clock: Clock,
    /** RFC 3263 next-hop resolution (NAPTR, SRV, A/AAAA) with its cache. */
    private readonly resolver: SipResolver = sharedResolver(),
    /**
     * Kamailio's `use_dns_failover`: a branch whose target fails moves on to the next target of
     * its next hop (see Branch).
     */
    readonly dnsFailover = true,
    /** Flow tokens of the transport (connection reuse towards a side that connected to us). */
    private readonly flows?: FlowRouter,
    /** ProxyOptions.udpMtu: 0 = never move a request off UDP. */
    private readonly udpMtu = 0,
  ) {}

  /**
   * RFC 3261 §18.1.1: "If a request is within 200 bytes of the path MTU ... it MUST be sent using
   * an RFC 2914 congestion controlled transport protocol, such as TCP." The 200 bytes also cover
   * our Via and Record-Route, not added yet. Before double record-routing, which must name the
   * transport the request really leaves on.
   */
  transportFor(req: SipRequest, target: SendTarget): SendTarget {
    if (this.udpMtu === 0 || target.protocol !== 'udp' || !this.own.listensOn('tcp')) {
      return target;
    }
    if (req.toBuffer().length <= this.udpMtu - 200) return target;
    return { protocol: 'tcp', address: target.address, port: target.port };
  }

  /**
   * §16.6 steps 1–2 and 4: a copy of `original` for one target, with our Record-Route on top: the
   * one facing the side the request came from. When that side reached us over a connection, the
   * URI's user part is a flow token for it (RFC 5626 section 5.3, as Kamailio's outbound module),
   * so requests towards it later in the dialog go back over that connection.
   * @param recordRoute our Record-Route's extra URI params (`;k=v`), or undefined for none at all
   */
  copy(
    original: SipRequest,
    uri: string,
    recordRoute: string | undefined,
    source: RemoteInfo,
  ): SipRequest {
    const req = original.clone();
    if (req.uri !== uri) req.setUri(uri);
    if (recordRoute === undefined) return req;
    const tag = source.protocol === 'udp' ? undefined : req.from.tag;
    // An empty tag is the Path tokens' (addPath), a marked one the callees': a From tag must not
    // mint one of those.
    const token =
      tag === undefined || tag === PATH_TAG || tag.startsWith(CALLEE_MARK)
        ? undefined
        : this.flows?.flowToken(source, tag);
    const value = this.own.recordRoute(source.protocol, recordRoute, token);
    if (value !== undefined) req.prependHeader('Record-Route', value);
    return req;
  }

  /**
   * Double record-routing (RFC 5658 section 4, Kamailio rr `enable_double_rr`): when the request
   * leaves on another transport than it came on, a second Record-Route facing the next hop goes
   * on top, so each side's route set leads back over the transport that side uses. A copy that
   * {@link copy} record-routed only.
   *
   * When the request leaves over a flow (`overFlow`: its target came from a flow token, a Path's
   * or a dialog's, so the callee opened that connection to us), this entry's user part is a flow
   * token for that connection bound to the caller's From tag marked with {@link CALLEE_MARK}
   * (RFC 5626 section 5.3): the caller's ACK, BYE and re-INVITEs then reach the callee over it,
   * not at its Contact (a WebSocket client's `.invalid` host). Without double record-routing
   * (both sides on one transport) the single entry carries the caller's token only.
   */
  recordRouteOutbound(
    req: SipRequest,
    source: RemoteInfo,
    target: SendTarget,
    recordRoute: string,
    overFlow: boolean,
  ): void {
    if (target.protocol === source.protocol || !this.own.listensOn(target.protocol)) return;
    const tag = overFlow ? req.from.tag : undefined;
    const token =
      tag === undefined || tag === PATH_TAG || tag.startsWith(CALLEE_MARK)
        ? undefined
        : this.flows?.flowToken(target, CALLEE_MARK + tag);
    const value = this.own.recordRoute(target.protocol, recordRoute, token);
    if (value !== undefined) req.prependHeader('Record-Route', value);
  }

  /**
   * RFC 3327 with RFC 5626 section 5.1 (Kamailio path `add_path()` with the outbound module): a
   * REGISTER that came in over a connection gets our Path on top, facing the registrar, its user
   * part a flow token for that connection and `ob`. Requests the registrar sends to the
   * registered Contact carry it as their Route and come back over the connection: a WebSocket
   * client's Contact (an `.invalid` host) or one behind NAT is not reachable otherwise. Registrar
   * support (`Supported: path`) is the client's and registrar's business, as with `add_path()`.
   */
  addPath(req: SipRequest, source: RemoteInfo, target: SendTarget): void {
    if (req.method !== 'REGISTER' || source.protocol === 'udp') return;
    const token = this.flows?.flowToken(source, PATH_TAG);
    if (token === undefined) return;
    const value = this.own.recordRoute(target.protocol, ';ob', token);
    if (value !== undefined) req.prependHeader('Path', value);
  }

  /**
   * A request whose Route named one of our flows goes over it, if the flow is still open and the
   * request is headed towards the side that opened it: in a dialog, its To tag is the From tag the
   * caller's Record-Route token was minted with ({@link copy}), or its From tag is the caller's
   * that a callee's token was minted with ({@link recordRouteOutbound}); an initial request (no To
   * tag) matches only a Path token ({@link addPath}), never a dialog's. Undefined otherwise: the
   * normal next hop.
   */
  flowTarget(routes: RouteInfo, req: SipRequest): SendTarget | undefined {
    const token = routes.flowToken;
    if (token === undefined || this.flows === undefined) return undefined;
    const toTag = req.to.tag;
    const toCaller = this.flows.flowTarget(token, toTag ?? PATH_TAG);
    const fromTag = req.from.tag;
    // A callee's token is a dialog's: an initial request (no To tag) never matches it.
    if (toCaller !== undefined || toTag === undefined || fromTag === undefined) return toCaller;
    return fromTag === PATH_TAG ? undefined : this.flows.flowTarget(token, CALLEE_MARK + fromTag);
  }

  /**
   * §16.6 steps 6–7: the URI to send to. `$du` wins; otherwise the first Route if it is a loose
   * router; a strict router (no `lr`) gets the Request-URI, and the old one goes to the end of the
   * Route set. Throws `BadHeader` for a Route that does not parse.
   */
  nextHop(req: SipRequest, destination: string | undefined): string {
    if (destination !== undefined) return destination;
    const first = parsed('Route', () => {
      const route = req.routes[0];
      return route === undefined ? undefined : route.uri;
    });
    if (first === undefined) return req.uri;
    if (first.params.has('lr')) return first.toString();
    req.appendHeader('Route', `<${req.uri}>`);
    req.removeFirstValue('route');
    req.setUri(first.toString());
    return req.uri;
  }

  /** Kamailio `branch_route`: runs the branch hook, if any, before the copy is sent. */
  branchHook(
    ctx: BranchContext,
    handlers: { then: () => void; onFault: (err: unknown) => void },
  ): void {
    const hook = this.hooks.hooks.branch;
    if (hook === undefined) {
      handlers.then();
      return;
    }
    // A failing branch hook changes nothing: the copy goes out as it is.
    this.hooks.run('branch', hook, ctx, { ...handlers, onFailed: handlers.then });
  }

  /**
   * The next hop's targets in the order to try them (RFC 3263 is the transport layer's business).
   * A hop whose host is an IP address (a dispatcher destination, a Contact) resolves the same way
   * every time: kept by its text, so it is not parsed again per request. The targets are frozen;
   * the list is shared, and callers only read it.
   */
  resolve(uri: string): Promise<SendTarget[]> {
    const known = this.literalHops.get(uri);
    if (known !== undefined) return known;
    let parsedUri: SipUri;
    let literal: SendTarget[] | undefined;
    try {
      parsedUri = parseUri(uri);
      literal = this.resolver.literalTargets(parsedUri);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    if (literal === undefined) return this.resolver.targets(parsedUri);
    const resolved = Promise.resolve(literal.map((t) => Object.freeze(t)));
    if (this.literalHops.size >= LITERAL_HOPS) this.literalHops.clear();
    this.literalHops.set(uri, resolved);
    return resolved;
  }

  /**
   * §16.6 step 8: our Via on top, with a branch that carries the loop hash; its sent-by is the
   * socket the request leaves from (`from`, force_send_socket) or the protocol's default one.
   */
  addVia(req: SipRequest, protocol: TransportProtocol, branch?: string, from?: SocketSpec): void {
    req.pushVia(this.own.viaPrefix(protocol, from), branch ?? ownBranch(loopHash(req)));
  }

  /** force_send_socket: the listener `spec` names (`udp:10.0.0.1:5070`), else undefined. */
  listener(spec: string): SocketSpec | undefined {
    return this.own.listener(spec);
  }

  /**
   * §16.6 steps 8–10: our Via, then a client transaction to `target`.
   * @param receivedAt `performance.now()` when the request arrived, for the relay latency metric
   * @param from the UDP listener to leave from (force_send_socket); ignored for another protocol
   */
  send(
    req: SipRequest,
    target: SendTarget,
    handlers: ClientTransactionHandlers,
    receivedAt: number,
    from?: SocketSpec,
  ): ClientTransaction {
    const forced = from !== undefined && from.protocol === 'udp' && target.protocol === 'udp';
    this.addVia(req, target.protocol, undefined, forced ? from : undefined);
    this.observer.relayLatency((performance.now() - receivedAt) / 1000);
    const out = forced ? { ...target, local: { address: from.address, port: from.port } } : target;
    return this.transactions.sendRequest(req, out, handlers);
  }
}
