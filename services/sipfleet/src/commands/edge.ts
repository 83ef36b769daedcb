import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { loadEdgeConfig } from '../config.js';
import { Edge } from '../edge/edge.js';
import { reportStartupFailure } from '../startup-error.js';

export const EDGE_USAGE = `usage: sipfleet edge [--config FILE]

Runs one edge. FILE is YAML or JSON (see docs/configuration.md); every setting has a default.
Environment: SIPFLEET_LISTEN=udp:ADDR:PORT,tcp:ADDR:PORT  SIPFLEET_ADMIN=ADDR:PORT
`;

export async function runEdge(argv: readonly string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`sipfleet edge: ${(err as Error).message}\n${EDGE_USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(EDGE_USAGE);
    return 0;
  }
  let config;
  try {
    config = loadEdgeConfig(values.config, process.env);
  } catch (err) {
    return reportStartupFailure('edge', err);
  }
  const log = pino({ level: config.log.level, base: { service: 'edge', node: config.nodeId } });
  let edge: Edge;
  try {
    edge = await Edge.start(config, log);
  } catch (err) {
    return reportStartupFailure('edge', err, log, 'listen');
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'stopping');
      edge.drain().then(resolve, (err: unknown) => {
        log.error({ err }, 'drain failed');
        resolve();
      });
    };
    process.on('SIGHUP', () => edge.reloadTls());
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}
