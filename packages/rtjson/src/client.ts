// The edge's HTTP client for the routing API, with Kamailio http_async_client semantics: the
// query never blocks the worker (here: the event loop), a timeout ends it, and every way it can
// end is one counted outcome. Connections are pooled (keep-alive) so a call costs no handshake.
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { checkServerIdentity } from 'node:tls';
import { parseRtjson } from './document.js';
import type { RoutingDocument, RtjsonEnvelope, RtjsonError } from './document.js';

export type QueryOutcomeKind =
  | 'ok'
  | 'not_found'
  | 'http_error'
  | 'timeout'
  | 'connection_error'
  | 'invalid_json'
  | 'invalid_rtjson'
  | 'overloaded';

export const QUERY_OUTCOME_KINDS: readonly QueryOutcomeKind[] = [
  'ok',
  'not_found',
  'http_error',
  'timeout',
  'connection_error',
  'invalid_json',
  'invalid_rtjson',
  'overloaded',
];

/**
 * The API's complete answer, whatever its status: what Kamailio's http_async_client gives its
 * reply route as pseudo-variables, so a routing module can act on any answer.
 */
export interface HttpAnswer {
  /** `$http_rs`: the status code. */
  readonly status: number;
  /** `$http_rr`: the reason phrase. */
  readonly reason: string;
  /** `$http_hdr(name)`: by lower-case name; a repeated header's values joined with `, `. */
  readonly headers: Readonly<Record<string, string>>;
  /** `$http_rb`: the body as text (UTF-8). */
  readonly body: string;
  /** `$http_time`: milliseconds from the start of the query to the end of the answer. */
  readonly timeMs: number;
}

/**
 * How one query ended. Only `ok` carries routes; everything else is "API not available" except
 * `not_found`. The outcomes with a complete HTTP answer carry it as `answer`.
 */
export type QueryOutcome =
  | { kind: 'ok'; document: Extract<RoutingDocument, { success: true }>; answer: HttpAnswer }
  | { kind: 'not_found'; answer: HttpAnswer }
  | { kind: 'http_error'; status: number; answer: HttpAnswer }
  | { kind: 'timeout' }
  | { kind: 'connection_error'; error: Error }
  | { kind: 'invalid_json'; detail: string; answer?: HttpAnswer }
  | { kind: 'invalid_rtjson'; error: RtjsonError; answer: HttpAnswer }
  | { kind: 'overloaded' };

/**
 * Client TLS for an `https:` URL (http_async_client's `tls_*` parameters). PEM text or buffers.
 */
export interface RoutingClientTls {
  /** Trusted CAs instead of Node's bundled ones (`tls_ca_path`). @default Node's CA list */
  ca?: string | Buffer;
  /** Client certificate (`tls_client_cert`). @default none */
  cert?: string | Buffer;
  /** Its private key (`tls_client_key`). @default none */
  key?: string | Buffer;
  /** Check the server's certificate chain (`tls_verify_peer`). @default true */
  verifyPeer?: boolean;
  /** Check that the certificate names the URL's host (`tls_verify_host`). @default true */
  verifyHost?: boolean;
}

/** Metrics live in the service (prom-client); the package only reports. */
export interface RoutingClientObserver {
  /** One query ended (`overloaded` ones never left the process). */
  queryDone(kind: QueryOutcomeKind, durationMs: number): void;
}

export interface RoutingClientOptions {
  /** The routing endpoint, `http://` or `https://`. */
  url: string | URL;
  /** A query without a complete answer after this long ends as `timeout`. @default 2000 */
  timeoutMs?: number;
  /**
   * Queries in flight at once; one more is refused at once as `overloaded` (treated as "API not
   * available") instead of queueing behind a slow API. @default 256
   */
  maxInFlight?: number;
  /** Pooled keep-alive connections to the API. @default 64 */
  maxSockets?: number;
  /** Answers larger than this are `invalid_json`. @default 1048576 */
  maxBodyBytes?: number;
  observer?: RoutingClientObserver;
  /**
   * HTTP method (`$http_req(method)`). GET and HEAD carry the query as URL parameters instead of
   * a JSON body. @default 'POST'
   */
  method?: string;
  /** Headers sent with every query, API keys for instance (`$http_req(hdr)`). @default none */
  headers?: Readonly<Record<string, string>>;
  /**
   * HTTP Basic credentials (`$http_req(username)`, `$http_req(password)`); credentials in the URL
   * work too. @default none
   */
  auth?: { username: string; password: string };
  /** Client TLS settings for an `https:` URL. @default Node's defaults (verify peer and host) */
  tls?: RoutingClientTls;
  /** How an answer says "no route" (see `RtjsonEnvelope`). @default 'none' */
  envelope?: RtjsonEnvelope;
}

export const DEFAULT_TIMEOUT_MS = 2000;
export const DEFAULT_MAX_IN_FLIGHT = 256;
export const DEFAULT_MAX_SOCKETS = 64;

export class RoutingClient {
  readonly url: URL;
  readonly timeoutMs: number;
  readonly maxInFlight: number;
  /** Outcomes so far, by kind (for logs and tests; the observer feeds metrics). */
  readonly counts: Record<QueryOutcomeKind, number>;
  private readonly agent: HttpAgent;
  private readonly request: typeof httpRequest;
  private readonly maxBodyBytes: number;
  private readonly observer: RoutingClientObserver | undefined;
  private readonly method: string;
  private readonly headers: OutgoingHttpHeaders;
  private readonly auth: string | undefined;
  private readonly envelope: RtjsonEnvelope;
  private active = 0;

