// Routing rules of the reference routing API and how a query picks one. A rule matches on the
// source address, the caller (From user) and a prefix of the callee (R-URI user, else To user);
// the longest matching callee prefix wins, like a carrier's LCR table.
import { BlockList, isIP } from 'node:net';
import { parseRtjson } from '@sipfleet/rtjson';
import { parseUri } from '@sipfleet/sip';
import { z } from 'zod';

const ruleId = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, . _ - only');

const sourceIp = z
  .string()
  .refine((s) => parseSource(s) !== undefined, 'an IP address or an IPv4/IPv6 CIDR block');

/** A rule as stored and as the API takes it. `routes` are rtjson routes (Kamailio field names). */
export const ruleSchema = z
  .object({
    id: ruleId,
    /** Tie-break between rules with equally long callee prefixes and equal specificity. @default 0 */
    priority: z.number().int().default(0),
    match: z
      .object({
        /** The request came from this address or block (`10.0.0.0/8`). */
        sourceIp: sourceIp.optional(),
        /** From URI user, exactly. */
        caller: z.string().min(1).optional(),
        /** R-URI user (To user when the R-URI has none) starts with this. @default '' (every callee) */
        calleePrefix: z.string().default(''),
      })
      .strict()
      .default({ calleePrefix: '' }),
    /** @default serial */
    routing: z.enum(['serial', 'parallel']).default('serial'),
    routes: z.array(z.record(z.string(), z.unknown())).min(1),
  })
  .strict()
  .superRefine((rule, ctx) => {
    // The answer must be a document every edge accepts: check it with the edge's own parser.
    const parsed = parseRtjson({ success: true, routing: rule.routing, routes: rule.routes });
    if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.error.message, path: [] });
  });

export type Rule = z.infer<typeof ruleSchema>;

/** Validates one rule; the error names the field. */
export function parseRule(raw: unknown): { ok: true; rule: Rule } | { ok: false; error: string } {
  const result = ruleSchema.safeParse(raw);
  if (result.success) return { ok: true, rule: result.data };
  return {
    ok: false,
    error: result.error.issues
      .map((i) => `${i.path.join('.') || '(rule)'}: ${i.message}`)
      .join('; '),
  };
}

function parseSource(text: string): BlockList | string | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return isIP(text) === 0 ? undefined : text;
  const address = text.slice(0, slash);
  const bits = Number(text.slice(slash + 1));
  const family = isIP(address);
  if (family === 0 || !Number.isInteger(bits) || bits < 0 || bits > (family === 4 ? 32 : 128)) {
    return undefined;
  }
  const list = new BlockList();
  list.addSubnet(address, bits, family === 4 ? 'ipv4' : 'ipv6');
  return list;
}

/** The parts of a routing query rules look at (from the edge's `sip-routing` query). */
export interface RouteQuery {
  sourceIp: string;
  caller: string;
  callee: string;
}

function userOf(uri: unknown): string {
  if (typeof uri !== 'string' || uri === '') return '';
  try {
    return parseUri(uri).user ?? '';
  } catch {
    return '';
  }
}

/** Reads a query body; undefined when it is not one (not an object, no R-URI). */
export function readQuery(body: unknown): RouteQuery | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const q = body as Record<string, unknown>;
  if (typeof q.ruri !== 'string') return undefined;
  return {
    sourceIp: typeof q.source_ip === 'string' ? q.source_ip : '',
    caller: userOf(q.from_uri),
    callee: userOf(q.ruri) || userOf(q.to_uri),
  };
}

/** A rule ready for matching (source block built once). */
export class CompiledRule {
  private readonly source: BlockList | string | undefined;
  readonly specificity: number;

  constructor(readonly rule: Rule) {
    this.source = rule.match.sourceIp === undefined ? undefined : parseSource(rule.match.sourceIp);
    this.specificity = (rule.match.sourceIp ? 1 : 0) + (rule.match.caller ? 1 : 0);
  }

  matches(q: RouteQuery): boolean {
    const m = this.rule.match;
    if (!q.callee.startsWith(m.calleePrefix)) return false;
    if (m.caller !== undefined && m.caller !== q.caller) return false;
    if (this.source === undefined) return true;
    if (typeof this.source === 'string') return this.source === q.sourceIp;
    const family = isIP(q.sourceIp);
    return family !== 0 && this.source.check(q.sourceIp, family === 4 ? 'ipv4' : 'ipv6');
  }
}

/**
 * The best rule for a query: longest callee prefix, then the more specific (source and caller
 * set), then the higher priority, then the smaller id (so the answer never depends on order).
 */
export function selectRule(rules: readonly CompiledRule[], q: RouteQuery): Rule | undefined {
  let best: CompiledRule | undefined;
  for (const candidate of rules) {
    if (!candidate.matches(q)) continue;
    if (best === undefined || better(candidate, best)) best = candidate;
  }
  return best?.rule;
}

function better(a: CompiledRule, b: CompiledRule): boolean {
  const la = a.rule.match.calleePrefix.length;
  const lb = b.rule.match.calleePrefix.length;
  if (la !== lb) return la > lb;
  if (a.specificity !== b.specificity) return a.specificity > b.specificity;
  if (a.rule.priority !== b.rule.priority) return a.rule.priority > b.rule.priority;
  return a.rule.id < b.rule.id;
}

/** The rtjson answer for a rule (or "no route"). */
export function answerFor(rule: Rule | undefined): Record<string, unknown> {
  if (rule === undefined) return { success: false };
  return { success: true, version: '1.0', routing: rule.routing, routes: rule.routes };
}
