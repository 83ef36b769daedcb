import { createResponse, parseUri } from '@sipfleet/sip';
import type { SipMessage, SipRequest, SipResponse, SipUri, Via } from '@sipfleet/sip';
import { systemClock, TransactionLayer } from '@sipfleet/transaction';
import type {
  Clock,
  ServerTransaction,
  TimerSettings,
  TransactionUser,
} from '@sipfleet/transaction';
import { resolveTarget, stripBrackets } from '@sipfleet/transport';
import type { MessageSender, RemoteInfo, SendTarget, TransportProtocol } from '@sipfleet/transport';
import type { Logger } from 'pino';
import type { Branch } from './branch.js';
import type { ReplyContext, RoutingHooks } from './hooks.js';
import { hashInBranch, loopHash, ownBranch, OWN_BRANCH_PREFIX } from './loop-detection.js';
import { Myself } from './myself.js';
import { NO_OBSERVER } from './observer.js';
import type { ProxyObserver } from './observer.js';
import { DEFAULT_MAX_FORWARDS, DEFAULT_TIMERS } from './options.js';
import type { BranchTimers, ProxyOptions } from './options.js';
import { ProxyTransaction } from './proxy-transaction.js';

export interface ProxyCoreInit {
  sender: MessageSender;
  hooks: RoutingHooks;
  options: ProxyOptions;
  log: Logger;
  observer?: ProxyObserver;
  /** Transaction timers T1/T2/T4 (RFC 3261 §17). */
  transactionTimers?: Partial<TimerSettings>;
  clock?: Clock;
}

/**
 * The stateful proxy of RFC 3261 §16: request validation (§16.3), Route pre-processing (§16.4),
 * forwarding through the routing hooks (§16.5, §16.6), response processing (§16.7) and CANCEL
 * (§16.10). It is the transaction user of the transaction layer it owns.
 */
export class ProxyCore implements TransactionUser {
  readonly transactions: TransactionLayer;
  readonly hooks: RoutingHooks;
  readonly log: Logger;
  readonly observer: ProxyObserver;
  readonly clock: Clock;
  readonly timers: BranchTimers;
  private readonly sender: MessageSender;
  private readonly myself = new Myself();
  private readonly ownSentBy = new Set<string>();
  private readonly viaPrefix: Partial<Record<TransportProtocol, string>> = {};
  private readonly recordRouteValue: Partial<Record<TransportProtocol, string>> = {};
  private readonly maxForwards: string;
  private readonly byServerTx = new WeakMap<ServerTransaction, ProxyTransaction>();

  constructor(init: ProxyCoreInit) {
    const { options } = init;
    this.sender = init.sender;
    this.hooks = init.hooks;
    this.log = init.log;
    this.observer = init.observer ?? NO_OBSERVER;
    this.clock = init.clock ?? systemClock;
    this.timers = { ...DEFAULT_TIMERS, ...options.timers };
    this.maxForwards = String(options.maxForwards ?? DEFAULT_MAX_FORWARDS);
    for (const alias of options.aliases ?? []) this.myself.addAlias(alias);
    for (const protocol of ['udp', 'tcp'] as const) {
      const sentBy = options.sentBy[protocol];
      if (sentBy === undefined) continue;
      const host = hostForUri(sentBy.host);
      this.myself.add(host, sentBy.port);
      this.ownSentBy.add(`${host.toLowerCase()}:${sentBy.port}`);
      this.viaPrefix[protocol] = `SIP/2.0/${protocol.toUpperCase()} ${host}:${sentBy.port};branch=`;
      const rrHost = hostForUri(options.advertised?.host ?? sentBy.host);
      const rrPort = options.advertised?.port ?? sentBy.port;
      this.myself.add(rrHost, rrPort);
      this.recordRouteValue[protocol] =
        `<sip:${rrHost}:${rrPort};lr${protocol === 'tcp' ? ';transport=tcp' : ''}>`;
    }
    this.transactions = new TransactionLayer({
      sender: this.sender,
      user: this,
      clock: this.clock,
      trying: 'immediate',
      ...(init.transactionTimers === undefined ? {} : { timers: init.transactionTimers }),
    });
  }

  /** Entry point for every parsed message (received/rport already applied to requests). */
  receive(msg: SipRequest | SipResponse, remote: RemoteInfo): void {
    this.transactions.receive(msg, remote);
  }

  isMyself(uri: SipUri): boolean {
    return this.myself.matches(uri);
  }

  // --- TransactionUser -----------------------------------------------------------------

