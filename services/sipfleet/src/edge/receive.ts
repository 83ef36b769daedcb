import type { ProxyCore } from '@sipfleet/proxy';
import { createResponse, parseMessage, SipParseError, SipRequest } from '@sipfleet/sip';
import { applyReceived, responseTarget } from '@sipfleet/transport';
import type { MessageSender, RemoteInfo } from '@sipfleet/transport';
import type { Logger } from 'pino';
import type { EdgeMetrics } from '../metrics.js';

/**
 * The edge's receive path: parse, `received`/`rport`, stateless answers to malformed requests,
 * then the proxy core. Nothing a peer sends may throw past this point.
 */
export class Receiver {
  constructor(
    private readonly sender: MessageSender,
    private readonly core: ProxyCore,
    private readonly metrics: EdgeMetrics,
    private readonly log: Logger,
  ) {}

  onMessage(data: Buffer, remote: RemoteInfo): void {
    let msg;
    try {
      msg = parseMessage(data);
    } catch (err) {
      this.onParseError(err, remote);
      return;
    }
    try {
      if (msg instanceof SipRequest) applyReceived(msg, remote);
      this.core.receive(msg, remote);
    } catch (err) {
      // A header that only fails when a later step parses it lazily ends up here.
      if (err instanceof SipParseError) this.onParseError(err, remote);
      else
        this.log.error(
          { err, remote: `${remote.address}:${remote.port}` },
          'message processing failed',
        );
    }
  }

  private onParseError(err: unknown, remote: RemoteInfo): void {
    if (!(err instanceof SipParseError)) {
      this.metrics.parseErrors.inc({ action: 'dropped' });
      this.log.error({ err }, 'parser threw a non-parse error');
      return;
    }
    const req = err.request;
    if (req !== undefined && req.method !== 'ACK') {
      try {
        const via = req.topVia;
        if (via !== undefined) {
          const res = createResponse(
            req,
            err.status,
            err.message.slice(0, 100).replace(/[\r\n]/g, ' '),
          );
          this.sender.send(responseTarget(via, remote), res.toBuffer());
          this.metrics.parseErrors.inc({ action: 'answered' });
          this.metrics.responseSent(err.status);
          return;
        }
      } catch {
        // fall through: could not form a response after all
      }
    }
    this.metrics.parseErrors.inc({ action: 'dropped' });
    this.log.debug(
      { code: err.code, remote: `${remote.address}:${remote.port}` },
      'malformed message dropped',
    );
  }
}
