import { createResponse, SipParseError } from '@sipfleet/sip';
import type { SipRequest, SipResponse, SipUri } from '@sipfleet/sip';
import { systemClock, TransactionLayer } from '@sipfleet/transaction';
import type {
  Clock,
  ServerTransaction,
  TimerSettings,
  TransactionUser,
} from '@sipfleet/transaction';
import type { FlowRouter, MessageSender, RemoteInfo, SipResolver } from '@sipfleet/transport';
import type { Logger } from 'pino';
import { Forwarder } from './forwarder.js';
import { HookRunner } from './hook-runner.js';
import type { RoutingHooks } from './hooks.js';
import { NO_OBSERVER } from './observer.js';
import type { ProxyObserver } from './observer.js';
import { DEFAULT_MAX_FORWARDS, DEFAULT_TIMERS } from './options.js';
import type { BranchTimers, ProxyOptions } from './options.js';
import { OwnAddresses } from './own-addresses.js';
import { ProxyTransaction } from './proxy-transaction.js';
import { BadHeader, checkRequest } from './request-checks.js';
import type { Refusal } from './request-checks.js';
import { StatelessRelay } from './stateless-relay.js';

export interface ProxyCoreInit {
  sender: MessageSender;
  /**
   * Flow tokens (connection reuse, RFC 5626 / RFC 5923): with them a Record-Route facing a side
   * that connected to us names its connection, and requests of the dialog towards it use it.
   * @default none: in-dialog requests go to the Route set / Contact as written
   */
  flows?: FlowRouter;
  hooks: RoutingHooks;
  options: ProxyOptions;
  log: Logger;
  observer?: ProxyObserver;
  /** Transaction timers T1/T2/T4 (RFC 3261 §17). */
  transactionTimers?: Partial<TimerSettings>;
  clock?: Clock;
  /**
   * Admission before a request gets a transaction: a response returned here is sent statelessly
   * (no transaction, no hook). For shedding a flood without holding memory for it.
   * @default admit everything
   */
  admit?: (req: SipRequest) => SipResponse | undefined;
  /**
   * Messages of a transaction this proxy does not hold, for a fleet whose other nodes may hold it
   * (the edge's hand-off). Without it an unmatched CANCEL is answered 481 and an unmatched ACK is
   * relayed as a 2xx ACK, as a lone proxy does. @default none
   */
  unmatched?: UnmatchedMessages;
  /**
   * Next-hop resolution (RFC 3263) and its cache; the edge builds one from its `dns` settings.
   * @default the transport package's shared resolver (system DNS)
   */
  resolver?: SipResolver;
}

/** What the host does with a message whose transaction may be held by another node. */
export interface UnmatchedMessages {
  /**
   * A request with a new server transaction (it may retransmit one another node holds; ACK and
   * CANCEL never come here): `proceed()` proxies it here; otherwise the host passes it on and
   * discards `tx`. @default proceed at once
   */
  request?(req: SipRequest, tx: ServerTransaction, remote: RemoteInfo, proceed: () => void): void;
  /** A CANCEL that matched no INVITE here. `tx` is the CANCEL's own: answer it (481) or discard it. */
  cancel(cancel: SipRequest, tx: ServerTransaction, remote: RemoteInfo): void;
  /** An ACK that matched no INVITE here; `relay()` relays it statelessly as a 2xx ACK. */
  ack(ack: SipRequest, remote: RemoteInfo, relay: () => void): void;
}

/**
 * The stateful proxy of RFC 3261 §16, as the transaction user of the transaction layer it owns.
 * It only dispatches: checks (`request-checks.ts`), then a `ProxyTransaction` per request that
 * runs the hooks and its branches (`branch.ts`, sent by `forwarder.ts`), whose responses go
 * through `response-context.ts`; 2xx ACKs and stray responses go to `stateless-relay.ts`.
 */
export class ProxyCore implements TransactionUser {
  readonly transactions: TransactionLayer;
  readonly hooks: RoutingHooks;
  readonly log: Logger;
  readonly observer: ProxyObserver;
  readonly clock: Clock;
  readonly timers: BranchTimers;
  private readonly own: OwnAddresses;
  private readonly maxForwards: string;
  private readonly runner: HookRunner;
  private readonly forwarder: Forwarder;
  private readonly stateless: StatelessRelay;
  private readonly byServerTx = new WeakMap<ServerTransaction, ProxyTransaction>();
  private readonly unmatched: UnmatchedMessages | undefined;
  /** Present with `init.unmatched` only: the transaction layer answers 481 itself otherwise. */
  readonly onUnmatchedCancel?: TransactionUser['onUnmatchedCancel'];
  /** Present with `init.unmatched` only: the layer passes unmatched ACKs to onRequest otherwise. */
  readonly onUnmatchedAck?: TransactionUser['onUnmatchedAck'];

