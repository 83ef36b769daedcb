import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { DS_ALG, compileHashTemplate, parseRouteRules } from '@sipfleet/dispatcher';
import { normalizeAddressEntry } from '@sipfleet/secfilter';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { DEFAULT_PARSE_LIMITS } from '@sipfleet/sip';
import { parseSocketSpec } from '@sipfleet/transport';

const port = z.number().int().min(0).max(65535);

/** An IP address or CIDR block (IPv4 or IPv6), as secfilter's lists take them. */
const addressEntry = z.string().refine(
  (entry) => {
    try {
      normalizeAddressEntry(entry);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'not an IP address or CIDR' },
);

/** A TLS listener's certificate (RFC 3261 section 26.2.1) and client-certificate policy. */
const tlsListen = z
  .object({
    /** PEM certificate (chain) file, relative to the config file. Re-read on SIGHUP. */
    certFile: z.string().min(1),
    /** PEM private key file of the certificate. Re-read on SIGHUP. */
    keyFile: z.string().min(1),
    /** PEM CA file client certificates must chain to (mutual TLS). @default Node's bundled CAs */
    caFile: z.string().min(1).optional(),
    /**
     * Client certificates: `none` does not ask for one; `optional` refuses an invalid one but
     * lets a client without one in; `require` refuses a client without a valid one. @default none
     */
    verifyClient: z.enum(['none', 'optional', 'require']).default('none'),
  })
  .strict();

/** `ip`, `ip:port`, `ipv6` or `[ipv6]:port`: a DNS server as Node's resolver takes it. */
function isDnsServer(text: string): boolean {
  if (isIP(text) !== 0) return true;
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:]+):(\d{1,5})$/.exec(text);
  return m !== null && isIP(m[1] ?? '') !== 0 && Number(m[2]) <= 65535;
}

const dnsServer = z
  .string()
  .refine(
    isDnsServer,
    'a DNS server is an IP address, optionally with :port (an IPv6 address with a port in [brackets])',
  );

const DNS_DEFAULTS = {
  servers: [] as string[],
  minTtlSeconds: 5,
  maxTtlSeconds: 300,
  defaultTtlSeconds: 60,
  maxEntries: 1000,
  refreshIntervalSeconds: 10,
  failover: true,
};

/**
 * RFC 3263 resolution of next hops and destinations (NAPTR, SRV, A/AAAA) and its cache, shared by
 * the edge and the prober (packages/transport resolve.ts says how the cache behaves).
 */
export const dnsSchema = z
  .object({
    /** DNS servers; empty = the system's (/etc/resolv.conf, and getaddrinfo for addresses). @default [] */
    servers: z.array(dnsServer).default(DNS_DEFAULTS.servers),
    /** Shortest time an answer is cached, also how long a failure is (s). @default 5 */
    minTtlSeconds: z.number().int().min(1).default(DNS_DEFAULTS.minTtlSeconds),
    /** Longest time an answer is cached, whatever its TTL (s). @default 300 */
    maxTtlSeconds: z.number().int().min(1).default(DNS_DEFAULTS.maxTtlSeconds),
    /** Cache time of answers whose TTL Node does not report: NAPTR, SRV, getaddrinfo (s). @default 60 */
    defaultTtlSeconds: z.number().int().min(1).default(DNS_DEFAULTS.defaultTtlSeconds),
    /** Cached answers at most (one per record type and name). @default 1000 */
    maxEntries: z.number().int().min(1).default(DNS_DEFAULTS.maxEntries),
    /** Background refresh tick: entries in use are re-queried before they expire (s). @default 10 */
    refreshIntervalSeconds: z.number().int().min(1).default(DNS_DEFAULTS.refreshIntervalSeconds),
    /**
     * Kamailio `use_dns_failover`: a branch whose target fails (transport error, no reply within
     * fr_timer, 503) is sent to the next target of its next hop. @default true
     */
    failover: z.boolean().default(DNS_DEFAULTS.failover),
  })
  .strict()
  .refine((d) => d.maxTtlSeconds >= d.minTtlSeconds, {
    message: 'maxTtlSeconds must be at least minTtlSeconds',
  })
  .default(DNS_DEFAULTS);

export type DnsConfig = z.infer<typeof dnsSchema>;

/** Listeners with a certificate: SIP over TLS, and SIP over WebSocket over TLS (RFC 7118). */
const SECURE = new Set(['tls', 'wss']);

/**
 * TLS towards next hops and destinations (`sips:`, `transport=tls`): the CA their certificates
 * must chain to, whether to check them, and the certificate shown to one that asks (mutual TLS).
 * The edge's `tls` and the prober's `sip.tls`.
 */
