import { parseUri } from '@sipfleet/sip';
import type { SipRequest } from '@sipfleet/sip';
import type {
  ClientTransaction,
  ClientTransactionHandlers,
  Clock,
  TransactionLayer,
} from '@sipfleet/transaction';
import { sharedResolver } from '@sipfleet/transport';
import type { RemoteInfo, SendTarget, SipResolver, TransportProtocol } from '@sipfleet/transport';
import type { BranchContext } from './hooks.js';
import type { HookRunner } from './hook-runner.js';
import { loopHash, ownBranch } from './loop-detection.js';
import type { ProxyObserver } from './observer.js';
import type { OwnAddresses } from './own-addresses.js';
import { parsed } from './request-checks.js';

/**
 * RFC 3261 §16.6, request forwarding (Kamailio tm's `t_fwd.c`): builds each branch's copy of the
 * request (Request-URI, Record-Route, next hop), runs the branch hook, resolves the next hop, puts
 * our Via on top and starts the client transaction. One per proxy, handed to every branch; it
 * keeps no per-request state.
 */
export class Forwarder {
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
  ) {}

  /**
   * §16.6 steps 1–2 and 4: a copy of `original` for one target, with our Record-Route on top.
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
    const value = this.own.recordRoute(source.protocol);
    if (value !== undefined) {
      req.prependHeader(
        'Record-Route',
        recordRoute === '' ? value : `${value.slice(0, -1)}${recordRoute}>`,
      );
    }
    return req;
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

  /** The next hop's targets in the order to try them (RFC 3263 is the transport layer's business). */
  resolve(uri: string): Promise<SendTarget[]> {
    try {
      return this.resolver.targets(parseUri(uri));
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  /** §16.6 step 8: our Via on top, with a branch that carries the loop hash. */
  addVia(req: SipRequest, protocol: TransportProtocol, branch?: string): void {
    req.prependHeader('Via', this.own.viaPrefix(protocol) + (branch ?? ownBranch(loopHash(req))));
  }

  /**
   * §16.6 steps 8–10: our Via, then a client transaction to `target`.
   * @param receivedAt `performance.now()` when the request arrived, for the relay latency metric
   */
  send(
    req: SipRequest,
    target: SendTarget,
    handlers: ClientTransactionHandlers,
    receivedAt: number,
  ): ClientTransaction {
    this.addVia(req, target.protocol);
    this.observer.relayLatency((performance.now() - receivedAt) / 1000);
    return this.transactions.sendRequest(req, target, handlers);
  }
}
