// Heap bytes per call in progress, counted rather than timed (so a busy host does not move it): one
// edge (dispatcher algorithm 4, Redis) takes a heap snapshot (`--heapsnapshot-signal`, which runs a
// full GC first) idle, then again while sipp keeps calls flowing at RATE/s; the difference over the
// live proxy transactions (an INVITE's or a BYE's: one server plus one client transaction each,
// which linger `timers.waitMs` after their final) is the heap each one holds (compiled code left out). Prints the total and
// the object types that grew most. Run: `node --import tsx test/bench/call-memory.bench.ts`.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startEdge } from '@sipfleet/test-helpers/edge';
import { uniquePrefix, waitFor } from '@sipfleet/test-helpers/redis-server';
import { startSipp } from '@sipfleet/test-helpers/sipp';
import { dispatcherWorld } from './dispatcher-world.js';
import { Owner } from './ramp.js';

const RATE = Number(process.env.BENCH_MEMORY_RATE ?? 200);

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
  nodes: number[];
  strings: string[];
}

/** Self size by object type (constructor name, or `(string)` and the like for V8's own kinds). */
function heapByType(file: string): Map<string, number> {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const [iType, iName, iSize] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f));
  const by = new Map<string, number>();
  for (let i = 0; i < snap.nodes.length; i += fields.length) {
    const type = types[snap.nodes[i + (iType ?? 0)] ?? 0] ?? '';
    const name =
      type === 'object' ? (snap.strings[snap.nodes[i + (iName ?? 0)] ?? 0] ?? '') : `(${type})`;
    by.set(name, (by.get(name) ?? 0) + (snap.nodes[i + (iSize ?? 0)] ?? 0));
  }
  return by;
}

/** Asks the edge for a heap snapshot and returns it by type once it is completely written. */
async function snapshot(pid: number, dir: string, count: number): Promise<Map<string, number>> {
  process.kill(pid, 'SIGUSR2');
  let result: Map<string, number> | undefined;
  await waitFor(
    'the heap snapshot',
    async () => {
      const file = readdirSync(dir)
        .filter((f) => f.endsWith('.heapsnapshot'))
        .sort()[count - 1];
      if (file === undefined) return false;
      try {
        result = heapByType(join(dir, file));
        return true;
      } catch {
        return false; // still being written
      }
    },
    60_000,
  );
  return result ?? new Map();
}

async function main(): Promise<void> {
  const owner = new Owner();
  try {
    const { redis, dir, listFile } = await dispatcherWorld(owner, 'call-memory');
    const edge = await startEdge(
      owner,
      {
        redis: { url: redis.url, prefix: uniquePrefix() },
        dispatcher: { listFile },
        routing: { dispatcher: { set: 1, algorithm: 4, frTimerMs: 30_000 } }, // as the anchor
        log: { level: 'error' },
        overload: { enabled: false },
      },
      {},
      { nodeArgs: ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${dir}`] },
    );
    const pid = edge.process.pid ?? 0;
    const idle = await snapshot(pid, dir, 1);
    await startSipp({
      scenario: 'uac-call',
      remote: { host: '127.0.0.1', port: edge.port },
      service: 'bench',
      rate: RATE,
      limit: RATE * 4,
      callLengthMs: 0,
      owner,
    });
    // Calls flow for longer than a finished transaction lingers (timers.waitMs 5 s): the table is
    // at its steady size.
    await new Promise((resolve) => setTimeout(resolve, 8000));
    const live =
      (await edge.metric('sipfleet_active_transactions', { side: 'server' })) +
      (await edge.metric('sipfleet_active_transactions', { side: 'client' }));
    const loaded = await snapshot(pid, dir, 2);
    const proxyTx = live / 2;
    // Compiled code grows with the load's first seconds (JIT), not with the calls held.
    const grew = [...loaded.entries()]
      .filter(([k]) => k !== '(code)')
      .map(([k, v]) => [k, v - (idle.get(k) ?? 0)] as const)
      .sort((a, b) => b[1] - a[1]);
    const total = grew.reduce((s, [, v]) => s + v, 0);
    console.log(
      `call memory: ${RATE} calls/s through one edge (alg 4); ${live} live transactions (${proxyTx} proxy transactions)`,
    );
    console.log(
      `heap after full GC: idle ${(sum(idle) / 1048576).toFixed(1)} MiB, loaded ${(sum(loaded) / 1048576).toFixed(1)} MiB; ` +
        `${(total / proxyTx).toFixed(0)} bytes per proxy transaction (server + client), ${(total / live).toFixed(0)} per transaction`,
    );
    console.log('largest growth, bytes per proxy transaction:');
    for (const [k, v] of grew.slice(0, 12))
      console.log(`${(v / proxyTx).toFixed(0).padStart(7)}  ${k}`);
  } finally {
    await owner.close();
  }
}

const sum = (m: Map<string, number>) => [...m.values()].reduce((s, v) => s + v, 0);

await main();