export const tlsClientSettings = z
  .object({
    /** PEM CA file next hops' certificates must chain to. @default Node's bundled CAs */
    caFile: z.string().min(1).optional(),
    /** PEM certificate shown to a next hop that asks for one. @default none */
    certFile: z.string().min(1).optional(),
    /** Its PEM private key. @default none */
    keyFile: z.string().min(1).optional(),
    /**
     * Check each next hop's certificate: chain and the URI's host name (RFC 5922 section 7.2).
     * Off only for closed lab networks. @default true
     */
    verifyServer: z.boolean().default(true),
  })
  .strict()
  .refine((t) => (t.certFile === undefined) === (t.keyFile === undefined), {
    message: 'set certFile and keyFile together',
  });

const listenSpec = z
  .object({
    /** `ws` / `wss`: SIP over WebSocket (RFC 7118) for browsers, on HTTP / HTTPS. */
    protocol: z.enum(['udp', 'tcp', 'tls', 'ws', 'wss']),
    address: z.string().min(1),
    port,
    /**
     * The listener's name (Kamailio `listen=... name "s1"`), what a dispatcher destination's
     * `sockname` attribute names. @default none
     */
    name: z
      .string()
      .regex(/^[\w.-]+$/, 'letters, digits, _ . - only')
      .optional(),
    /** Needed on `tls` and `wss` listeners, refused on others. */
    tls: tlsListen.optional(),
  })
  .strict()
  .superRefine((spec, ctx) => {
    if (SECURE.has(spec.protocol) && spec.tls === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['tls'],
        message: `a ${spec.protocol} listener needs tls.certFile and tls.keyFile`,
      });
    }
    if (!SECURE.has(spec.protocol) && spec.tls !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['tls'],
        message: `not for a ${spec.protocol} listener`,
      });
    }
    // Browsers show no client certificate: a wss listener cannot ask for one.
    if (spec.protocol === 'wss' && (spec.tls?.verifyClient ?? 'none') !== 'none') {
      ctx.addIssue({
        code: 'custom',
        path: ['tls', 'verifyClient'],
        message: 'wss listeners do not check client certificates (browsers have none): use none',
      });
    }
  });

/**
 * The edge's configuration. Every setting has a default, so `{}` is a valid config: one UDP and
 * one TCP listener on 127.0.0.1:5060 and the admin port on 127.0.0.1:9060.
 */
