// `sipfleet prober` configuration: YAML or JSON, validated once with zod; errors name the setting
// by its dotted path. Parameter names follow Kamailio's dispatcher (ds_*) and keepalive modparams.
import { hostname } from 'node:os';
import { z } from 'zod';
import { parseSocketSpec } from '@sipfleet/transport';
import {
  resolveProberSettings,
  SipfleetKeepaliveError,
  type ProberSettings,
} from '@sipfleet/keepalive';
import {
  applyCommonEnv,
  dnsSchema,
  filesNear,
  invalidConfig,
  readConfigFile,
  TLS_FILES,
  tlsClientSettings,
} from '../config.js';

const port = z.number().int().min(0).max(65535);

export const proberConfigSchema = z
  .object({
    /** Node id (metrics label, logs). @default `<hostname>-<pid>` */
    nodeId: z.string().min(1).default(`${hostname()}-${process.pid}`),
    redis: z
      .object({
        /** Required (env SIPFLEET_REDIS_URL): redis://, rediss://, redis-sentinel://, redis-cluster:// */
        url: z.string().min(1),
        /** Env SIPFLEET_PREFIX. @default sipfleet */
        prefix: z.string().min(1).default('sipfleet'),
      })
      .strict(),
    /** The prober's own SIP sockets (UDP, plus TCP for transport=tcp destinations). */
    sip: z
      .object({
        /** @default 0.0.0.0 */
        address: z.string().min(1).default('0.0.0.0'),
        /** 0 = any free port. @default 0 */
        port: port.default(0),
        /** Host for Via when the bound address is not reachable (NAT). */
        advertise: z.string().min(1).optional(),
        /** @default true */
        tcp: z.boolean().default(true),
        /**
         * Pings to `sips:` / `transport=tls` destinations (they leave from the TCP socket, so
         * `tcp` must stay on): the CA, verification, a client certificate; as the edge's `tls`.
         */
        tls: tlsClientSettings.optional(),
        /**
         * More UDP sockets (`udp:address:port`) the prober listens on, so that pings to a
         * destination whose `ping_socket` or `socket` attribute names one leave from it.
         * @default []
         */
        sockets: z
          .array(
            z.string().refine((text) => parseSocketSpec(text)?.protocol === 'udp', {
              message: "must be a UDP socket 'udp:address:port'",
            }),
          )
          .default([]),
      })
      .strict()
      .default({ address: '0.0.0.0', port: 0, tcp: true, sockets: [] }),
    admin: z
      .object({
        /** @default 127.0.0.1 */
        address: z.string().min(1).default('127.0.0.1'),
        /** 0 picks a free port (logged). @default 9070 */
        port: port.default(9070),
      })
      .strict()
      .default({ address: '127.0.0.1', port: 9070 }),
    dispatcher: z
      .object({
        /** ds_ping_interval, ms. @default 10000 */
        pingIntervalMs: z.number().int().min(100).optional(),
        /** ds_probing_mode 0-3. @default 0 */
        probingMode: z.union([z.literal(0), z.literal(1), z.literal(2), z.literal(3)]).optional(),
        /** ds_probing_threshold. @default 1 */
        probingThreshold: z.number().int().min(1).optional(),
        /** ds_inactive_threshold. @default 1 */
        inactiveThreshold: z.number().int().min(1).optional(),
        /** ds_ping_reply_codes, e.g. `class=2;code=480;code=404`. @default '' */
        pingReplyCodes: z.string().optional(),
        /** ds_ping_method. @default OPTIONS */
        pingMethod: z.string().min(1).optional(),
        /** ds_ping_from. @default sip:dispatcher@localhost */
        pingFrom: z.string().min(1).optional(),
        /**
         * Kamailio's dispatcher `outbound_proxy`: pings are sent to this SIP URI (a proxy) instead
         * of the destination; a destination's `obproxy` attribute wins. @default none
         */
        outboundProxy: z.string().min(1).optional(),
        /** Ping timeout (tm fr_timer), ms, at most the interval. @default min(5000, interval) */
        timeoutMs: z.number().int().min(64).optional(),
        /** ds_latency_estimator_alpha, per mille: weight of each new round trip. @default 100 */
        latencyEstimatorAlpha: z.number().int().min(0).max(1000).optional(),
        /** Sets kept alive by REGISTER instead of pings. @default [] */
        registerSets: z.array(z.number().int().min(0)).default([]),
      })
      .strict()
      .default({ registerSets: [] }),
    keepalive: z
      .object({
        /** keepalive ping_interval, ms. @default 30000 */
        pingIntervalMs: z.number().int().min(100).default(30_000),
        /** keepalive ping_from. @default sip:keepalive@kamailio */
        from: z.string().min(1).optional(),
        /** keepalive `destination` modparams: monitored from start (owner 'config'). @default [] */
        destinations: z.array(z.string().min(1)).default([]),
      })
      .strict()
      .default({ pingIntervalMs: 30_000, destinations: [] }),
    /** DNS for destinations given by name (NAPTR, SRV, A/AAAA), as the edge's `dns` section. */
    dns: dnsSchema,
    /** Destinations per BullMQ job. @default 50 */
    shardSize: z.number().int().min(1).max(10_000).default(50),
    /** Jobs run at once by this prober. @default 64 */
    concurrency: z.number().int().min(1).max(10_000).default(64),
    log: z
      .object({
        /** @default info */
        level: z
          .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
          .default('info'),
      })
      .strict()
      .default({ level: 'info' }),
  })
  .strict();

