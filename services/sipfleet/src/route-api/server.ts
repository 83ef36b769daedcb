// The reference routing API (`sipfleet route-api`): POST /route answers an edge's `sip-routing`
// query with an rtjson document built from the best matching rule; /rules manages the rules
// (stored in Redis); /healthz, /readyz and /metrics as on every sipfleet process.
import type { RedisConnection } from '@sipfleet/redis';
import Fastify, { LogController } from 'fastify';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import { RouteApiMetrics } from './metrics.js';
import type { QueryResult } from './metrics.js';
import { answerFor, parseRule, readQuery, selectRule } from './rules.js';
import type { Rule } from './rules.js';
import { RuleStore } from './store.js';

export interface RouteApiInit {
  redis: RedisConnection;
  log: Logger;
  metrics?: RouteApiMetrics;
}

export interface RouteApi {
  app: FastifyInstance;
  metrics: RouteApiMetrics;
  store: RuleStore;
}

export function buildRouteApi(init: RouteApiInit): RouteApi {
  const { redis, log } = init;
  const metrics = init.metrics ?? new RouteApiMetrics();
  const store = new RuleStore(redis, log);
  metrics.redisUp.set(redis.ready ? 1 : 0);
  redis.on('up', () => metrics.redisUp.set(1));
  redis.on('down', () => metrics.redisUp.set(0));

  // Fastify logs through our pino; one line per request would drown the log at call rates.
  // (Typed with Fastify's base logger: pino's Logger is a superset.)
  const app: FastifyInstance = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
  });

  const unavailable = (reply: FastifyReply, err: unknown): FastifyReply => {
    log.warn({ err }, 'redis unavailable');
    return reply.code(503).send({ error: 'rules store (Redis) unavailable' });
  };

  app.post('/route', async (request, reply) => {
    const stop = metrics.latency.startTimer();
    let result: QueryResult = 'error';
    try {
      const query = readQuery(request.body);
      if (query === undefined) {
        result = 'bad_request';
        return reply.code(400).send({ error: 'expected a sip-routing query object with ruri' });
      }
      let rule: Rule | undefined;
      try {
        rule = selectRule(await store.compiled(), query);
      } catch (err) {
        return unavailable(reply, err);
      }
      result = rule === undefined ? 'not_found' : 'routed';
      return answerFor(rule);
    } finally {
      metrics.queries.inc({ result });
      stop();
    }
  });

  app.get('/rules', async (_request, reply) => {
    try {
      return { rules: await store.all() };
    } catch (err) {
      return unavailable(reply, err);
    }
  });

  app.put('/rules', async (request, reply) => {
    const body = request.body as { rules?: unknown } | unknown[] | null;
    const list = Array.isArray(body) ? body : body?.rules;
    if (!Array.isArray(list)) {
      return reply.code(400).send({ error: 'expected {"rules": [...]} or an array of rules' });
    }
    const rules: Rule[] = [];
    const ids = new Set<string>();
    for (const [i, raw] of list.entries()) {
      const parsed = parseRule(raw);
      if (!parsed.ok) return reply.code(400).send({ error: `rules[${i}]: ${parsed.error}` });
      if (ids.has(parsed.rule.id)) {
        return reply.code(400).send({ error: `rules[${i}]: duplicate id ${parsed.rule.id}` });
      }
      ids.add(parsed.rule.id);
      rules.push(parsed.rule);
    }
    try {
      await store.replaceAll(rules);
    } catch (err) {
      return unavailable(reply, err);
    }
    return { rules: rules.length };
  });

  app.delete('/rules', async (_request, reply) => {
    try {
      return { deleted: await store.deleteAll() };
    } catch (err) {
      return unavailable(reply, err);
    }
  });

  app.get<{ Params: { id: string } }>('/rules/:id', async (request, reply) => {
    try {
      const rule = await store.get(request.params.id);
      return rule ?? reply.code(404).send({ error: `no rule ${request.params.id}` });
    } catch (err) {
      return unavailable(reply, err);
    }
  });

  app.put<{ Params: { id: string } }>('/rules/:id', async (request, reply) => {
    const body = request.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      return reply.code(400).send({ error: 'expected a rule object' });
    }
    const raw = { ...(body as Record<string, unknown>) };
    raw.id ??= request.params.id;
    if (raw.id !== request.params.id) {
      return reply.code(400).send({ error: `id ${String(raw.id)} differs from the URL's` });
    }
    const parsed = parseRule(raw);
    if (!parsed.ok) return reply.code(400).send({ error: parsed.error });
    try {
      await store.put(parsed.rule);
    } catch (err) {
      return unavailable(reply, err);
    }
    return parsed.rule;
  });

  app.delete<{ Params: { id: string } }>('/rules/:id', async (request, reply) => {
    try {
      if (await store.delete(request.params.id)) return { deleted: 1 };
      return reply.code(404).send({ error: `no rule ${request.params.id}` });
    } catch (err) {
      return unavailable(reply, err);
    }
  });

  app.get('/healthz', async (_request, reply) => reply.type('text/plain').send('ok\n'));

  app.get('/readyz', async (_request, reply) =>
    redis.ready
      ? reply.type('text/plain').send('ready\n')
      : reply.code(503).type('text/plain').send('not ready: redis unavailable\n'),
  );

  app.get('/metrics', async (_request, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );

  return { app, metrics, store };
}