export const edgeConfigSchema = z
  .object({
    /** Node id, unique in the fleet (metrics label, per-node maintenance). @default `<hostname>-<pid>` */
    nodeId: z.string().min(1).default(`${hostname()}-${process.pid}`),
    /** @default UDP and TCP on 127.0.0.1:5060 */
    listen: z
      .array(listenSpec)
      .min(1)
      .default([
        { protocol: 'udp', address: '127.0.0.1', port: 5060 },
        { protocol: 'tcp', address: '127.0.0.1', port: 5060 },
      ]),
    /** The fleet's shared name for Record-Route. @default the listening address */
    advertise: z
      .object({ host: z.string().min(1), port: port.optional() })
      .strict()
      .optional(),
    /** Other names this edge answers to (host or host:port). @default [] */
    aliases: z.array(z.string().min(1)).default([]),
    admin: z
      .object({
        /** @default 127.0.0.1 */
        address: z.string().min(1).default('127.0.0.1'),
        /** 0 picks a free port (logged). @default 9060 */
        port: port.default(9060),
        /**
         * Bearer token of the mutating admin endpoints (the console's actions); `/metrics`,
         * `/healthz`, `/readyz` and the console's read-only view stay open. Without one the
         * mutating endpoints answer 403. Env SIPFLEET_ADMIN_TOKEN overrides. @default none
         */
        token: z
          .string()
          .min(16, 'an admin token needs at least 16 characters (openssl rand -hex 16)')
          .regex(/^\S+$/, 'an admin token has no white space')
          .optional(),
      })
      .strict()
      .default({ address: '127.0.0.1', port: 9060 }),
    routing: z
      .object({
        /** A module whose default export is the RoutingHooks object (or a function returning it). */
        module: z.string().min(1).optional(),
        /** Default route: static next hop for requests addressed to the proxy. */
        destination: z.string().min(1).optional(),
        /**
         * Default route: also relay initial requests whose Request-URI names another domain (to
         * `destination`, else to the R-URI). Off, they are refused `403 Relaying Denied`: an
         * edge that forwards requests for any domain is an open relay. @default false
         */
        allowRelay: z.boolean().default(false),
        /**
         * Default route through a dispatcher set (Kamailio LOADBALANCE + MANAGE_FAILURE). Needs
         * redis.url. Takes precedence over `destination`.
         */
        dispatcher: z
          .object({
            /** Destination set id. */
            set: z.number().int().min(0),
            /** Kamailio algorithm 0..13 (4 round-robin, 10 call load, ...). */
            algorithm: z.number().int().min(0).max(13),
            /** Kamailio flags=2: on 5xx/408/timeout try the next candidate. @default true */
            failover: z.boolean().default(true),
            /** No-reply timer per branch (fr_timer) before failing over. @default 2000 */
            frTimerMs: z.number().int().positive().default(2000),
            /**
             * Failures of one destination (500, or a branch timeout while this edge's event loop
             * was not lagging) within `markWindowMs` before the route marks it inactive+probing
             * fleet-wide. The last active destination of the set is never marked from the call
             * path. @default 3
             */
            markFailures: z.number().int().min(1).default(3),
            /** The window `markFailures` are counted in (ms). @default 10000 */
            markWindowMs: z.number().int().positive().default(10_000),
            /** Cap on the candidate list, 0 = none. @default 0 */
            limit: z.number().int().min(0).default(0),
            /**
             * Kamailio's `use_default`: the last destination of the set (in set order: lowest
             * priority, first listed among equals) gets a call only when every other destination
             * is down or has failed it, e.g. an announcement server. Not with algorithm 10.
             * @default false
             */
            useDefault: z.boolean().default(false),
            /**
             * 'destination': the selected destination becomes the next hop (`ds_select_dst`,
             * `$du`); 'domain': the Request-URI's host and port are rewritten to it instead
             * (`ds_select_domain` / `ds_next_domain`), so the destination sees itself in the
             * Request-URI. @default 'destination'
             */
            mode: z.enum(['destination', 'domain']).default('destination'),
            /**
             * More `set=algorithm` rules after `set`/`algorithm`, in Kamailio's `ds_select_routes`
             * format (`2=0;3=4`): their candidates follow the first set's, so a call falls through
             * to the next set when the first set's destinations are down or fail. Not with
             * algorithm 10. @default none
             */
            routes: z
              .string()
              .superRefine((rules, ctx) => {
                try {
                  if (parseRouteRules(rules).some((r) => r.alg === DS_ALG.CALL_LOAD))
                    ctx.addIssue({ code: 'custom', message: 'algorithm 10 cannot be in routes' });
                } catch (err) {
                  ctx.addIssue({ code: 'custom', message: (err as Error).message });
                }
              })
              .optional(),
            /** Algorithm 7 hashes this header's value (`hash_pvar` `$hdr(Name)`). @default none */
            hashHeader: z.string().min(1).optional(),
            /**
             * Algorithm 7 hashes this template printed for each request, as Kamailio's
             * `hash_pvar` (e.g. `$fU@$ci`): literal text and `$fU $fd $tU $td $ci $ru $rU $rd
             * $hdr(Name)`. Checked at start-up; not together with hashHeader. @default none
             */
            hashTemplate: z
              .string()
              .superRefine((template, ctx) => {
                try {
                  compileHashTemplate(template, 'template');
                } catch (err) {
                  ctx.addIssue({ code: 'custom', message: (err as Error).message });
                }
              })
              .optional(),
            /**
             * Kamailio's dispatcher `flags` bit 1 (DS_HASH_USER_ONLY): algorithms 1, 2 and 3 hash
             * only the user part of the URI. @default false
             */
            hashUserOnly: z.boolean().default(false),
            /**
             * How often the edge re-reads the prober's latency statistics for algorithms 11
             * (destinations with cc=1) and 13, in ms; also re-read with every list read.
             * @default 1000
             */
            latencyRefreshMs: z.number().int().positive().default(1000),
            /** When no destination is left. @default 404 No destination */
            noDestination: z
              .object({ code: z.number().int().min(300).max(699), reason: z.string().min(1) })
              .strict()
              .default({ code: 404, reason: 'No destination' }),
            /** Algorithm 10, every destination at maxload (or Redis unreachable). @default 503 */
            maxloadRefusal: z
              .object({ code: z.number().int().min(300).max(699), reason: z.string().min(1) })
              .strict()
              .default({ code: 503, reason: 'All destinations busy' }),
          })
          .strict()
          .refine((d) => d.hashHeader === undefined || d.hashTemplate === undefined, {
            message: 'set hashHeader or hashTemplate, not both (hashTemplate: $hdr(Name))',
          })
          .refine(
            (d) => d.algorithm !== DS_ALG.CALL_LOAD || (!d.useDefault && d.routes === undefined),
            {
              message:
                'useDefault and routes do not apply to algorithm 10 (its call-load slot is taken in one set by least load)',
            },
          )
          .optional(),
      })
      .strict()
      .default({ allowRelay: false }),
    dispatcher: z
      .object({
        /**
         * A Kamailio-format dispatcher.list, loaded into Redis at start only when Redis holds no
         * list yet (`sipfleet ctl dispatcher reload --file` reloads it fleet-wide). @default none
         */
        listFile: z.string().min(1).optional(),
        /** Kamailio ds_hash_initexpire: an unconfirmed call-load slot expires (s). @default 7200 */
        initExpireSeconds: z.number().int().positive().default(7200),
        /** Kamailio ds_hash_expire: a confirmed slot expires without BYE (s). @default 7200 */
        expireSeconds: z.number().int().positive().default(7200),
        /**
         * Sets whose destinations are up while they are registered to the fleet (registration-
         * based keepalive, the path-module approach): a REGISTER from one of their destinations
         * is answered 200 here and keeps it active; the prober expires it. @default []
         */
        registerSets: z.array(z.number().int().min(0)).default([]),
        /**
         * Register-mode sets that media servers not listed in advance may join by REGISTER, by
         * source network (`{ set, networks: ['10.1.0.0/16'] }`); each set must be in
         * registerSets. With any, other REGISTERs to this proxy are refused 403. @default []
         */
        registerAllowFrom: z
          .array(
            z
              .object({
                set: z.number().int().min(0),
                networks: z.array(addressEntry).min(1),
              })
              .strict(),
          )
          .default([]),
        /** Kamailio ds_hash_check_interval: how often counters are rebuilt from live slots (ms). @default 30000 */
        reconcileIntervalMs: z.number().int().min(0).default(30_000),
        /**
         * Round-robin (algorithm 4, and 5 without credentials): positions of the fleet-wide
         * counter an edge leases per round trip. 1: one INCR per call, calls through all edges
         * cycle in exact order. N: one INCRBY per N calls, fetched ahead so no call waits for
         * Redis; each edge cycles in order and the fleet's shares stay exact to within 2N
         * positions per edge. @default 100
         */
        roundRobinLease: z.number().int().min(1).max(1_000_000).default(100),
        /**
         * Algorithm 10: who picks the least-loaded destination of an INVITE. `local`: the edge,
         * from the loads its last call-load batch returned (at most 1 s old) plus its own slots
         * since, recording the slot with its next batch, so the INVITE does not wait for Redis;
         * edges picking within one round trip of each other may pick the same destination (the
         * counts stay exact). `reserve`: one atomic Redis step per INVITE (batched per event-loop
         * turn) picks and takes the slot. With `local`, a pick within `callLoadHeadroom` calls of
         * its maxload, a stale view or Redis away falls back to `reserve`. @default local
         */
        callLoadPick: z.enum(['local', 'reserve']).default('local'),
        /**
         * Algorithm 10 with `callLoadPick: local`: the calls a pick must leave under its
         * destination's maxload to be made on the edge; nearer, the atomic reserve decides, so
         * maxload holds exactly while the fleet's unseen picks of one destination within a round
         * trip stay under it. @default 100
         */
        callLoadHeadroom: z.number().int().min(0).default(100),
        /**
         * Kamailio ds_dns_mode, when destination names are resolved into the DNS cache: `init`
         * at every list load (start-up and reload), `timer` also every `dnsIntervalSeconds`.
         * Either way calls then read the cache, which the `dns` settings keep fresh. @default init
         */
        dnsMode: z.enum(['init', 'timer']).default('init'),
        /** Kamailio ds_dns_interval, for dnsMode `timer` (s). @default 600 */
        dnsIntervalSeconds: z.number().int().min(1).default(600),
        /**
         * Kamailio `ds_default_socket`: the UDP listener (`udp:address:port`, one of `listen`)
         * requests routed by the dispatcher route leave from, unless the destination's `socket`
         * attribute names another. @default the first UDP listener
         */
        defaultSocket: z
          .string()
          .refine((text) => parseSocketSpec(text)?.protocol === 'udp', {
            message: "must be a UDP socket 'udp:address:port' (e.g. udp:10.0.0.1:5060)",
          })
          .optional(),
      })
      .strict()
      .refine((d) => d.registerAllowFrom.every((o) => d.registerSets.includes(o.set)), {
        message: 'every registerAllowFrom set must be listed in registerSets',
        path: ['registerAllowFrom'],
      })
      .default({
        initExpireSeconds: 7200,
        expireSeconds: 7200,
        registerSets: [],
        registerAllowFrom: [],
        reconcileIntervalMs: 30_000,
        roundRobinLease: 100,
        callLoadPick: 'local',
        callLoadHeadroom: 100,
        dnsMode: 'init',
        dnsIntervalSeconds: 600,
      }),
    dns: dnsSchema,
    /** Fleet membership: the heartbeat record each edge keeps in Redis (`sipfleet ctl fleet`). */
    fleet: z
      .object({
        /** How often the edge writes its record. @default 1000 */
        heartbeatMs: z.number().int().positive().default(1000),
        /**
         * How long a record lives without a heartbeat; after it, another edge reclaims the
         * edge's unanswered call-load slots (within ttlMs + heartbeatMs). @default 3000
         */
        ttlMs: z.number().int().positive().default(3000),
      })
      .strict()
      .refine((f) => f.ttlMs > f.heartbeatMs, { message: 'fleet.ttlMs must exceed heartbeatMs' })
      .default({ heartbeatMs: 1000, ttlMs: 3000 }),
    /**
     * Any edge takes any message (docs/architecture.md): a CANCEL, INVITE retransmission or
     * non-2xx ACK reaching an edge that does not hold its INVITE is handed to the edge that does.
     * For load balancers that spread datagrams; off where the balancer keeps a caller on one edge.
     */
    handoff: z
      .object({
        /** Needs redis.url and a secret. @default false */
        enabled: z.boolean().default(false),
        /**
         * The internal UDP socket other edges hand messages to, published in the membership
         * record: an address on the fleet's own network, reachable by every edge and by no
         * outside sender. Port 0 picks a free one. @default 127.0.0.1:0
         */
        listen: z
          .object({ address: z.string().min(1).default('127.0.0.1'), port: port.default(0) })
          .strict()
          .default({ address: '127.0.0.1', port: 0 }),
        /** The fleet's shared HMAC secret (every edge the same), or `secretFile`. @default none */
        secret: z
          .string()
          .min(16, 'a hand-off secret needs at least 16 characters (openssl rand -hex 32)')
          .optional(),
        /** A file holding the secret (trimmed), relative to the config file. @default none */
        secretFile: z.string().min(1).optional(),
        /** Hand-offs signed longer ago than this (or ahead, by clock skew) are refused. @default 5000 */
        maxSkewMs: z.number().int().positive().default(5000),
        /**
         * Transactions other edges announced that this edge remembers, per kind (INVITE, the
         * others), each for its transaction's lifetime; beyond it the oldest are forgotten. About
         * 170 bytes each: the default holds 3 minutes of INVITEs at 1,100 calls/s. @default 200000
         */
        maxOwners: z.number().int().positive().default(200_000),
      })
      .strict()
      .refine((h) => h.secret === undefined || h.secretFile === undefined, {
        message: 'set handoff.secret or handoff.secretFile, not both',
      })
      .refine((h) => !h.enabled || h.secret !== undefined || h.secretFile !== undefined, {
        message: 'handoff.enabled needs handoff.secret or handoff.secretFile',
      })
      .default({
        enabled: false,
        listen: { address: '127.0.0.1', port: 0 },
        maxSkewMs: 5000,
        maxOwners: 200_000,
      }),
    timers: z
      .object({
        /** RFC 3261 T1 in ms. @default 500 */
        T1: z.number().int().positive().default(500),
        /** RFC 3261 T2 in ms. @default 4000 */
        T2: z.number().int().positive().default(4000),
        /** RFC 3261 T4 in ms. @default 5000 */
        T4: z.number().int().positive().default(5000),
        /** Kamailio fr_timer: no reply on a branch. @default 30000 */
        frTimerMs: z.number().int().positive().default(30_000),
        /** Kamailio fr_inv_timer: no final after a provisional. @default 120000 */
        frInvTimerMs: z.number().int().positive().default(120_000),
        /**
         * Kamailio wt_timer: how long finished transactions linger for retransmissions (Timers D,
         * J, L, M; the RFC's 32 s would keep ~250k transactions alive at 2,500 calls/s). @default 5000
         */
        waitMs: z.number().int().positive().default(5000),
      })
      .strict()
      .default({
        T1: 500,
        T2: 4000,
        T4: 5000,
        frTimerMs: 30_000,
        frInvTimerMs: 120_000,
        waitMs: 5000,
      }),
    transport: z
      .object({
        /** @default 60000 */
        tcpIdleTimeoutMs: z.number().int().positive().default(60_000),
        /** Close a TCP connection holding an incomplete message this long (slowloris). @default 10000 */
        tcpMessageTimeoutMs: z.number().int().positive().default(10_000),
        /**
         * Inbound TCP connections one address may hold; more are closed at once. Raise it for trunks
         * that open many; 0 = no limit. @default 64
         */
        maxConnectionsPerSource: z.number().int().nonnegative().default(64),
        /** @default 65535 */
        maxMessageBytes: z.number().int().min(1024).default(65_535),
        /**
         * Who reads and writes UDP: `native` (the addon scripts/bootstrap.mjs builds: batched
         * receives, one `sendto` per send; IPv4 listeners, IPv6 ones stay on node:dgram),
         * `dgram` (node:dgram for all), `auto` (native where it was built). docs/architecture.md,
         * "UDP engine". @default 'auto'
         */
        udpEngine: z.enum(['auto', 'native', 'dgram']).default('auto'),
        /**
         * WS/WSS listeners: a WebSocket ping to every connection this often; one that has not
         * answered the previous ping (nor sent anything) is closed (Kamailio websocket
         * `keepalive_mechanism` ping). @default 30000
         */
        wsKeepaliveIntervalMs: z.number().int().min(1000).default(30_000),
        /**
         * RFC 3261 §18.1.1 (Kamailio `udp_mtu`): a request bound for UDP that comes within 200
         * bytes of this path MTU goes over TCP to the same address and port instead (when the
         * edge listens on TCP). 1500 for Ethernet; 0 = off, as Kamailio's default. @default 0
         */
        udpMtu: z
          .number()
          .int()
          .refine((v) => v === 0 || v >= 576, '0 (off) or a path MTU of at least 576')
          .default(0),
        /** Header fields in one message; more is answered 400. @default 128 */
        maxHeaders: z.number().int().positive().default(DEFAULT_PARSE_LIMITS.maxHeaders),
        /** Bytes of one header field (folded lines included); more is answered 400. @default 8192 */
        maxHeaderLineBytes: z
          .number()
          .int()
          .positive()
          .default(DEFAULT_PARSE_LIMITS.maxHeaderLineBytes),
        /** Bytes of the Request-URI; more is answered 414. @default 2048 */
        maxRequestUriBytes: z
          .number()
          .int()
          .positive()
          .default(DEFAULT_PARSE_LIMITS.maxRequestUriBytes),
        /** Via values in one message; more is answered 400. @default 70 */
        maxVias: z.number().int().positive().default(DEFAULT_PARSE_LIMITS.maxVias),
        /** Body bytes (declared by Content-Length or received); more is answered 413. @default 32768 */
        maxBodyBytes: z.number().int().nonnegative().default(DEFAULT_PARSE_LIMITS.maxBodyBytes),
      })
      .strict()
      .default({
        tcpIdleTimeoutMs: 60_000,
        tcpMessageTimeoutMs: 10_000,
        maxConnectionsPerSource: 64,
        maxMessageBytes: 65_535,
        udpEngine: 'auto',
        wsKeepaliveIntervalMs: 30_000,
        udpMtu: 0,
        ...DEFAULT_PARSE_LIMITS,
      }),
    redis: z
      .object({
        /**
         * One URL-style setting: redis://, rediss://, redis-sentinel://h1:p1,h2:p2/master,
         * redis-cluster://h1:p1,h2:p2. Without it the edge runs alone: no htables, no maintenance.
         * Env SIPFLEET_REDIS_URL overrides. @default none
         */
        url: z.string().min(1).optional(),
        /** Key prefix of every key and channel. Env SIPFLEET_PREFIX overrides. @default sipfleet */
        prefix: z.string().min(1).default('sipfleet'),
      })
      .strict()
      .default({ prefix: 'sipfleet' }),
    /** Kamailio htable declarations; `config` (the maintenance flags) is always there. */
    htables: z
      .array(
        z
          .object({
            name: z.string().min(1),
            autoexpire: z.number().int().min(0).optional(),
            updateexpire: z.boolean().optional(),
            initval: z.number().int().optional(),
            initial: z.record(z.string(), z.union([z.string(), z.number().int()])).optional(),
          })
          .strict(),
      )
      .default([]),
    maintenance: z
      .object({
        /** Check the flags on every request the methods below name. @default true */
        enabled: z.boolean().default(true),
        /** @default 503 */
        code: z.number().int().min(300).max(699).default(503),
        /** @default Maintenance */
        reason: z.string().min(1).default('Maintenance'),
        /** Seconds for a Retry-After header; none when unset. @default none */
        retryAfter: z.number().int().min(0).optional(),
        /** Initial requests (no To tag) of these methods are refused. @default [INVITE] */
        methods: z
          .array(z.string().regex(/^[A-Z]+$/))
          .min(1)
          .default(['INVITE']),
      })
      .strict()
      .default({ enabled: true, code: 503, reason: 'Maintenance', methods: ['INVITE'] }),
    /**
     * Flood and scanner protection (Kamailio pike + secfilter, docs/configuration.md): per-source
     * request rates with fleet-wide blocks, and the allow/deny lists in Redis. Off by default, as
     * WITH_ANTIFLOOD is in Kamailio's default config: list trunks and media servers in `trusted`
     * before turning it on.
     */
    secfilter: z
      .object({
        /** Check every message's source before parsing it. @default false */
        enabled: z.boolean().default(false),
        /**
         * Addresses and CIDRs never rate-limited, blocked or checked (trunks, media servers,
         * other proxies); the shared `allow-ip` list adds to it at run time. @default []
         */
        trusted: z.array(addressEntry).default([]),
        /** Kamailio pike `sampling_time_unit`, in ms. @default 2000 */
        samplingTimeUnitMs: z.number().int().positive().default(2000),
        /** Kamailio pike `reqs_density_per_unit`: requests allowed per unit and source. @default 16 */
        reqsDensityPerUnit: z.number().int().positive().default(16),
        /** Kamailio pike `remove_latency`, in ms: an idle source is forgotten. @default 4000 */
        removeLatencyMs: z.number().int().positive().default(4000),
        /**
         * How long a source over the rate (or with a denied User-Agent) stays blocked, fleet-wide
         * (the TTL of its Redis key; the `ipban` autoexpire of Kamailio's default config). @default 300
         */
        banSeconds: z.number().int().positive().default(300),
        /** Most sources remembered at once; beyond it new sources pass unmetered. @default 100000 */
        maxSources: z.number().int().positive().default(100_000),
      })
      .strict()
      .default({
        enabled: false,
        trusted: [],
        samplingTimeUnitMs: 2000,
        reqsDensityPerUnit: 16,
        removeLatencyMs: 4000,
        banSeconds: 300,
        maxSources: 100_000,
      }),
    /**
     * Overload control (docs/architecture.md, "Overload"): new initial requests are shed with
     * 503 + Retry-After while the event loop is saturated or late, and every one of them once the
     * transaction table is at `maxTransactions`. In-dialog requests always go on.
     */
    overload: z
      .object({
        /** Shed load at all (the monitor still runs for the dispatcher's timeout checks). @default true */
        enabled: z.boolean().default(true),
        /** How often the event loop is sampled (ms). @default 100 */
        sampleIntervalMs: z.number().int().min(10).max(1000).default(100),
        /**
         * The signals are averaged over about this long (exponentially weighted) before they shed
         * anything, so one stall does not refuse calls. @default 500
         */
        windowMs: z.number().int().positive().default(500),
        /** Overloaded when the sampling timer fires this much later than due on average (ms). @default 100 */
        eventLoopDelayMs: z.number().int().positive().default(100),
        /** Overloaded when the event loop is busy this share of the time on average (0..1); 1 never. @default 0.95 */
        utilization: z.number().min(0).max(1).default(0.95),
        /**
         * RFC 7339 loss-based shedding: each overloaded sample raises the share of new calls shed
         * by this much, each calm one lowers it by half as much. 1 = all or nothing; 0.1 shed
         * far more than needed in the fault bench (the averaged signal already lags). @default 0.5
         */
        step: z.number().gt(0).max(1).default(0.5),
        /** Overload ends once nothing is shed and no sample was overloaded for this long (ms). @default 2000 */
        recoveryMs: z.number().int().min(0).default(2000),
        /**
         * Hard cap on live transactions (server + client): beyond it every new initial request is
         * shed statelessly, so it bounds memory (813 MB peak RSS at the default under a 5× flood,
         * docs/benchmarks.md); 2,400 calls/s with `timers.waitMs` 5000 keep about 48,000 alive.
         * @default 60000
         */
        maxTransactions: z.number().int().positive().default(60_000),
        /** Retry-After on the 503 (s), RFC 3261 §21.5.4. @default 5 */
        retryAfterSeconds: z.number().int().min(0).default(5),
        /** Initial requests (no To tag) of these methods are shed under load. @default [INVITE] */
        methods: z
          .array(z.string().regex(/^[A-Z]+$/))
          .min(1)
          .default(['INVITE']),
      })
      .strict()
      .default({
        enabled: true,
        sampleIntervalMs: 100,
        windowMs: 500,
        eventLoopDelayMs: 100,
        utilization: 0.95,
        step: 0.5,
        recoveryMs: 2000,
        maxTransactions: 60_000,
        retryAfterSeconds: 5,
        methods: ['INVITE'],
      }),
    /**
     * TLS towards next hops and destinations (`sips:` and `transport=tls` URIs): the CA their
     * certificates must chain to, whether to check them, and the certificate shown to one that
     * asks (mutual TLS). Files are re-read on SIGHUP.
     */
    tls: tlsClientSettings.default({ verifyServer: true }),
    /** Max-Forwards added when a request has none. @default 70 */
    maxForwards: z.number().int().min(1).max(255).default(70),
    log: z
      .object({
        /** @default info */
        level: z
          .enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'])
          .default('info'),
      })
      .strict()
      .default({ level: 'info' }),
    shutdown: z
      .object({
        /** SIGTERM: longest wait for transactions to finish. @default 32000 */
        drainTimeoutMs: z.number().int().min(0).default(32_000),
      })
      .strict()
      .default({ drainTimeoutMs: 32_000 }),
  })
  .strict();

