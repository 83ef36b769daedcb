import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startEmbeddedRedis } from '../embedded-redis.js';
import type { EmbeddedRedis } from '../embedded-redis.js';

export const UP_USAGE = `usage: sipfleet up [options]

Runs a whole fleet on this machine: Redis (embedded unless a URL is given), edges, and with
--demo two demo media servers plus a ready-to-paste sipp command.

  --edges N          number of edges (default 2)
  --sip-port P       first edge's SIP port, UDP and TCP; edge i uses P+i (default 5060)
  --admin-port P     first edge's admin port; edge i uses P+i (default 9060)
  --redis-url URL    use this Redis instead of starting one (env SIPFLEET_REDIS_URL)
  --data-dir DIR     embedded Redis data dir (default ~/.local/state/sipfleet/redis)
  --demo             also start demo media servers on 127.0.0.1:5080 and 5081
`;

const bin = fileURLToPath(new URL('../../bin/sipfleet.js', import.meta.url));
const scenarios = fileURLToPath(new URL('../../../../test/scenarios/', import.meta.url));

interface Child {
  name: string;
  process: ChildProcess;
  exited: Promise<void>;
}

function startChild(name: string, args: string[]): Child {
  const child = spawn(process.execPath, [bin, ...args], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { name, process: child, exited };
}

export async function runUp(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      edges: { type: 'string', default: '2' },
      'sip-port': { type: 'string', default: '5060' },
      'admin-port': { type: 'string', default: '9060' },
      'redis-url': { type: 'string' },
      'data-dir': { type: 'string' },
      demo: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(UP_USAGE);
    return 0;
  }
  const edges = Number(values.edges);
  const sipPort = Number(values['sip-port']);
  const adminPort = Number(values['admin-port']);
  for (const [name, value] of [
    ['--edges', edges],
    ['--sip-port', sipPort],
    ['--admin-port', adminPort],
  ] as const) {
    if (!Number.isInteger(value) || value < 1 || value > 65535) {
      process.stderr.write(
        `sipfleet up: ${name} must be a whole number (got '${String(value)}')\n`,
      );
      return 2;
    }
  }

  const children: Child[] = [];
  const workDir = mkdtempSync(join(tmpdir(), 'sipfleet-up-'));
  let redis: EmbeddedRedis | undefined;
  const shutdown = async () => {
    for (const c of children) if (c.process.exitCode === null) c.process.kill('SIGTERM');
    await Promise.all(children.map((c) => c.exited));
    await redis?.stop();
    rmSync(workDir, { recursive: true, force: true });
  };

  try {
    let redisUrl = values['redis-url'] ?? process.env.SIPFLEET_REDIS_URL;
    if (redisUrl === undefined) {
      const dataDir = values['data-dir'] ?? join(homedir(), '.local', 'state', 'sipfleet', 'redis');
      redis = await startEmbeddedRedis(dataDir);
      redisUrl = redis.url;
      process.stdout.write(
        `sipfleet up: embedded redis-server at ${redisUrl} (AOF in ${dataDir})\n`,
      );
    }
    const mediaPorts = values.demo ? [5080, 5081] : [];
    for (const port of mediaPorts) {
      children.push(startChild(`media-${port}`, ['demo-uas', '--port', String(port)]));
    }
    for (let i = 0; i < edges; i++) {
      const port = sipPort + i;
      const config = {
        nodeId: `edge-${i + 1}`,
        listen: [
          { protocol: 'udp', address: '127.0.0.1', port },
          { protocol: 'tcp', address: '127.0.0.1', port },
        ],
        admin: { address: '127.0.0.1', port: adminPort + i },
        routing:
          mediaPorts[0] === undefined ? {} : { destination: `sip:127.0.0.1:${mediaPorts[0]}` },
      };
      const file = join(workDir, `edge-${i + 1}.json`);
      writeFileSync(file, JSON.stringify(config, null, 2));
      children.push(startChild(`edge-${i + 1}`, ['edge', '--config', file]));
    }
    process.stdout.write(
      [
        `sipfleet up: ${edges} edge(s) on 127.0.0.1:${sipPort}..${sipPort + edges - 1} (UDP+TCP),` +
          ` admin/metrics on 127.0.0.1:${adminPort}..${adminPort + edges - 1}`,
        ...(values.demo
          ? [
              `sipfleet up: demo media servers on 127.0.0.1:${mediaPorts.join(', 127.0.0.1:')}`,
              'place calls through the fleet with:',
              `  sipp -sf ${join(scenarios, 'uac-call.xml')} -s demo 127.0.0.1:${sipPort} -r 10 -m 100`,
            ]
          : []),
        'press Ctrl-C to stop',
        '',
      ].join('\n'),
    );
    const stopped = await Promise.race([
      new Promise<string>((resolve) => {
        process.once('SIGINT', () => resolve('SIGINT'));
        process.once('SIGTERM', () => resolve('SIGTERM'));
      }),
      ...children.map((c) => c.exited.then(() => `${c.name} exited`)),
    ]);
    process.stdout.write(`sipfleet up: stopping (${stopped})\n`);
    await shutdown();
    return stopped.endsWith('exited') ? 1 : 0;
  } catch (err) {
    process.stderr.write(`sipfleet up: ${(err as Error).message}\n`);
    await shutdown();
    return 1;
  }
}
