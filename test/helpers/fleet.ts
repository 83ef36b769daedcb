// A dispatcher fleet as e2e tests, fault tests and benches run it: UASes, one dispatcher list file
// shared through Redis, two real edges; plus the call-load counters and a zero-failure call batch.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SIPFLEET_BIN, startEdge } from './edge.js';
import type { EdgeHandle } from './edge.js';
import { freePort } from './ports.js';
import { spawnTracked } from './processes.js';
import type { CleanupOwner } from './processes.js';
import { uniquePrefix } from './redis-server.js';
import { runSipp, startSipp } from './sipp.js';
import type { SippProcess } from './sipp.js';

export interface Fleet {
  edges: EdgeHandle[];
  /** The sipp UASes (not the demo ones), in list order. */
  uases: SippProcess[];
  /** One destination per UAS entry, in list order. */
  uris: string[];
  /** The edges' Redis key prefix. */
  prefix: string;
}

export interface FleetOptions {
  /** Merged into the edges' `dispatcher` section. */
  dispatcher?: Record<string, unknown>;
  /** Merged into `routing.dispatcher`. */
  routing?: Record<string, unknown>;
  /** Priority per destination (list order): higher is tried first. @default all 0 */
  priorities?: number[];
  /** Set id per destination (list order). @default all 1 */
  sets?: number[];
  /** Attrs column per destination (list order), e.g. `duid=gw1`. @default none */
  attrs?: string[];
  /** The sipp UASes keep a message trace (`stop()` returns it in `messages`). @default false */
  traceMessages?: boolean;
  /** Merged into both edges' config (e.g. `maintenance`, `log`). @default none */
  config?: Record<string, unknown>;
  /** Key prefix in Redis. @default a unique one */
  prefix?: string;
  /** Runs after the UASes are up and before the edges start (e.g. to seed Redis). */
  beforeEdges?: (uris: string[], prefix: string) => Promise<void>;
}

/**
 * One UAS per entry (a sipp scenario name; 'demo' = our demo media server, which answers per Via
 * as RFC 3261 18.2.2 asks: sipp sends every message of a call back to where the call came from,
 * so a BYE relayed by another edge would never see its 200; null = a port nobody answers on), the
 * list file, and two edges on the Redis at `url` routing with dispatcher set 1 and `algorithm`.
 */
export async function startFleet(
  owner: CleanupOwner,
  url: string,
  algorithm: number,
  uasScenarios: (string | null)[],
  extra: FleetOptions = {},
): Promise<Fleet> {
  const dir = mkdtempSync(join(tmpdir(), 'sipfleet-ds-'));
  owner.after(() => rmSync(dir, { recursive: true, force: true }));
  const uases: SippProcess[] = [];
  const uris: string[] = [];
  for (const scenario of uasScenarios) {
    const port = await freePort();
    uris.push(`sip:127.0.0.1:${port}`);
    if (scenario === 'demo') {
      const media = spawnTracked(
        process.execPath,
        [SIPFLEET_BIN, 'demo-uas', '--port', String(port)],
        { owner, name: `demo-uas:${port}` },
      );
      await media.waitForOutput(/listening on/);
    } else if (scenario !== null) {
      uases.push(
        await startSipp({
          scenario,
          localPort: port,
          autoAnswer: true,
          owner,
          ...(extra.traceMessages === true ? { traceMessages: true } : {}),
        }),
      );
    }
  }
  const listFile = join(dir, 'dispatcher.list');
  writeFileSync(
    listFile,
    uris
      .map((u, i) =>
        [extra.sets?.[i] ?? 1, u, 0, extra.priorities?.[i] ?? 0, extra.attrs?.[i] ?? '']
          .join(' ')
          .trimEnd(),
      )
      .join('\n') + '\n',
  );
  const prefix = extra.prefix ?? uniquePrefix();
  await extra.beforeEdges?.(uris, prefix);
  const config = {
    ...extra.config,
    redis: { url, prefix },
    // One name for the whole fleet in Record-Route: in-dialog requests may land on any edge.
    advertise: { host: 'fleet.invalid', port: 5060 },
    dispatcher: { listFile, ...extra.dispatcher },
    routing: { dispatcher: { set: 1, algorithm, frTimerMs: 1000, ...extra.routing } },
  };
  // The first edge loads the list into Redis; the second finds it there.
  const first = await startEdge(owner, config);
  const second = await startEdge(owner, config);
  return { edges: [first, second], uases, uris, prefix };
}

/** The call-load counter of each destination (`sipfleet_dispatcher_destination_load`) on `edge`. */
export async function callLoads(edge: EdgeHandle, uris: string[]): Promise<number[]> {
  return Promise.all(
    uris.map((uri) => edge.metric('sipfleet_dispatcher_destination_load', { uri })),
  );
}

export const sum = (xs: number[]): number => xs.reduce((x, y) => x + y, 0);

/**
 * Runs batches of `calls` calls (50/s, no pause) through every edge at once until one batch
 * completes with zero failures on every edge; returns the ms from `since` to the start of that
 * batch, or undefined if none did before `since + limitMs`.
 */
export async function untilCallsComplete(
  edges: EdgeHandle[],
  owner: CleanupOwner,
  since: number,
  limitMs: number,
  calls = 50,
): Promise<number | undefined> {
  while (Date.now() - since < limitMs) {
    const start = Date.now();
    const batches = await Promise.all(
      edges.map((edge) =>
        runSipp({
          scenario: 'uac-call',
          remote: { host: '127.0.0.1', port: edge.port },
          service: 'probe',
          rate: 50,
          maxCalls: calls,
          callLengthMs: 0,
          maxRetrans: 3,
          recvTimeoutMs: 5000,
          owner,
          timeoutMs: 30_000,
        }),
      ),
    );
    if (batches.every((b) => b.failed === 0)) return start - since;
  }
  return undefined;
}