export type EdgeConfig = z.infer<typeof edgeConfigSchema>;

export class ConfigError extends Error {
  readonly code = 'SIPFLEET_ERR_CONFIG';
}

/** SIPFLEET_REDIS_URL, SIPFLEET_PREFIX and SIPFLEET_ADMIN=`host:port`: every process reads them. */
export function applyCommonEnv(
  raw: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
): Record<string, unknown> {
  const out = { ...raw };
  if (env.SIPFLEET_REDIS_URL || env.SIPFLEET_PREFIX) {
    const redis = { ...(out.redis as Record<string, unknown> | undefined) };
    if (env.SIPFLEET_REDIS_URL) redis.url = env.SIPFLEET_REDIS_URL;
    if (env.SIPFLEET_PREFIX) redis.prefix = env.SIPFLEET_PREFIX;
    out.redis = redis;
  }
  if (env.SIPFLEET_ADMIN) {
    const m = /^(.+):(\d+)$/.exec(env.SIPFLEET_ADMIN.trim());
    if (!m?.[1] || !m[2]) {
      throw new ConfigError(`SIPFLEET_ADMIN: '${env.SIPFLEET_ADMIN}' is not host:port`);
    }
    // The address only: a token from the file stays.
    out.admin = {
      ...(out.admin as Record<string, unknown> | undefined),
      address: m[1],
      port: Number(m[2]),
    };
  }
  return out;
}

