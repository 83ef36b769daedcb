import {
  type Destination,
  type DispatcherFleet,
  type DispatcherView,
  uriHostPort,
} from '@sipfleet/dispatcher';
import {
  type BindingOutcome,
  type ContactBinding,
  applyBinding,
  isRegisteredDestination,
  registerBindings,
  registeredAor,
} from '@sipfleet/keepalive';
import type { RequestContext } from '@sipfleet/proxy';
import type { RedisConnection } from '@sipfleet/redis';
import { parseNameAddr } from '@sipfleet/sip';
import { AddressSet } from '@sipfleet/secfilter';

/** A register-mode set that servers not listed in advance may join from these networks. */
export interface OpenRegisterSet {
  readonly set: number;
  readonly networks: readonly string[];
}

/** Which register-mode set a REGISTER belongs to, and the listed destination it came from. */
export interface RegistrationMatch {
  readonly setid: number;
  /** The listed destination whose address the REGISTER came from (ds_is_from_list), if any. */
  readonly source: Destination | undefined;
}

/**
 * Registration-based keepalive (the path-module approach): media servers REGISTER to the fleet,
 * each under its own AOR, and every Contact of the REGISTER becomes a destination of a
 * register-mode set, up while its registration lives (registration.ts in @sipfleet/keepalive: q
 * -> priority, Path -> route set, Expires: 0 -> removed, expiry -> down by the prober's sweep).
 *
 * Who may register: a server listed in the set (matched by source address and port), or, for a
 * set with `allowFrom` networks, any server whose source address is in them. When some set is
 * open, every other REGISTER addressed to this proxy is refused 403 (it could only have been
 * meant for a register-mode set); without open sets, other REGISTERs go on to the route.
 */
export class RegistrationKeepalive {
  private readonly open: { setid: number; networks: AddressSet }[];

  constructor(
    private readonly conn: RedisConnection,
    private readonly view: DispatcherView,
    private readonly fleet: DispatcherFleet,
    private readonly sets: readonly number[],
    open: readonly OpenRegisterSet[] = [],
  ) {
    this.open = open.map((o) => ({ setid: o.set, networks: new AddressSet(o.networks) }));
  }

  /** The register-mode set this REGISTER is for; 'refuse' for an unlisted, disallowed source. */
  match(ctx: RequestContext): RegistrationMatch | 'refuse' | undefined {
    if (ctx.method !== 'REGISTER') return undefined;
    for (const setid of this.sets) {
      const dst = this.view.isFromList(ctx.source.address, ctx.source.port, setid);
      if (dst !== undefined) return { setid, source: dst };
    }
    for (const o of this.open) {
      if (o.networks.has(ctx.source.address)) return { setid: o.setid, source: undefined };
    }
    return this.open.length > 0 && ctx.uriIsMyself() ? 'refuse' : undefined;
  }

  /**
   * Answers the REGISTER (200 with the current bindings, 400 or 500) after storing it. Resolves
   * to what happened, for the metric: each binding's outcome, or `invalid` / `error`.
   */
  async register(ctx: RequestContext, match: RegistrationMatch): Promise<string[]> {
    const req = ctx.request;
    const parsed = registerBindings(req);
    if (parsed.kind === 'error') {
      ctx.reply(400, parsed.reason);
      return ['invalid'];
    }
    const aor = req.to.uri.toString();
    const path = req.getHeaders('path');
    try {
      for (const hop of path) void parseNameAddr(hop);
    } catch {
      ctx.reply(400, 'Bad Path');
      return ['invalid'];
    }
    const destinations = this.view.snapshot.sets.get(match.setid)?.destinations ?? [];
    const ofAor = destinations.filter(
      (d) => isRegisteredDestination(d) && registeredAor(d) === aor,
    );
    let bindings: readonly ContactBinding[];
    if (parsed.kind === 'bindings') bindings = parsed.bindings;
    else if (parsed.kind === 'remove-all') {
      bindings = [...ofAor, ...(match.source ? [match.source] : [])].map((d) => ({
        uri: d.uri,
        expires: 0,
        q: undefined,
      }));
    } else bindings = [];
    const outcomes: BindingOutcome[] = [];
    try {
      for (const binding of bindings) {
        outcomes.push(
          await applyBinding(this.conn, this.fleet, {
            setid: match.setid,
            current: this.current(destinations, binding, match.source),
            binding,
            aor,
            path,
          }),
        );
      }
    } catch (err) {
      ctx.log.warn({ err, aor }, 'registration keepalive: Redis write failed');
      ctx.reply(500, 'Registration Not Recorded');
      return ['error'];
    }
    if (outcomes.some((o) => o !== 'refreshed' && o !== 'none')) {
      ctx.log.info({ aor, set: match.setid, outcomes }, 'media server registration changed');
    }
    // RFC 3261 §10.3 step 8: the 200 lists the bindings with their expiry (a query: the stored ones).
    const current =
      parsed.kind === 'query'
        ? ofAor.map((d) => `<${d.uri}>${d.priority > 0 ? `;q=${formatQ(d.priority)}` : ''}`)
        : bindings
            .filter((b) => b.expires > 0)
            .map(
              (b) =>
                `<${b.uri}>;expires=${b.expires}${b.q !== undefined ? `;q=${formatQ(b.q)}` : ''}`,
            );
    const headers: [string, string][] = current.map((c) => ['Contact', c]);
    const expires = req.getHeader('expires');
    if (expires !== undefined) headers.push(['Expires', expires.trim()]);
    // RFC 3327 §5.3: the Path goes back in the 200 when the UA said it supports it.
    if (path.length > 0 && /(^|,)\s*path\s*(,|$)/i.test(req.getHeaders('supported').join(','))) {
      for (const p of path) headers.push(['Path', p]);
    }
    ctx.reply(200, 'OK', headers);
    return outcomes.filter((o) => o !== 'none');
  }

  /**
   * The set's destination a binding updates: the one with its URI, else (a listed server whose
   * Contact names its own address under another URI form) the listed source itself.
   */
  private current(
    destinations: readonly Destination[],
    binding: ContactBinding,
    source: Destination | undefined,
  ): Destination | undefined {
    const key = binding.uri.toLowerCase();
    const same = destinations.find((d) => d.uri.toLowerCase() === key);
    if (same !== undefined) return same;
    if (source !== undefined && sameHostPort(source.uri, binding.uri)) return source;
    return undefined;
  }
}

/** q in thousandths as RFC 3261 writes it (`0.5`, `1`). */
function formatQ(q: number): string {
  return q >= 1000 ? '1' : `0.${String(q).padStart(3, '0').replace(/0+$/, '') || '0'}`;
}

function sameHostPort(a: string, b: string): boolean {
  const x = uriHostPort(a);
  const y = uriHostPort(b);
  return x !== undefined && y !== undefined && x.host === y.host && x.port === y.port;
}
