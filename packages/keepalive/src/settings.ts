// The prober's parameters, named after Kamailio's dispatcher (ds_*) and keepalive modparams, with
// Kamailio's defaults except where a line says otherwise. Validated once (resolveProberSettings).

import { DS_PROBE, type ProbingMode } from '@sipfleet/dispatcher';
import { SipfleetKeepaliveError } from './errors.js';
import { parseReplyCodes, type ReplyCodes } from './reply-codes.js';

export interface ProberSettings {
  /**
   * ds_ping_interval: how often each destination is pinged, in ms (Kamailio: seconds).
   * Departure: Kamailio's source default is 0 (pinging off); a prober exists to ping, so 10 s,
   * the value Kamailio's README long documented and most configs use.
   * @default 10000
   */
  readonly pingIntervalMs?: number;
  /**
   * ds_probing_mode: 0 only destinations flagged probing (P), 1 all, 2 only inactive+probing,
   * 3 only flagged, and replies never clear the flag. See DS_PROBE in @sipfleet/dispatcher.
   * @default 0
   */
  readonly probingMode?: ProbingMode;
  /** ds_probing_threshold: failed pings before an active destination turns inactive. @default 1 */
  readonly probingThreshold?: number;
  /** ds_inactive_threshold: good replies before an inactive destination is active again. @default 1 */
  readonly inactiveThreshold?: number;
  /**
   * ds_ping_reply_codes: replies besides 2xx that count as alive, `class=2;code=480;code=404`.
   * @default '' (2xx only)
   */
  readonly replyCodes?: string;
  /** ds_ping_method. @default 'OPTIONS' */
  readonly method?: string;
  /** ds_ping_from: From URI of pings; a destination's `ping_from` attribute wins. @default 'sip:dispatcher@localhost' */
  readonly from?: string;
  /**
   * Kamailio's dispatcher `outbound_proxy` (ds_outbound_proxy): every ping is sent to this SIP
   * URI instead of the destination, Request-URI unchanged; a destination's `obproxy` attribute
   * wins. @default none (pings go to the destination)
   */
  readonly outboundProxy?: string;
  /**
   * How long a ping waits for a final reply before it counts as a failure (Kamailio: tm's
   * fr_timer). Must not exceed the interval, so one round ends before the next starts.
   * @default min(5000, pingIntervalMs)
   */
  readonly timeoutMs?: number;
  /**
   * ds_latency_estimator_alpha, per mille: weight of each NEW round trip in the moving average
   * that alg 11 (cc=1) and 13 read (`estimate = alpha * sample + (1 - alpha) * estimate`), as
   * Kamailio documents it: the higher, the closer the estimate follows the samples.
   * @default 100 (Kamailio's default, 0.1)
   */
  readonly latencyEstimatorAlpha?: number;
  /**
   * Destinations per BullMQ job: each set is cut into ceil(n / shardSize) shards, one job
   * scheduler each. Smaller shards spread the work finer across probers; larger ones cost fewer
   * Redis commands per ping.
   * @default 50
   */
  readonly shardSize?: number;
}

export interface ResolvedProberSettings {
  readonly pingIntervalMs: number;
  readonly probingMode: ProbingMode;
  readonly probingThreshold: number;
  readonly inactiveThreshold: number;
  readonly replyCodes: ReplyCodes;
  readonly replyCodesText: string;
  readonly method: string;
  readonly from: string;
  readonly outboundProxy: string | undefined;
  readonly timeoutMs: number;
  readonly latencyEstimatorAlpha: number;
  readonly shardSize: number;
}

export const DEFAULT_PING_FROM = 'sip:dispatcher@localhost';
/** Kamailio keepalive module's ping_from default. */
export const DEFAULT_KEEPALIVE_FROM = 'sip:keepalive@kamailio';

/** @throws SipfleetKeepaliveError SIPFLEET_ERR_KEEPALIVE_SETTINGS / _REPLY_CODES naming the setting. */
export function resolveProberSettings(s: ProberSettings = {}): ResolvedProberSettings {
  const pingIntervalMs = int('pingIntervalMs', s.pingIntervalMs ?? 10_000, 100, 86_400_000);
  const probingMode = s.probingMode ?? DS_PROBE.NONE;
  if (!Object.values(DS_PROBE).includes(probingMode)) {
    throw bad('probingMode', `must be 0, 1, 2 or 3, got ${String(probingMode)}`);
  }
  const timeoutMs = int(
    'timeoutMs',
    s.timeoutMs ?? Math.min(5000, pingIntervalMs),
    64,
    pingIntervalMs,
  );
  const method = s.method ?? 'OPTIONS';
  if (
    !/^[A-Za-z]+$/.test(method) ||
    method.toUpperCase() === 'ACK' ||
    method.toUpperCase() === 'INVITE'
  ) {
    throw bad(
      'method',
      `must be a non-INVITE, non-ACK method token, got ${JSON.stringify(method)}`,
    );
  }
  const from = s.from ?? DEFAULT_PING_FROM;
  if (!/^sips?:[^\s<>]+$/i.test(from))
    throw bad('from', `must be a sip: URI, got ${JSON.stringify(from)}`);
  if (s.outboundProxy !== undefined && !/^sips?:[^\s<>]+$/i.test(s.outboundProxy))
    throw bad('outboundProxy', `must be a sip: URI, got ${JSON.stringify(s.outboundProxy)}`);
  const replyCodesText = s.replyCodes ?? '';
  return Object.freeze({
    pingIntervalMs,
    probingMode,
    probingThreshold: int('probingThreshold', s.probingThreshold ?? 1, 1, 1_000_000),
    inactiveThreshold: int('inactiveThreshold', s.inactiveThreshold ?? 1, 1, 1_000_000),
    replyCodes: parseReplyCodes(replyCodesText),
    replyCodesText,
    method,
    from,
    outboundProxy: s.outboundProxy,
    timeoutMs,
    latencyEstimatorAlpha: int('latencyEstimatorAlpha', s.latencyEstimatorAlpha ?? 100, 0, 1000),
    shardSize: int('shardSize', s.shardSize ?? 50, 1, 10_000),
  });
}

function int(name: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw bad(name, `must be an integer ${min}-${max}, got ${String(value)}`);
  }
  return value;
}

function bad(name: string, why: string): SipfleetKeepaliveError {
  return new SipfleetKeepaliveError(
    'SIPFLEET_ERR_KEEPALIVE_SETTINGS',
    `prober setting ${name} ${why}`,
  );
}