/** Reads a YAML or JSON config file (YAML is a superset); `{}` without a file. */
export function readConfigFile(file: string | undefined): Record<string, unknown> {
  if (file === undefined) return {};
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`config file ${file} is not valid YAML/JSON: ${(err as Error).message}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${file}: the top level must be a mapping`);
  }
  return parsed as Record<string, unknown>;
}

/** One ConfigError naming every bad setting by its dotted path. */
export function invalidConfig(
  issues: readonly { path: readonly PropertyKey[]; message: string }[],
): ConfigError {
  const lines = issues.map(
    (issue) => `  ${issue.path.map(String).join('.') || '(top level)'}: ${issue.message}`,
  );
  return new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
}

/**
 * Edge environment: the common variables, SIPFLEET_ADMIN_TOKEN and
 * SIPFLEET_LISTEN=`udp:127.0.0.1:5060,tcp:[::1]:5060,ws:127.0.0.1:8080` (tls and wss need a
 * certificate: the config file).
 */
export function applyEnv(
  raw: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
): Record<string, unknown> {
  const out = applyCommonEnv(raw, env);
  if (env.SIPFLEET_ADMIN_TOKEN) {
    out.admin = {
      ...(out.admin as Record<string, unknown> | undefined),
      token: env.SIPFLEET_ADMIN_TOKEN,
    };
  }
  if (env.SIPFLEET_LISTEN) {
    out.listen = env.SIPFLEET_LISTEN.split(',').map((item) => {
      const m = /^(udp|tcp|ws):(\[[^\]]+\]|[^:]+):(\d+)$/.exec(item.trim());
      if (!m?.[1] || !m[2] || !m[3]) {
        throw new ConfigError(
          `SIPFLEET_LISTEN: '${item}' is not protocol:address:port (e.g. udp:127.0.0.1:5060)`,
        );
      }
      return { protocol: m[1], address: m[2].replace(/^\[|\]$/g, ''), port: Number(m[3]) };
    });
  }
  return out;
}

