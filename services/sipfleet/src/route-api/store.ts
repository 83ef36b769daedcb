// Rules in Redis: one hash (KeyBuilder.routeRules), field = rule id, value = the rule as JSON.
// Every route-api instance reads it on each query, so the API keeps no state of its own and any
// number of instances agree.
import type { RedisConnection } from '@sipfleet/redis';
import type { Logger } from 'pino';
import { CompiledRule, parseRule } from './rules.js';
import type { Rule } from './rules.js';

export class RuleStore {
  private readonly key: string;

  constructor(
    private readonly redis: RedisConnection,
    private readonly log: Logger,
  ) {
    this.key = redis.keys.routeRules();
  }

  /** Every valid rule; a hand-edited invalid entry is logged and skipped, never fatal. */
  async all(): Promise<Rule[]> {
    const raw = (await this.redis.call('HGETALL', this.key)) as string[];
    const rules: Rule[] = [];
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const rule = this.decode(raw[i] ?? '', raw[i + 1] ?? '');
      if (rule !== undefined) rules.push(rule);
    }
    return rules.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async compiled(): Promise<CompiledRule[]> {
    return (await this.all()).map((rule) => new CompiledRule(rule));
  }

  async get(id: string): Promise<Rule | undefined> {
    const raw = (await this.redis.call('HGET', this.key, id)) as string | null;
    return raw === null ? undefined : this.decode(id, raw);
  }

  async put(rule: Rule): Promise<void> {
    await this.redis.call('HSET', this.key, rule.id, JSON.stringify(rule));
  }

  /** Replaces the whole rule set in one transaction (MULTI: DEL + HSET). */
  async replaceAll(rules: readonly Rule[]): Promise<void> {
    const fields = rules.flatMap((r) => [r.id, JSON.stringify(r)]);
    const multi = this.redis.client.multi().del(this.key);
    if (fields.length > 0) multi.hset(this.key, ...fields);
    const results = await multi.exec();
    const failed = results?.find(([err]) => err !== null);
    if (results === null || failed !== undefined) {
      throw failed?.[0] ?? new Error('replacing the rules was aborted');
    }
  }

  async delete(id: string): Promise<boolean> {
    return ((await this.redis.call('HDEL', this.key, id)) as number) > 0;
  }

  async deleteAll(): Promise<number> {
    const count = (await this.redis.call('HLEN', this.key)) as number;
    await this.redis.call('DEL', this.key);
    return count;
  }

  private decode(id: string, text: string): Rule | undefined {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      this.log.warn({ id }, 'route rule in Redis is not JSON; skipped');
      return undefined;
    }
    const parsed = parseRule(json);
    if (!parsed.ok) {
      this.log.warn({ id, error: parsed.error }, 'route rule in Redis is invalid; skipped');
      return undefined;
    }
    return parsed.rule;
  }
}