  onRequest(req: SipRequest, tx: ServerTransaction | null, remote: RemoteInfo): void {
    this.observer.requestReceived(req.method);
    if (tx === null) {
      this.forwardAckStatelessly(req);
      return;
    }
    const refusal = this.validate(req);
    if (refusal !== undefined) {
      this.replyOn(tx, req, refusal[0], refusal[1], refusal[2]);
      return;
    }
    const { hadRouteSet, ownRoute } = this.preprocessRoutes(req);
    this.decrementMaxForwards(req);
    const ptx = new ProxyTransaction(this, tx, req, remote, hadRouteSet, ownRoute);
    this.byServerTx.set(tx, ptx);
    const hook = this.hooks.request;
    if (hook === undefined) {
      ptx.requestHookDone();
      return;
    }
    this.runHook('request', hook, ptx, () => ptx.requestHookDone());
  }

  onCancel(_cancel: SipRequest, inviteTx: ServerTransaction): void {
    this.observer.requestReceived('CANCEL');
    this.byServerTx.get(inviteTx)?.onCancel();
  }

  onStrayResponse(res: SipResponse): void {
    this.forwardResponseStatelessly(res);
  }

  // --- §16.3 request validation ----------------------------------------------------------

  /** Returns [status, reason, extra headers] when the request must be refused. */
  private validate(req: SipRequest): [number, string, [string, string][]?] | undefined {
    try {
      void req.parsedUri;
    } catch {
      return [400, 'Bad Request-URI'];
    }
    // Step 3: Max-Forwards.
    if (req.maxForwards === 0) return [483, 'Too Many Hops'];
    // Step 4: loop detection, with the hash our own branches carry (§16.6 step 8).
    const hash = loopHash(req);
    for (const via of req.vias) {
      if (this.isOwnVia(via) && hashInBranch(via.branch) === hash) return [482, 'Loop Detected'];
    }
    // Step 5: Proxy-Require: we support no extensions that a proxy must understand.
    const required = req.getHeaders('proxy-require');
    if (required.length > 0) return [420, 'Bad Extension', [['Unsupported', required.join(', ')]]];
    return undefined;
  }

  private isOwnVia(via: Via): boolean {
    return this.ownSentBy.has(`${via.host.toLowerCase()}:${via.port ?? 5060}`);
  }

  // --- §16.4 Route information pre-processing -----------------------------------------------

  /**
   * Returns whether the request came with a Route set (Kamailio's `loose_route()` result) and
   * our own Route entry that was consumed (its params are what recordRoute(params) put there).
   */
  private preprocessRoutes(req: SipRequest): { hadRouteSet: boolean; ownRoute?: SipUri } {
    if (!req.hasHeader('route')) return { hadRouteSet: false };
    const ruri = req.parsedUri;
    // A strict router before us put our Record-Route URI in the Request-URI: restore the real
    // Request-URI from the last Route value.
    if (ruri.user === undefined && this.myself.matches(ruri)) {
      const routes = req.getHeaders('route');
      const last = routes.pop();
      req.removeHeader('route');
      for (const r of routes) req.appendHeader('Route', r);
      if (last !== undefined) {
        const lastUri = stripAngles(last);
        req.setUri(lastUri);
      }
    }
    // Our own Route entries (one, or two after double record-routing) come off the top.
    let ownRoute: SipUri | undefined;
    for (let i = 0; i < 2; i++) {
      const first = req.routes[0];
      if (first === undefined || !this.myself.matches(first.uri)) break;
      ownRoute ??= first.uri;
      req.removeFirstValue('route');
    }
    return ownRoute === undefined ? { hadRouteSet: true } : { hadRouteSet: true, ownRoute };
  }

  private decrementMaxForwards(req: SipRequest): void {
    const mf = req.maxForwards;
    req.setHeader('Max-Forwards', mf === undefined ? this.maxForwards : String(mf - 1));
  }

  // --- forwarding helpers used by branches ----------------------------------------------------

  /** @param params extra `;k=v` URI params for our entry (already validated), '' for none. */
  addRecordRoute(req: SipRequest, source: RemoteInfo, params: string): void {
    const value = this.recordRouteValue[source.protocol] ?? this.recordRouteValue.udp;
    if (value === undefined) return;
    req.prependHeader('Record-Route', params === '' ? value : `${value.slice(0, -1)}${params}>`);
  }

  /**
   * §16.6 steps 6–7: the URI to send to. `$du` wins; otherwise the first Route if it is a loose
   * router; a strict router (no `lr`) gets the Request-URI, and the old one goes to the end of the
   * Route set.
   */
  nextHopUri(req: SipRequest, destination: string | undefined): string {
    if (destination !== undefined) return destination;
    const first = req.routes[0];
    if (first === undefined) return req.uri;
    if (first.uri.params.has('lr')) return first.uri.toString();
    req.appendHeader('Route', `<${req.uri}>`);
    req.removeFirstValue('route');
    req.setUri(first.uri.toString());
    return req.uri;
  }

