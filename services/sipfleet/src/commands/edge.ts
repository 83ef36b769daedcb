import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { ConfigError, loadEdgeConfig } from '../config.js';
import { Edge } from '../edge/edge.js';

export const EDGE_USAGE = `usage: sipfleet edge [--config FILE]

Runs one edge. FILE is YAML or JSON (see docs/configuration.md); every setting has a default.
Environment: SIPFLEET_LISTEN=udp:ADDR:PORT,tcp:ADDR:PORT  SIPFLEET_ADMIN=ADDR:PORT
`;

export async function runEdge(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(EDGE_USAGE);
    return 0;
  }
  let config;
  try {
    config = loadEdgeConfig(values.config, process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`sipfleet edge: ${err.message}\n`);
      return 78; // EX_CONFIG
    }
    throw err;
  }
  const log = pino({ level: config.log.level, base: { service: 'edge', node: config.nodeId } });
  let edge: Edge;
  try {
    edge = await Edge.start(config, log);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`sipfleet edge: ${err.message}\n`);
      return 78;
    }
    log.fatal({ err }, 'edge failed to start');
    return 1;
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'stopping');
      edge.drain().then(resolve, (err: unknown) => {
        log.error({ err }, 'drain failed');
        resolve();
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}