export type ProberConfig = z.infer<typeof proberConfigSchema>;

/** Validates a raw config object (environment already applied). */
export function parseProberConfig(raw: unknown): ProberConfig {
  const result = proberConfigSchema.safeParse(raw ?? {});
  if (result.success) {
    try {
      resolveProberSettings(proberSettings(result.data)); // cross-field rules and reply-code syntax
    } catch (err) {
      if (err instanceof SipfleetKeepaliveError) {
        throw invalidConfig([{ path: ['dispatcher'], message: err.message }]);
      }
      throw err;
    }
    return result.data;
  }
  throw invalidConfig(result.error.issues);
}

/** Reads YAML/JSON, applies SIPFLEET_REDIS_URL / SIPFLEET_PREFIX / SIPFLEET_ADMIN, validates. */
export function loadProberConfig(file: string | undefined, env: NodeJS.ProcessEnv): ProberConfig {
  const out = applyCommonEnv(readConfigFile(file), env);
  const config = parseProberConfig(out);
  if (file !== undefined && config.sip.tls !== undefined) {
    filesNear(file, config.sip.tls, TLS_FILES);
  }
  return config;
}

/** The keepalive package's settings from the `dispatcher` section (Kamailio ds_* names). */
export function proberSettings(config: ProberConfig): ProberSettings {
  const d = config.dispatcher;
  return {
    ...(d.pingIntervalMs !== undefined ? { pingIntervalMs: d.pingIntervalMs } : {}),
    ...(d.probingMode !== undefined ? { probingMode: d.probingMode } : {}),
    ...(d.probingThreshold !== undefined ? { probingThreshold: d.probingThreshold } : {}),
    ...(d.inactiveThreshold !== undefined ? { inactiveThreshold: d.inactiveThreshold } : {}),
    ...(d.pingReplyCodes !== undefined ? { replyCodes: d.pingReplyCodes } : {}),
    ...(d.pingMethod !== undefined ? { method: d.pingMethod } : {}),
    ...(d.pingFrom !== undefined ? { from: d.pingFrom } : {}),
    ...(d.outboundProxy !== undefined ? { outboundProxy: d.outboundProxy } : {}),
    ...(d.timeoutMs !== undefined ? { timeoutMs: d.timeoutMs } : {}),
    ...(d.latencyEstimatorAlpha !== undefined
      ? { latencyEstimatorAlpha: d.latencyEstimatorAlpha }
      : {}),
    shardSize: config.shardSize,
  };
}
