// Kamailio's dispatcher.list text format (dispatcher README, "Destination List File"):
//
//   setid(int) destination(sip uri) flags(int,opt) priority(int,opt) attrs(str,opt) [description]
//
// `#` starts a comment where a field would start; blank lines are ignored. Parsed as dispatch.c
// ds_load_list does, but strict: where Kamailio silently reads garbage as 0 or logs and goes on,
// we reject the file with every bad line named, because an operator's typo should not reroute calls.

import { SipfleetDispatcherError, type ListIssue } from './errors.js';
import { DS_ALL_FLAG_BITS } from './flags.js';
import { uriHashKeys } from './hash.js';
import {
  buildSet,
  type Destination,
  type DestinationAttrs,
  type DestinationSet,
  type SetBuildOptions,
} from './model.js';

/** Attribute names with a meaning (matched case-insensitively, as Kamailio's parse_params does). */
const KNOWN_ATTRS = [
  'duid',
  'weight',
  'rweight',
  'maxload',
  'socket',
  'sockname',
  'ping_from',
  'obproxy',
  'cc',
];

/**
 * Parses a dispatcher.list text into destination sets (ascending set id), each sorted and with
 * its weight tables built (model.ts buildSet).
 * @throws SipfleetDispatcherError SIPFLEET_ERR_DISPATCHER_LIST naming every bad line.
 */
export function parseList(text: string, options: SetBuildOptions = {}): DestinationSet[] {
  const issues: ListIssue[] = [];
  const bySet = new Map<number, Destination[]>();
  const seen = new Map<string, number>();
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const lineNo = n + 1;
    const result = parseLine(lines[n] ?? '');
    if (result === undefined) continue;
    if (typeof result === 'string') {
      issues.push({ line: lineNo, message: result });
      continue;
    }
    // Kamailio keeps duplicates; we refuse them, since state is keyed by (set, URI).
    const key = `${result.setid} ${result.uri.toLowerCase()}`;
    const first = seen.get(key);
    if (first !== undefined) {
      issues.push({
        line: lineNo,
        message: `destination ${result.uri} is already in set ${result.setid} (line ${first})`,
      });
      continue;
    }
    seen.set(key, lineNo);
    const list = bySet.get(result.setid) ?? [];
    list.push(result);
    bySet.set(result.setid, list);
  }
  if (issues.length > 0) {
    const detail = issues.map((i) => `line ${i.line}: ${i.message}`).join('; ');
    throw new SipfleetDispatcherError(
      'SIPFLEET_ERR_DISPATCHER_LIST',
      `dispatcher.list: ${detail}`,
      issues,
    );
  }
  return [...bySet.keys()]
    .sort((a, b) => a - b)
    .map((id) => buildSet(id, bySet.get(id) ?? [], options));
}

/** A destination, undefined for a blank/comment line, or a message saying what is wrong. */
function parseLine(raw: string): Destination | string | undefined {
  const line = raw.replace(/\r$/, '');
  const fields: string[] = [];
  let description: string | undefined;
  let p = 0;
  const skipSpace = () => {
    while (p < line.length && /[ \t\r]/.test(line[p] ?? '')) p++;
  };
  skipSpace();
  // setid, uri, flags, priority end at whitespace or '#'; attrs at whitespace only (as Kamailio).
  while (p < line.length && line[p] !== '#' && fields.length < 5) {
    const start = p;
    const stopAtHash = fields.length < 4;
    while (p < line.length && !/[ \t\r]/.test(line[p] ?? '') && !(stopAtHash && line[p] === '#')) {
      p++;
    }
    fields.push(line.slice(start, p));
    skipSpace();
  }
  if (fields.length === 5 && p < line.length && line[p] !== '#') {
    description = line.slice(p).trim();
  }
  if (fields.length === 0) return undefined;
  const [setidText, uriText, flagsText, priorityText, attrsText] = fields;

  if (!/^\d+$/.test(setidText ?? '') || Number(setidText) > 0x7fffffff) {
    return `set id must be a non-negative integer, got '${setidText}'`;
  }
  if (uriText === undefined) return 'missing destination URI after the set id';
  // dispatch.c pack_dest: a URI without scheme that fails to parse is retried with `sip:`.
  // Kamailio also does that to another scheme (`mailto:b@h` becomes user `mailto`); we refuse it.
  let uri = uriText;
  const otherScheme = /^[a-z][a-z0-9+.-]*:(?!\d+(?:[;?]|$))/i.test(uri) && !/^sips?:/i.test(uri);
  if (otherScheme) return `'${uriText}' is not a sip:/sips: URI`;
  uri = withSipScheme(uri);
  if (uriHashKeys(uri) === undefined) return `'${uriText}' is not a sip:/sips: URI with a host`;

  let flags = 0;
  if (flagsText !== undefined) {
    if (!/^\d+$/.test(flagsText) || Number(flagsText) > DS_ALL_FLAG_BITS) {
      return `flags must be an integer bit set 0-${DS_ALL_FLAG_BITS}, got '${flagsText}'`;
    }
    flags = Number(flagsText);
  }
  let priority = 0;
  if (priorityText !== undefined) {
    // Kamailio's file parser reads digits only; a negative priority is a sipfleet extension.
    if (!/^-?\d+$/.test(priorityText) || Math.abs(Number(priorityText)) > 0x7fffffff) {
      return `priority must be an integer, got '${priorityText}'`;
    }
    priority = Number(priorityText);
  }
  const attrs =
    attrsText === undefined ? { extra: new Map<string, string>() } : parseAttrs(attrsText);
  if (typeof attrs === 'string') return attrs;

  const dst: Destination = {
    setid: Number(setidText),
    uri,
    flags,
    priority,
    attrs,
    ...(description !== undefined && description !== '' ? { description } : {}),
  };
  return Object.freeze(dst);
}