/** The settings of a `tls` block that name files. */
export const TLS_FILES = ['certFile', 'keyFile', 'caFile'] as const;

/** Setting values that name files, made absolute against the directory of the config `file`. */
export function filesNear<T extends Partial<Record<(typeof TLS_FILES)[number], string>>>(
  file: string,
  settings: T,
  keys: readonly (keyof T & string)[],
): void {
  for (const key of keys) {
    const f = settings[key];
    if (typeof f === 'string')
      (settings as Record<string, unknown>)[key] = resolve(dirname(file), f);
  }
}

/** Validates a raw config object; errors name every bad setting by its dotted path. */
export function parseEdgeConfig(raw: unknown): EdgeConfig {
  const result = edgeConfigSchema.safeParse(raw ?? {});
  if (!result.success) throw invalidConfig(result.error.issues);
  const socket = result.data.dispatcher.defaultSocket;
  const spec = socket === undefined ? undefined : parseSocketSpec(socket);
  if (
    spec !== undefined &&
    !result.data.listen.some(
      (l) => l.protocol === spec.protocol && l.address === spec.address && l.port === spec.port,
    )
  ) {
    throw new ConfigError(`dispatcher.defaultSocket: ${socket ?? ''} is not one of listen`);
  }
  const names = result.data.listen.flatMap((l) => (l.name === undefined ? [] : [l.name]));
  const twice = names.find((name, i) => names.indexOf(name) !== i);
  if (twice !== undefined) throw new ConfigError(`listen: the name ${twice} is given twice`);
  return result.data;
}