  constructor(init: ProxyCoreInit) {
    const { options } = init;
    this.hooks = init.hooks;
    this.log = init.log;
    this.observer = init.observer ?? NO_OBSERVER;
    this.clock = init.clock ?? systemClock;
    this.timers = { ...DEFAULT_TIMERS, ...options.timers };
    this.maxForwards = String(options.maxForwards ?? DEFAULT_MAX_FORWARDS);
    this.own = new OwnAddresses(options);
    const unmatched = init.unmatched;
    this.unmatched = unmatched;
    if (unmatched !== undefined) {
      this.onUnmatchedCancel = (cancel, tx, remote) => unmatched.cancel(cancel, tx, remote);
      this.onUnmatchedAck = (ack, remote) =>
        unmatched.ack(ack, remote, () => this.onRequest(ack, null, remote));
    }
    this.transactions = new TransactionLayer({
      sender: init.sender,
      user: this,
      clock: this.clock,
      trying: 'immediate',
      ...(init.transactionTimers === undefined ? {} : { timers: init.transactionTimers }),
      ...(init.admit === undefined ? {} : { admit: init.admit }),
    });
    this.runner = new HookRunner(this.hooks, this.observer, this.log);
    this.forwarder = new Forwarder(
      this.own,
      this.transactions,
      this.runner,
      this.observer,
      this.clock,
      init.resolver,
      options.dnsFailover ?? true,
      init.flows,
      options.udpMtu ?? 0,
    );
    this.stateless = new StatelessRelay(
      this.own,
      this.forwarder,
      init.sender,
      this.observer,
      this.log,
      this.maxForwards,
    );
  }

  /** Entry point for every parsed message (received/rport already applied to requests). */
  receive(msg: SipRequest | SipResponse, remote: RemoteInfo): void {
    this.transactions.receive(msg, remote);
  }

  isMyself(uri: SipUri): boolean {
    return this.own.myself.matches(uri);
  }

  /** One callback for every proxy transaction, not a closure each (they live as long as it). */
  private readonly isMyselfFn = (uri: SipUri): boolean => this.isMyself(uri);

  /**
   * A final went upstream: a CANCEL has nothing left to end (§16.10), so the proxy transaction is
   * no longer kept for one. The server transaction lingers `timers.waitMs` more; without this, its
   * entry here kept the whole proxy transaction alive as long.
   */
  private readonly onFinalFn = (tx: ServerTransaction): void => {
    this.byServerTx.delete(tx);
  };

  // --- TransactionUser -----------------------------------------------------------------

  onRequest(req: SipRequest, tx: ServerTransaction | null, remote: RemoteInfo): void {
    this.observer.requestReceived(req.method);
    if (tx === null) {
      this.stateless.forwardAck(req);
      return;
    }
    const claim = this.unmatched?.request;
    if (claim !== undefined) claim(req, tx, remote, () => this.proxy(req, tx, remote));
    else this.proxy(req, tx, remote);
  }

  /** A request with its new server transaction, proxied here (§16.3 onwards). */
  private proxy(req: SipRequest, tx: ServerTransaction, remote: RemoteInfo): void {
    // From here on the server transaction exists: whatever happens, it gets a final answer.
    let ptx: ProxyTransaction | undefined;
    try {
      const checked = checkRequest(req, this.own, this.maxForwards);
      if ('status' in checked) {
        this.refuse(tx, req, checked);
        return;
      }
      ptx = new ProxyTransaction({
        serverTx: tx,
        request: req,
        source: remote,
        routes: checked,
        flow: this.forwarder.flowTarget(checked, req),
        hooks: this.runner,
        forwarder: this.forwarder,
        stateless: this.stateless,
        observer: this.observer,
        timers: this.timers,
        isMyself: this.isMyselfFn,
        onFinal: this.onFinalFn,
        log: this.log,
      });
      // Only an INVITE can be canceled (§9.1), and only until its final goes upstream.
      if (req.method === 'INVITE') this.byServerTx.set(tx, ptx);
      ptx.route();
    } catch (err) {
      if (ptx !== undefined) ptx.abort(err);
      else this.refuseAfterError(tx, req, err);
    }
  }

  onCancel(_cancel: SipRequest, inviteTx: ServerTransaction): void {
    this.observer.requestReceived('CANCEL');
    this.byServerTx.get(inviteTx)?.onCancel();
  }

  onStrayResponse(res: SipResponse): void {
    this.stateless.forwardResponse(res);
  }

  /** A request refused before it got a proxy transaction (§16.3). */
  private refuse(tx: ServerTransaction, req: SipRequest, refusal: Refusal): void {
    const { status, reason, headers } = refusal;
    tx.respond(
      createResponse(req, status, reason, headers === undefined ? undefined : { headers }),
    );
    this.observer.responseSent(status, 'local');
  }

  private refuseAfterError(tx: ServerTransaction, req: SipRequest, err: unknown): void {
    let refusal: Refusal = { status: 500, reason: 'Server Internal Error' };
    if (err instanceof BadHeader) refusal = err.refusal;
    else if (err instanceof SipParseError) refusal = { status: 400, reason: 'Bad Request' };
    else this.log.error({ err, callId: req.getHeader('call-id') }, 'request check failed');
    try {
      this.refuse(tx, req, refusal);
    } catch (again) {
      this.log.error({ err: again }, 'cannot answer the request');
    }
  }
}
