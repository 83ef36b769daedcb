// The edge's HTTP client for the routing API, with Kamailio http_async_client semantics: the
// query never blocks the worker (here: the event loop), a timeout ends it, and every way it can
// end is one counted outcome. Connections are pooled (keep-alive) so a call costs no handshake.
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { parseRtjson } from './document.js';
import type { RoutingDocument, RtjsonError } from './document.js';

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

/** How one query ended. Only `ok` carries routes; everything else is "API not available" except `not_found`. */
export type QueryOutcome =
  | { kind: 'ok'; document: Extract<RoutingDocument, { success: true }> }
  | { kind: 'not_found' }
  | { kind: 'http_error'; status: number }
  | { kind: 'timeout' }
  | { kind: 'connection_error'; error: Error }
  | { kind: 'invalid_json'; detail: string }
  | { kind: 'invalid_rtjson'; error: RtjsonError }
  | { kind: 'overloaded' };

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
  private readonly send: typeof httpRequest;
  private readonly maxBodyBytes: number;
  private readonly observer: RoutingClientObserver | undefined;
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
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? DEFAULT_MAX_SOCKETS };
    const https = this.url.protocol === 'https:';
    this.agent = https ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions);
    this.send = https ? httpsRequest : httpRequest;
    this.counts = Object.fromEntries(QUERY_OUTCOME_KINDS.map((k) => [k, 0])) as Record<
      QueryOutcomeKind,
      number
    >;
  }

  /** Queries in flight now. */
  get inFlight(): number {
    return this.active;
  }

  /** POSTs `query` as JSON and resolves to how it ended. Never rejects. */
  query(query: object): Promise<QueryOutcome> {
    const started = performance.now();
    if (this.active >= this.maxInFlight) {
      return Promise.resolve(this.done({ kind: 'overloaded' }, started));
    }
    this.active++;
    return this.post(Buffer.from(JSON.stringify(query))).then((outcome) => {
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

  private post(body: Buffer): Promise<QueryOutcome> {
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
      const req = this.send(this.url, {
        method: 'POST',
        agent: this.agent,
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          'content-length': body.length,
        },
      });
      req.on('error', (error) => finish({ kind: 'connection_error', error }));
      req.on('response', (res) => this.readAnswer(res, finish));
      req.end(body);
    });
  }

  private readAnswer(res: IncomingMessage, finish: (outcome: QueryOutcome) => void): void {
    const status = res.statusCode ?? 0;
    if (status !== 200) {
      res.resume(); // drain, so the socket goes back to the pool
      res.on('error', () => undefined);
      finish({ kind: 'http_error', status });
      return;
    }
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
      let json: unknown;
      try {
        json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch (err) {
        finish({ kind: 'invalid_json', detail: (err as Error).message });
        return;
      }
      const parsed = parseRtjson(json);
      if (!parsed.ok) finish({ kind: 'invalid_rtjson', error: parsed.error });
      else if (!parsed.document.success) finish({ kind: 'not_found' });
      else finish({ kind: 'ok', document: parsed.document });
    });
  }
}