/** Reads a YAML or JSON file (YAML is a superset), applies the environment and validates. */
export function loadEdgeConfig(file: string | undefined, env: NodeJS.ProcessEnv): EdgeConfig {
  const raw = readConfigFile(file);
  const config = parseEdgeConfig(applyEnv(raw, env));
  if (file !== undefined && config.routing.module !== undefined) {
    config.routing.module = resolve(dirname(file), config.routing.module);
  }
  if (file !== undefined && config.dispatcher.listFile !== undefined) {
    config.dispatcher.listFile = resolve(dirname(file), config.dispatcher.listFile);
  }
  if (config.handoff.enabled && config.redis.url === undefined) {
    throw new ConfigError(
      'handoff.enabled: needs redis.url (edges find each other in the membership records)',
    );
  }
  const secretFile = config.handoff.secretFile;
  if (secretFile !== undefined) {
    const path = file === undefined ? secretFile : resolve(dirname(file), secretFile);
    let secret: string;
    try {
      secret = readFileSync(path, 'utf8').trim();
    } catch (err) {
      throw new ConfigError(`handoff.secretFile: cannot read ${path}: ${(err as Error).message}`);
    }
    if (secret.length < 16) {
      throw new ConfigError(`handoff.secretFile: ${path} holds fewer than 16 characters`);
    }
    config.handoff.secret = secret;
  }
  if (file !== undefined) {
    for (const spec of config.listen) {
      if (spec.tls !== undefined) filesNear(file, spec.tls, TLS_FILES);
    }
    filesNear(file, config.tls, TLS_FILES);
  }
  if (config.routing.dispatcher !== undefined && config.redis.url === undefined) {
    throw new ConfigError(
      'routing.dispatcher: needs redis.url (the fleet shares dispatcher state in Redis)',
    );
  }
  return config;
}