type MutableAttrs = { -readonly [K in keyof DestinationAttrs]: DestinationAttrs[K] };

/** Parses `k=v;k=v` (dispatch.c ds_set_attrs; one trailing ';' is dropped as Kamailio does). */
function parseAttrs(text: string): DestinationAttrs | string {
  const body = text.endsWith(';') ? text.slice(0, -1) : text;
  const extra = new Map<string, string>();
  const attrs: MutableAttrs = { extra };
  if (body === '') return Object.freeze(attrs);
  const names = new Set<string>();
  for (const part of body.split(';')) {
    const eq = part.indexOf('=');
    const name = eq >= 0 ? part.slice(0, eq) : part;
    const value = eq >= 0 ? part.slice(eq + 1) : '';
    if (name === '') return `attribute '${part}' has no name (attrs '${text}')`;
    const lower = name.toLowerCase();
    const key = KNOWN_ATTRS.includes(lower) ? lower : name;
    if (names.has(key)) return `attribute '${name}' is given twice`;
    names.add(key);
    switch (key) {
      case 'duid':
        attrs.duid = value;
        break;
      case 'socket':
        attrs.socket = value;
        break;
      case 'sockname':
        attrs.sockname = value;
        break;
      case 'ping_from':
        attrs.pingFrom = value;
        break;
      case 'obproxy':
        attrs.obproxy = value;
        break;
      case 'weight':
      case 'rweight': {
        // Kamailio logs and uses 0 outside 1-100; we refuse it. 0 means "no weight".
        if (!/^\d+$/.test(value) || Number(value) > 100) {
          return `${key} must be an integer 0-100, got '${value}'`;
        }
        if (key === 'weight') attrs.weight = Number(value);
        else attrs.rweight = Number(value);
        break;
      }
      case 'maxload':
        if (!/^\d+$/.test(value) || Number(value) > 0x7fffffff) {
          return `maxload must be a non-negative integer, got '${value}'`;
        }
        attrs.maxload = Number(value);
        break;
      case 'cc':
        if (!/^\d+$/.test(value)) return `cc must be 0 or 1, got '${value}'`;
        attrs.congestionControl = Number(value) !== 0;
        break;
      default:
        extra.set(name, value);
    }
  }
  return Object.freeze(attrs);
}

/**
 * A destination URI as the list file stores it: without a scheme it gets `sip:`, as Kamailio's
 * pack_dest does; lookups by an operator's URI go through it too.
 */
export function withSipScheme(uri: string): string {
  return /^sips?:/i.test(uri) ? uri : `sip:${uri}`;
}

/**
 * The special attributes that are set, under their list-file names, in the order the attrs
 * column writes them; numbers stay numbers (`cc` is 0 or 1). Other attributes are in `extra`.
 */
export function specialAttrs(attrs: DestinationAttrs): [string, string | number][] {
  const cc = attrs.congestionControl;
  const named = {
    duid: attrs.duid,
    weight: attrs.weight,
    rweight: attrs.rweight,
    maxload: attrs.maxload,
    socket: attrs.socket,
    sockname: attrs.sockname,
    ping_from: attrs.pingFrom,
    obproxy: attrs.obproxy,
    cc: cc === undefined ? undefined : cc ? 1 : 0,
  };
  return Object.entries(named).filter((a): a is [string, string | number] => a[1] !== undefined);
}

/** The attrs column of a destination: special attributes in a fixed order, then the others. */
export function formatAttrs(attrs: DestinationAttrs): string {
  const parts = specialAttrs(attrs).map(([name, value]) => `${name}=${value}`);
  for (const [name, value] of attrs.extra) parts.push(value === '' ? name : `${name}=${value}`);
  return parts.join(';');
}

/**
 * Writes sets back in the list format, one line per destination: `setid uri flags priority
 * [attrs [description]]`. Lines come highest priority first; within equal priorities they are
 * written in reverse set order, because parsing reverses ties (see DestinationSet), so
 * parseList(formatList(sets)) yields the same sets. A description needs an attrs column before
 * it: with no attributes that column is written as `;`, which Kamailio and parseList read as empty.
 */
export function formatList(sets: Iterable<DestinationSet>): string {
  const out: string[] = [];
  for (const set of sets) {
    const d = set.destinations;
    let i = 0;
    while (i < d.length) {
      let j = i;
      while (j + 1 < d.length && d[j + 1]?.priority === d[i]?.priority) j++;
      for (let k = j; k >= i; k--) {
        const dst = d[k];
        if (dst !== undefined) out.push(formatLine(dst));
      }
      i = j + 1;
    }
  }
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}

function formatLine(dst: Destination): string {
  const fields = [String(dst.setid), dst.uri, String(dst.flags), String(dst.priority)];
  const attrs = formatAttrs(dst.attrs);
  if (attrs !== '' || dst.description !== undefined) fields.push(attrs === '' ? ';' : attrs);
  // A line break inside a description would start a new line: fold it to a space.
  if (dst.description !== undefined) fields.push(dst.description.replace(/[\r\n]+/g, ' '));
  return fields.join(' ');
}
