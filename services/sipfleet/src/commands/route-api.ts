import { parseArgs } from 'node:util';
import { createRedisConnection } from '@sipfleet/redis';
import { pino } from 'pino';
import { buildRouteApi } from '../route-api/server.js';
import { ListenError, reportStartupFailure } from '../startup-error.js';

export const ROUTE_API_USAGE = `usage: sipfleet route-api [--listen HOST:PORT] [--redis-url URL] [--prefix PREFIX]

Runs the reference HTTP routing API: POST /route answers rtjson for the edges' HTTP routing
(packages/rtjson), rules are managed with GET/PUT/DELETE /rules and /rules/:id and kept in Redis.

  --listen HOST:PORT   @default 127.0.0.1:8080
  --redis-url URL      redis://, rediss://, redis-sentinel://, redis-cluster:// (env SIPFLEET_REDIS_URL)
  --prefix PREFIX      key prefix (env SIPFLEET_PREFIX) @default sipfleet
  --log-level LEVEL    @default info
`;

export async function runRouteApi(argv: readonly string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        listen: { type: 'string', default: '127.0.0.1:8080' },
        'redis-url': { type: 'string' },
        prefix: { type: 'string' },
        'log-level': { type: 'string', default: 'info' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`sipfleet route-api: ${(err as Error).message}\n${ROUTE_API_USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(ROUTE_API_USAGE);
    return 0;
  }
  const listen = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(values.listen);
  const port = Number(listen?.[2]);
  if (!listen?.[1] || port > 65535) {
    process.stderr.write(`sipfleet route-api: --listen '${values.listen}' is not HOST:PORT\n`);
    return 78;
  }
  const host = listen[1].replace(/^\[|\]$/g, '');
  const redisUrl = values['redis-url'] ?? process.env.SIPFLEET_REDIS_URL;
  if (redisUrl === undefined || redisUrl === '') {
    process.stderr.write('sipfleet route-api: --redis-url (or SIPFLEET_REDIS_URL) is required\n');
    return 78;
  }
  const levels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
  if (!levels.includes(values['log-level'])) {
    process.stderr.write(`sipfleet route-api: --log-level must be one of ${levels.join(', ')}\n`);
    return 78;
  }
  const log = pino({ level: values['log-level'], base: { service: 'route-api' } });
  let redis;
  try {
    redis = createRedisConnection({
      redis: redisUrl,
      keyPrefix: values.prefix ?? process.env.SIPFLEET_PREFIX ?? 'sipfleet',
      connectionName: 'sipfleet-route-api',
    });
  } catch (err) {
    process.stderr.write(`sipfleet route-api: ${(err as Error).message}\n`);
    return 78;
  }
  const { app } = buildRouteApi({ redis, log });
  try {
    // Not waiting for Redis: the API starts, says not ready on /readyz, and serves once it is up.
    await app.listen({ host, port });
  } catch (err) {
    await redis.close();
    return reportStartupFailure(
      'route-api',
      new ListenError('--listen', 'tcp', host, port, err),
      log,
    );
  }
  log.info({ listen: app.addresses(), prefix: redis.keys.prefix }, 'route-api started');
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
  log.info('stopping');
  await app.close();
  await redis.close();
  return 0;
}
