// Algorithm 7's input as Kamailio builds it: the `hash_pvar` modparam is a format string of
// pseudo-variables (e.g. `$fU@$ci`) that ds_hash_pvar prints for each request and hashes. This
// is the small subset of Kamailio's pseudo-variables a dispatcher hash needs, compiled once at
// start-up so a call only concatenates strings.

import type { HeaderSource } from './credentials.js';
import { SipfleetDispatcherError } from './errors.js';
import { sipUriParts } from './hash.js';

/** What a template reads from a request (CallRequest has this shape). */
export interface TemplateRequest extends HeaderSource {
  readonly callId: string;
  readonly from: { readonly uri: { toString(): string } };
  readonly to: { readonly uri: { toString(): string } };
}

/** One compiled `hash_pvar` format: print() gives the string algorithm 7 hashes. */
export interface HashTemplate {
  /** The template as configured. */
  readonly source: string;
  /** Prints the template for a request; `ruri` is the Request-URI as it stands ($ru is current). */
  print(request: TemplateRequest, ruri: string): string;
}

type Part = (request: TemplateRequest, ruri: string) => string;

/** A URI the parser refuses prints as '' (Kamailio prints nothing for a pvar it cannot get). */
function uriPart(uri: () => string, part: 'user' | 'host'): string {
  let text: string;
  try {
    text = uri();
  } catch {
    return '';
  }
  return sipUriParts(text)?.[part] ?? '';
}

const VARIABLES: Readonly<Record<string, Part>> = {
  fU: (r) => uriPart(() => r.from.uri.toString(), 'user'),
  fd: (r) => uriPart(() => r.from.uri.toString(), 'host'),
  tU: (r) => uriPart(() => r.to.uri.toString(), 'user'),
  td: (r) => uriPart(() => r.to.uri.toString(), 'host'),
  ci: (r) => r.callId,
  ru: (_r, ruri) => ruri,
  rU: (_r, ruri) => uriPart(() => ruri, 'user'),
  rd: (_r, ruri) => uriPart(() => ruri, 'host'),
};

// RFC 3261 section 25.1: a header name is a token.
const TOKEN = /^[!%'*+\-.0-9A-Z_`a-z~]+$/;

/**
 * Compiles a `hash_pvar`-style template: literal text and `$fU $fd $tU $td $ci $ru $rU $rd
 * $hdr(Name)` (From/To/R-URI user and domain, Call-ID, the current R-URI, a header's raw value;
 * a missing one prints as ''). `setting` names the configuration setting in the error.
 * @throws SipfleetDispatcherError SIPFLEET_ERR_DISPATCHER_HASH_TEMPLATE when the template is
 *   empty, has no variable, or names an unknown one.
 */
export function compileHashTemplate(source: string, setting = 'hashTemplate'): HashTemplate {
  const bad = (what: string) =>
    new SipfleetDispatcherError(
      'SIPFLEET_ERR_DISPATCHER_HASH_TEMPLATE',
      `${setting} '${source}' ${what} (supported: $fU $fd $tU $td $ci $ru $rU $rd $hdr(Name))`,
    );
  const parts: (string | Part)[] = [];
  let variables = 0;
  let at = 0;
  while (at < source.length) {
    const dollar = source.indexOf('$', at);
    if (dollar < 0) {
      parts.push(source.slice(at));
      break;
    }
    if (dollar > at) parts.push(source.slice(at, dollar));
    if (source.startsWith('$hdr(', dollar)) {
      const close = source.indexOf(')', dollar);
      const name = close < 0 ? '' : source.slice(dollar + 5, close);
      if (!TOKEN.test(name)) throw bad(`has a bad $hdr() at offset ${dollar}`);
      parts.push((r) => r.getHeader(name) ?? '');
      at = close + 1;
    } else {
      const name = source.slice(dollar + 1, dollar + 3);
      const variable = VARIABLES[name];
      if (variable === undefined) throw bad(`has an unknown variable at offset ${dollar}`);
      parts.push(variable);
      at = dollar + 3;
    }
    variables++;
  }
  if (variables === 0) throw bad('has no variable');
  return {
    source,
    print: (request, ruri) => {
      let out = '';
      for (const p of parts) out += typeof p === 'string' ? p : p(request, ruri);
      return out;
    },
  };
}