  resolve(uri: string): Promise<SendTarget> {
    try {
      return resolveTarget(parseUri(uri));
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  /** §16.6 step 8: our Via on top, with a branch that carries the loop hash. */
  addVia(req: SipRequest, protocol: TransportProtocol, branch?: string): void {
    const prefix = this.viaPrefix[protocol] ?? this.viaPrefix.udp;
    if (prefix === undefined) throw new Error(`no listening socket for ${protocol}`);
    req.prependHeader('Via', prefix + (branch ?? ownBranch(loopHash(req))));
  }

  runHook<C>(name: string, hook: (ctx: C) => void | Promise<void>, ctx: C, then: () => void): void {
    const onError = (err: unknown): void => {
      this.observer.hookError(name);
      this.log.error({ err, hook: name }, 'routing hook failed');
      if (ctx instanceof ProxyTransaction) ctx.reply(500, 'Server Internal Error');
      else then();
    };
    let result: void | Promise<void>;
    try {
      result = hook(ctx);
    } catch (err) {
      onError(err);
      return;
    }
    if (result instanceof Promise) result.then(then, onError);
    else then();
  }

  /** Runs the reply hook (Kamailio `onreply_route`) if there is one, then relays unless dropped. */
  deliverReply(ptx: ProxyTransaction, branch: Branch, res: SipResponse, relay: () => void): void {
    const hook = this.hooks.reply;
    if (hook === undefined) {
      relay();
      return;
    }
    let dropped = false;
    const ctx: ReplyContext = {
      response: res,
      status: res.status,
      request: ptx.request,
      destination: branch.destination,
      vars: ptx.vars,
      get log() {
        return ptx.log;
      },
      drop: () => {
        dropped = true;
      },
    };
    this.runHook('reply', hook, ctx, () => {
      if (!dropped || res.status >= 200) relay();
    });
  }

  // --- stateless paths --------------------------------------------------------------------

  /** The ACK for a 2xx is its own transaction, which a proxy forwards statelessly (§16.11 rules). */
  private forwardAckStatelessly(req: SipRequest): void {
    if (req.maxForwards === 0) return;
    const { hadRouteSet } = this.preprocessRoutes(req);
    if (!hadRouteSet && this.myself.matches(req.parsedUri)) return; // an ACK for us: nothing to do
    this.decrementMaxForwards(req);
    let hop: string;
    try {
      hop = this.nextHopUri(req, undefined);
    } catch (err) {
      this.log.debug({ err, callId: req.callId }, 'ACK with an unusable route, dropped');
      return;
    }
    // Retransmitted ACKs must get the same branch (stateless forwarding, §16.11).
    const branch = `${OWN_BRANCH_PREFIX}${loopHash(req)}.a${fnv(req.topVia?.branch ?? '')}`;
    this.resolve(hop).then(
      (target) => {
        this.addVia(req, target.protocol, branch);
        this.send(target, req);
      },
      (err: unknown) => this.log.debug({ err, callId: req.callId }, 'ACK next hop unresolvable'),
    );
  }

  /** §16.7 step 3 / §16.11: a response with no transaction: pop our Via, send to the next one. */
  forwardResponseStatelessly(res: SipResponse): void {
    const top = res.topVia;
    if (top === undefined || !this.isOwnVia(top)) return;
    res.removeFirstValue('via');
    const next = res.topVia;
    if (next === undefined) return;
    this.send(viaTarget(next), res);
  }

  private send(target: SendTarget, msg: SipMessage): void {
    this.sender.send(target, msg.toBuffer(), (err) =>
      this.log.debug({ err, target }, 'stateless send failed'),
    );
  }

  private replyOn(
    tx: ServerTransaction,
    req: SipRequest,
    status: number,
    reason: string,
    headers?: [string, string][],
  ): void {
    tx.respond(
      createResponse(req, status, reason, headers === undefined ? undefined : { headers }),
    );
    this.observer.responseSent(status);
  }
}

/** Where a response goes when only its Via is known (RFC 3261 §18.2.2, RFC 3581). */
function viaTarget(via: Via): SendTarget {
  const protocol: TransportProtocol = via.transport === 'TCP' ? 'tcp' : 'udp';
  const address = stripBrackets(via.received ?? via.host);
  const port = typeof via.rport === 'number' ? via.rport : (via.port ?? 5060);
  return { protocol, address, port };
}

function hostForUri(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

function stripAngles(value: string): string {
  const lt = value.indexOf('<');
  const gt = value.indexOf('>', lt + 1);
  return lt >= 0 && gt > lt ? value.slice(lt + 1, gt) : value.trim();
}

function fnv(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(36);
}
