import { SipParseError } from '@sipfleet/sip';
import type { SipEndpointObserver } from '@sipfleet/transaction';
import type { Logger } from 'pino';
import type { EdgeMetrics } from '../metrics.js';

/**
 * The edge's view of its receive path (`SipEndpoint` in `@sipfleet/transaction`): metrics for parse
 * errors, stateless answers and retransmissions; a `debug` line per dropped message, an `error` line for
 * what can only be a bug.
 */
export function receiveObserver(metrics: EdgeMetrics, log: Logger): SipEndpointObserver {
  return {
    parseError: (action, err, remote) => {
      metrics.parseErrors.inc({ action });
      if (!(err instanceof SipParseError)) log.error({ err }, 'parser threw a non-parse error');
      else if (action === 'dropped') {
        log.debug(
          { code: err.code, remote: `${remote.address}:${remote.port}` },
          'malformed message dropped',
        );
      }
    },
    responseSent: (status, origin) => metrics.responseSent(status, origin),
    retransmission: (kind) => metrics.retransmissions.inc({ kind }),
    processingFailed: (err, remote) =>
      log.error({ err, remote: `${remote.address}:${remote.port}` }, 'message processing failed'),
  };
}
