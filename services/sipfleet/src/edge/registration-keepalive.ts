import type { DispatcherFleet, DispatcherView } from '@sipfleet/dispatcher';
import { registrationSeen } from '@sipfleet/keepalive';
import type { RequestContext } from '@sipfleet/proxy';
import type { RedisConnection } from '@sipfleet/redis';

/** RFC 3261 §10.2.1.1: without an Expires header or contact param, a registrar picks; so do we. */
const DEFAULT_EXPIRES = 3600;

/**
 * Registration-based keepalive (the path-module approach): a destination of a register-mode set
 * is up while its registration to the fleet lives. A REGISTER whose source is such a destination
 * is answered here (200 with its Contact and expiry) and recorded in Redis; the prober marks the
 * destination down when the registration expires, and `Expires: 0` takes it down at once.
 */
export class RegistrationKeepalive {
  constructor(
    private readonly conn: RedisConnection,
    private readonly view: DispatcherView,
    private readonly fleet: DispatcherFleet,
    private readonly sets: readonly number[],
  ) {}

  /** The register-mode set and destination this REGISTER comes from, if any. */
  match(ctx: RequestContext): { setid: number; uri: string; flags: number } | undefined {
    if (ctx.method !== 'REGISTER') return undefined;
    for (const setid of this.sets) {
      const dst = this.view.isFromList(ctx.source.address, ctx.source.port, setid);
      if (dst !== undefined) return { setid, uri: dst.uri, flags: dst.flags };
    }
    return undefined;
  }

  async register(
    ctx: RequestContext,
    dst: { setid: number; uri: string; flags: number },
  ): Promise<void> {
    const req = ctx.request;
    const contact = req.contacts[0];
    const fromParam = contact?.params.get('expires');
    const header = req.getHeader('expires');
    const raw = fromParam ?? header;
    const expires = raw === undefined || raw === null ? DEFAULT_EXPIRES : Number(raw.trim());
    if (!Number.isInteger(expires) || expires < 0) {
      ctx.reply(400, 'Bad Expires');
      return;
    }
    try {
      await registrationSeen(this.conn, this.fleet, dst.setid, dst.uri, expires, {
        currentFlags: dst.flags,
      });
    } catch (err) {
      ctx.log.warn({ err, destination: dst.uri }, 'registration keepalive: Redis write failed');
      ctx.reply(500, 'Registration Not Recorded');
      return;
    }
    ctx.log.info({ destination: dst.uri, set: dst.setid, expires }, 'destination registered');
    const headers: [string, string][] = [['Expires', String(expires)]];
    if (contact !== undefined && expires > 0) {
      headers.push(['Contact', `<${contact.uri.toString()}>;expires=${expires}`]);
    }
    ctx.reply(200, 'OK', headers);
  }
}
