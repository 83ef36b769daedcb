import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { loadProberConfig } from '../prober/config.js';
import { ProberService } from '../prober/service.js';
import { reportStartupFailure } from '../startup-error.js';

export const PROBER_USAGE = `usage: sipfleet prober [--config FILE]

Runs one prober: OPTIONS keepalives for the fleet's dispatcher and keepalive destinations, work
shared with every other prober through BullMQ. FILE is YAML or JSON; redis.url is required.
Environment: SIPFLEET_REDIS_URL  SIPFLEET_PREFIX  SIPFLEET_ADMIN=ADDR:PORT
`;

export async function runProber(argv: readonly string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`sipfleet prober: ${(err as Error).message}\n${PROBER_USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(PROBER_USAGE);
    return 0;
  }
  let config;
  try {
    config = loadProberConfig(values.config, process.env);
  } catch (err) {
    return reportStartupFailure('prober', err);
  }
  const log = pino({ level: config.log.level, base: { service: 'prober', node: config.nodeId } });
  let service: ProberService;
  try {
    service = await ProberService.start(config, log);
  } catch (err) {
    return reportStartupFailure('prober', err, log, 'sip');
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'stopping');
      service.stop().then(resolve, (err: unknown) => {
        log.error({ err }, 'stop failed');
        resolve();
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}