  constructor(options: RoutingClientOptions) {
    this.url = new URL(options.url);
    if (this.url.protocol !== 'http:' && this.url.protocol !== 'https:') {
      throw new TypeError(`routing URL must be http: or https:, got ${this.url.protocol}`);
    }
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
    this.maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
    this.observer = options.observer;
    this.method = (options.method ?? 'POST').toUpperCase();
    this.headers = { accept: 'application/json', ...options.headers };
    this.auth =
      options.auth === undefined ? undefined : `${options.auth.username}:${options.auth.password}`;
    this.envelope = options.envelope ?? 'none';
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? DEFAULT_MAX_SOCKETS };
    const https = this.url.protocol === 'https:';
    const tls = options.tls ?? {};
    this.agent = https
      ? new HttpsAgent({
          ...agentOptions,
          ...(tls.ca === undefined ? {} : { ca: tls.ca }),
          ...(tls.cert === undefined ? {} : { cert: tls.cert }),
          ...(tls.key === undefined ? {} : { key: tls.key }),
          rejectUnauthorized: tls.verifyPeer ?? true,
          checkServerIdentity: (tls.verifyHost ?? true) ? checkServerIdentity : () => undefined,
        })
      : new HttpAgent(agentOptions);
    this.request = https ? httpsRequest : httpRequest;
    this.counts = Object.fromEntries(QUERY_OUTCOME_KINDS.map((k) => [k, 0])) as Record<
      QueryOutcomeKind,
      number
    >;
  }

  /** Queries in flight now. */
  get inFlight(): number {
    return this.active;
  }

  /** Sends `query` (JSON body, or URL parameters for GET) and resolves to how it ended. Never rejects. */
  query(query: object): Promise<QueryOutcome> {
    const started = performance.now();
    if (this.active >= this.maxInFlight) {
      return Promise.resolve(this.done({ kind: 'overloaded' }, started));
    }
    this.active++;
    return this.send(query, started).then((outcome) => {
      this.active--;
      return this.done(outcome, started);
    });
  }

  /** Closes the pooled connections. */
  close(): void {
    this.agent.destroy();
  }

  private done(outcome: QueryOutcome, started: number): QueryOutcome {
    this.counts[outcome.kind]++;
    this.observer?.queryDone(outcome.kind, performance.now() - started);
    return outcome;
  }

  private send(query: object, started: number): Promise<QueryOutcome> {
    const bodyless = this.method === 'GET' || this.method === 'HEAD';
    let url = this.url;
    let body: Buffer | undefined;
    const headers: OutgoingHttpHeaders = { ...this.headers };
    if (bodyless) {
      url = new URL(this.url);
      for (const [name, value] of Object.entries(query)) {
        url.searchParams.set(name, typeof value === 'string' ? value : JSON.stringify(value));
      }
    } else {
      body = Buffer.from(JSON.stringify(query));
      headers['content-type'] ??= 'application/json';
      headers['content-length'] = body.length;
    }
    return new Promise((resolve) => {
      let settled = false;
      const finish = (outcome: QueryOutcome): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(outcome);
      };
      // One deadline for connect + send + the whole answer (http_async_client's timeout).
      const timer = setTimeout(() => {
        finish({ kind: 'timeout' });
        req.destroy();
      }, this.timeoutMs);
      const req = this.request(url, {
        method: this.method,
        agent: this.agent,
        headers,
        ...(this.auth === undefined ? {} : { auth: this.auth }),
      });
      req.on('error', (error) => finish({ kind: 'connection_error', error }));
      req.on('response', (res) => this.readAnswer(res, started, finish));
      req.end(body);
    });
  }

  /** Reads the whole answer (any status: a routing module may act on a 302 or a 403 too). */
  private readAnswer(
    res: IncomingMessage,
    started: number,
    finish: (outcome: QueryOutcome) => void,
  ): void {
    const status = res.statusCode ?? 0;
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > this.maxBodyBytes) {
        finish({ kind: 'invalid_json', detail: `answer larger than ${this.maxBodyBytes} bytes` });
        res.destroy();
        return;
      }
      chunks.push(chunk);
    });
    res.on('error', (error) => finish({ kind: 'connection_error', error }));
    res.on('end', () => {
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(res.headers)) {
        if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
      }
      const answer: HttpAnswer = {
        status,
        reason: res.statusMessage ?? '',
        headers,
        body: Buffer.concat(chunks).toString('utf8'),
        timeMs: performance.now() - started,
      };
      if (status !== 200) {
        finish({ kind: 'http_error', status, answer });
        return;
      }
      let json: unknown;
      try {
        json = JSON.parse(answer.body);
      } catch (err) {
        finish({ kind: 'invalid_json', detail: (err as Error).message, answer });
        return;
      }
      const parsed = parseRtjson(json, { envelope: this.envelope });
      if (!parsed.ok) finish({ kind: 'invalid_rtjson', error: parsed.error, answer });
      else if (!parsed.document.success) finish({ kind: 'not_found', answer });
      else finish({ kind: 'ok', document: parsed.document, answer });
    });
  }
}
