// `sipfleet ctl dispatcher …`: Kamailio's `kamctl dispatcher` and the dispatcher RPCs
// (dispatcher.list, .reload, .set_state, .add, .remove, .hash, .ping_active) run against the
// fleet's list in Redis, plus "probe now".
//
// Every write goes through DispatcherFleet, the class the prober and the edges' failure hooks use,
// so a ctl change is the same Lua step (compare-and-set, version bump, event published in the
// same script) and every edge applies it from the bus within milliseconds. `hash` answers with
// the core `select()` over the set as an edge's snapshot holds it (readFleet, current flags), so
// it names exactly the destination an edge would pick for that key.
import { readFileSync } from 'node:fs';
import {
  CALL_INPUTS,
  type CallInput,
  type CallInputField,
  DS_ALL_FLAG_BITS,
  type Destination,
  type DestinationAttrs,
  DispatcherFleet,
  DispatcherFleetError,
  type FleetDestinationInfo,
  HASHING_ALGORITHMS,
  type Selection,
  SipfleetDispatcherError,
  type Transition,
  algorithmEntry,
  formatFlags,
  indexOfUri,
  parseList,
  selectHashed,
  specialAttrs,
  transitionEventType,
  withSipScheme,
} from '@sipfleet/dispatcher';
import { getPingActive, readLatency, requestProbe, setPingActive } from '@sipfleet/keepalive';
import type { RedisConnection } from '@sipfleet/redis';
import { Argument } from 'commander';
import {
  type CtlCommand,
  CtlError,
  type CtlSettings,
  EXIT,
  UsageError,
  columns,
  ctlAction,
  output,
  withRedis,
} from './common.js';

// ---- arguments -------------------------------------------------------------------------------

/** A set id as Kamailio takes it (non-negative int32), or UsageError naming what it was for. */
function parseSetId(what: string, text: string | undefined): number {
  if (text === undefined || !/^\d+$/.test(text) || Number(text) > 0x7fffffff) {
    throw new UsageError(`${what} must be a set id 0-2147483647 (got '${text ?? ''}')`);
  }
  return Number(text);
}

function parseInteger(
  option: string,
  text: string | undefined,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^-?\d+$/.test(text) || !Number.isSafeInteger(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `${min}-${max}`;
    throw new UsageError(`${option} takes an integer ${range} (got '${text}')`);
  }
  return n;
}

/** The dispatcher's typed errors as ctl exit codes; anything else goes on to runCtl. */
function translate(err: unknown): unknown {
  if (err instanceof DispatcherFleetError) {
    switch (err.code) {
      case 'SIPFLEET_ERR_DISPATCHER_BAD_ARGUMENT':
        return new UsageError(err.message);
      case 'SIPFLEET_ERR_DISPATCHER_UNKNOWN_DESTINATION':
        return new CtlError(err.message, EXIT.notFound);
      default:
        return new CtlError(`${err.code}: ${err.message}`, EXIT.failure);
    }
  }
  if (err instanceof SipfleetDispatcherError && err.code === 'SIPFLEET_ERR_DISPATCHER_STATE') {
    return new UsageError(err.message);
  }
  return err;
}

// ---- list ------------------------------------------------------------------------------------

/** The attrs column broken out: special attributes under their list-file names, then `extra`. */
interface AttrsView {
  [name: string]: string | number | Record<string, string>;
  /** Every other attribute, as written (free-form attributes are kept). */
  extra: Record<string, string>;
}

interface LatencyView {
  /** EWMA of keepalive round trips, ms (Kamailio's EST). */
  estimate: number;
  /** Long-run average, ms (AVG). */
  average: number;
  samples: number;
}

interface DestinationView {
  uri: string;
  flags: number;
  /** Kamailio's two letters: AP, AX, IP, TP, DX, ... */
  flagsText: string;
  priority: number;
  /** The attrs column as stored (list-file format). */
  attrsText: string;
  attrs: AttrsView;
  description: string | null;
  /** Live call-load slots of its load key (duid, else the URI), fleet-wide. */
  load: number;
  /** From the prober's pings; null before the first one. */
  latency: LatencyView | null;
}

interface SetView {
  setid: number;
  destinations: DestinationView[];
}

function attrsView(attrs: DestinationAttrs | undefined): AttrsView {
  if (attrs === undefined) return { extra: {} };
  return { ...Object.fromEntries(specialAttrs(attrs)), extra: Object.fromEntries(attrs.extra) };
}

/**
 * dispatcher.list from DispatcherFleet.list() (flags, load), joined with readFleet for the
 * structured attrs and with the prober's latency hash. A reload between the two reads leaves a
 * destination without structured attrs, never a wrong one (joined by lower-cased URI).
 */
async function readSets(conn: RedisConnection, only: number | undefined) {
  const fleet = new DispatcherFleet(conn);
  const listed = (await fleet.list()).filter((s) => only === undefined || s.setid === only);
  const read = await fleet.read();
  const sets: SetView[] = [];
  for (const set of listed) {
    const latency = await readLatency(conn, set.setid);
    const byUri = new Map<string, Destination>(
      (read.sets.find((s) => s.id === set.setid)?.destinations ?? []).map((d) => [
        d.uri.toLowerCase(),
        d,
      ]),
    );
    sets.push({
      setid: set.setid,
      destinations: set.destinations.map((d: FleetDestinationInfo) => {
        const l = latency.get(d.uri.toLowerCase());
        return {
          uri: d.uri,
          flags: d.flags,
          flagsText: d.flagsText,
          priority: d.priority,
          attrsText: d.attrs,
          attrs: attrsView(byUri.get(d.uri.toLowerCase())?.attrs),
          description: d.description ?? null,
          load: d.load,
          latency: l ? { estimate: l.estimate, average: l.average, samples: l.samples } : null,
        };
      }),
    });
  }
  return { version: read.version, sets };
}

function formatLatency(l: LatencyView | null): string {
  return l === null ? '-' : `${l.estimate.toFixed(1)} ms (avg ${l.average.toFixed(1)})`;
}

function listLines(version: number, sets: SetView[], only: number | undefined): string[] {
  if (sets.length === 0) {
    return [
      only !== undefined
        ? `dispatcher set ${only} does not exist`
        : version === 0
          ? "no dispatcher list in Redis (load one: 'sipfleet ctl dispatcher reload --file FILE')"
          : 'the dispatcher list is empty',
    ];
  }
  const count = sets.reduce((n, s) => n + s.destinations.length, 0);
  return [
    ...columns([
      ['SET', 'URI', 'FLAGS', 'PRIORITY', 'LOAD', 'LATENCY', 'ATTRS', 'DESCRIPTION'],
      ...sets.flatMap((s) =>
        s.destinations.map((d) => [
          String(s.setid),
          d.uri,
          d.flagsText,
          String(d.priority),
          String(d.load),
          formatLatency(d.latency),
          d.attrsText === '' ? '-' : d.attrsText,
          d.description ?? '',
        ]),
      ),
    ]).map((line) => line.trimEnd()),
    `${plural(sets.length, 'set')}, ${plural(count, 'destination')} (list version ${version})`,
  ];
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

async function list(settings: CtlSettings, args: string[]): Promise<number> {
  const [setText] = args;
  const only = setText === undefined ? undefined : parseSetId('SET', setText);
  return withRedis(settings, async (conn) => {
    const { version, sets } = await readSets(conn, only);
    output(settings, { version, sets }, () => listLines(version, sets, only));
    return only !== undefined && sets.length === 0 ? EXIT.notFound : EXIT.ok;
  });
}

// ---- reload ----------------------------------------------------------------------------------

/**
 * dispatcher.reload: read and parse the file before connecting (a bad file changes nothing),
 * then DispatcherFleet.load: each set atomically, vanished sets deleted, one version bump and one
 * `reload` event, after which every edge re-reads the whole list.
 */
async function reload(settings: CtlSettings, _: string[], { file }: { file?: string }) {
  // The edge's own setting (resolved against the config file's directory by loadEdgeConfig).
  file ??= settings.edgeConfig?.dispatcher.listFile;
  if (file === undefined) {
    throw new UsageError(
      'reload needs --file FILE, or --config FILE with dispatcher.listFile (a Kamailio dispatcher.list)',
    );
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CtlError(
      `cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`,
      EXIT.config,
    );
  }
  let sets;
  try {
    sets = parseList(text);
  } catch (err) {
    if (err instanceof SipfleetDispatcherError && err.issues.length > 0) {
      const lines = err.issues.map((i) => `line ${i.line}: ${i.message}`).join('; ');
      throw new CtlError(`${file}: ${lines} (nothing loaded)`, EXIT.config);
    }
    throw err;
  }
  // An empty file would delete every set fleet-wide, and every call would get the
  // no-destination answer: almost always a wrong path or a truncated file, so refuse it.
  if (sets.length === 0) {
    throw new CtlError(
      `${file} lists no destinations; loading it would empty every set (nothing loaded; ` +
        "'dispatcher remove' takes destinations out one by one)",
      EXIT.config,
    );
  }
  return withRedis(settings, async (conn) => {
    const result = await new DispatcherFleet(conn).load(sets);
    output(settings, { file, ...result }, () => [
      `loaded ${file}: ${plural(result.sets, 'set')}, ${plural(result.destinations, 'destination')} ` +
        `(list version ${result.version}); states restart from the file's flags`,
    ]);
    return EXIT.ok;
  });
}

// ---- set-state, add, remove ------------------------------------------------------------------

interface StateChange {
  setid: number;
  uri: string;
  old: { flags: number; flagsText: string };
  new: { flags: number; flagsText: string };
  changed: boolean;
  /** The event published to every edge, null when nothing changed. */
  event: 'dst-down' | 'dst-up' | 'dst-state' | null;
}

function stateChange(setid: number, uri: string, t: Transition): StateChange {
  return {
    setid,
    uri,
    old: { flags: t.oldFlags, flagsText: formatFlags(t.oldFlags) },
    new: { flags: t.newFlags, flagsText: formatFlags(t.newFlags) },
    changed: t.changed,
    event: t.changed ? transitionEventType(t) : null,
  };
}

function stateLine(c: StateChange): string {
  return c.changed
    ? `set ${c.setid} ${c.uri}: ${c.old.flagsText} -> ${c.new.flagsText} (${c.event ?? ''} published)`
    : `set ${c.setid} ${c.uri}: ${c.new.flagsText} (unchanged)`;
}

/**
 * dispatcher.set_state STATE GROUP ADDRESS: the state bits are set as given (no thresholds),
 * `all` sets every destination of the set, as Kamailio's RPC does.
 */
async function setState(settings: CtlSettings, args: string[], { reason }: { reason?: string }) {
  const [state = '', setText, uri = ''] = args;
  const setid = parseSetId('SET', setText);
  return withRedis(settings, async (conn) => {
    const fleet = new DispatcherFleet(conn);
    let uris = [uri];
    if (uri.toLowerCase() === 'all') {
      const set = (await fleet.read()).sets.find((s) => s.id === setid);
      if (set === undefined) {
        throw new CtlError(`dispatcher set ${setid} does not exist`, EXIT.notFound);
      }
      uris = set.destinations.map((d) => d.uri);
    }
    const changes: StateChange[] = [];
    for (const u of uris) {
      const t = await fleet.setState(setid, u, state, { mode: 'rpc', reason: reason ?? 'ctl' });
      changes.push(stateChange(setid, u, t));
    }
    output(settings, uri.toLowerCase() === 'all' ? { changes } : changes[0], () =>
      changes.map(stateLine),
    );
    return EXIT.ok;
  });
}

async function findDestination(fleet: DispatcherFleet, setid: number, uri: string) {
  const set = (await fleet.read()).sets.find((s) => s.id === setid);
  return set?.destinations[indexOfUri(set, withSipScheme(uri))];
}

interface AddOptions {
  flags?: string;
  priority?: string;
  attrs?: string;
  description?: string;
}

/** dispatcher.add: a new destination, or the same URI replaced in its place. */
async function add(settings: CtlSettings, args: string[], o: AddOptions) {
  const [setText, uri = ''] = args;
  const setid = parseSetId('SET', setText);
  const flags = parseInteger('--flags', o.flags, 0, DS_ALL_FLAG_BITS) ?? 0;
  const priority = parseInteger('--priority', o.priority, -0x7fffffff, 0x7fffffff) ?? 0;
  return withRedis(settings, async (conn) => {
    const fleet = new DispatcherFleet(conn);
    const existed = (await findDestination(fleet, setid, uri)) !== undefined;
    const version = await fleet
      .add(setid, uri, flags, priority, o.attrs ?? '', o.description)
      .catch((err: unknown) => {
        // The fleet validates with the list parser, whose messages name a line of a file.
        if (err instanceof DispatcherFleetError) {
          throw new UsageError(err.message.replace(/^dispatcher\.list: line \d+: /, ''));
        }
        throw err;
      });
    const { sets } = await readSets(conn, setid);
    const wanted = withSipScheme(uri).toLowerCase();
    const dst = sets[0]?.destinations.find((d) => d.uri.toLowerCase() === wanted) ?? null;
    output(settings, { setid, replaced: existed, version, destination: dst }, () => [
      `${existed ? 'replaced' : 'added'} ${dst?.uri ?? uri} ${existed ? 'in' : 'to'} set ${setid} ` +
        `(${dst?.flagsText ?? formatFlags(flags)}, priority ${priority}` +
        `${o.attrs ? `, ${o.attrs}` : ''}; list version ${version})`,
    ]);
    return EXIT.ok;
  });
}

/** dispatcher.remove: exit 3 when the set does not hold that URI. */
async function remove(settings: CtlSettings, args: string[]) {
  const [setText, uri = ''] = args;
  const setid = parseSetId('SET', setText);
  return withRedis(settings, async (conn) => {
    const removed = await new DispatcherFleet(conn).remove(setid, uri);
    output(settings, { setid, uri, removed }, () => [
      removed
        ? `removed ${uri} from set ${setid}`
        : `no destination ${uri} in dispatcher set ${setid} (nothing removed)`,
    ]);
    return removed ? EXIT.ok : EXIT.notFound;
  });
}

// ---- hash ------------------------------------------------------------------------------------

/** The option that gives each call input (the algorithm table says which one an alg hashes). */
const KEY_OPTION: Record<CallInputField, string> = {
  callId: 'callid',
  fromUri: 'from',
  toUri: 'to',
  ruri: 'ruri',
  authUser: 'auth',
  hashValue: 'value',
};

/** hash's options: --alg, --set, --limit and the key, under the option named in KEY_OPTION. */
type HashOptions = { alg?: string; set?: string; limit?: string } & Partial<Record<string, string>>;

interface HashRequest {
  alg: number;
  setid: number;
  key: string;
  input: CallInput;
  limit: number;
}

/**
 * --alg, --set and --limit, each defaulting to the edge's routing.dispatcher from --config, so
 * `hash --config edge.yaml --callid X` asks exactly what that edge's default route would do.
 */
function hashRequest(
  values: HashOptions,
  route: { set: number; algorithm: number; limit: number } | undefined,
): HashRequest {
  const algText = values.alg ?? route?.algorithm.toString();
  const setText = values.set ?? route?.set.toString();
  const limitText = values.limit ?? route?.limit.toString();
  const hashing = `${HASHING_ALGORITHMS.slice(0, -1).join(', ')} or ${HASHING_ALGORITHMS.at(-1)}`;
  if (algText === undefined) throw new UsageError(`hash needs --alg N (${hashing})`);
  if (setText === undefined) throw new UsageError('hash needs --set SET');
  const alg = parseInteger('--alg', algText, 0) ?? 0;
  const field = algorithmEntry(alg)?.hashes?.field;
  if (field === undefined) {
    throw new UsageError(
      `algorithm ${alg} does not hash a key (its choice depends on a counter, chance or load): ` +
        `hash takes --alg ${hashing}`,
    );
  }
  const option = KEY_OPTION[field];
  const given = Object.values(KEY_OPTION).filter((o) => values[o] !== undefined);
  if (given.length !== 1 || given[0] !== option) {
    throw new UsageError(
      `algorithm ${alg} hashes ${CALL_INPUTS[field].what}: give --${option} and no other key`,
    );
  }
  const key = String(values[option]);
  if (key.trim() === '') {
    // Alg 5 without a username is round-robin, alg 7 with an empty value fails: no fixed answer.
    throw new UsageError(`--${option} is empty`);
  }
  return {
    alg,
    setid: parseSetId('--set', setText),
    key,
    input: { [field]: key },
    limit: parseInteger('--limit', limitText, 0) ?? 0,
  };
}

function candidateView(selection: Selection) {
  return selection.candidates.map((c) => ({
    uri: c.destination.uri,
    index: c.index,
    flagsText: formatFlags(c.destination.flags),
  }));
}

/**
 * Which destination `key` maps to now: the set as an edge's snapshot holds it (readFleet, with
 * the current flags) through the core select(), exactly DispatcherView.selectDestinations for a
 * hashing algorithm (those read no counter, random source or Redis state).
 */
async function hash(settings: CtlSettings, _: string[], options: HashOptions): Promise<number> {
  const request = hashRequest(options, settings.edgeConfig?.routing.dispatcher);
  const { alg, setid, key, input, limit } = request;
  return withRedis(settings, async (conn) => {
    const read = await new DispatcherFleet(conn).read();
    const set = read.sets.find((s) => s.id === setid);
    if (set === undefined) {
      throw new CtlError(`dispatcher set ${setid} does not exist`, EXIT.notFound);
    }
    const { hash: h, index = null, selection } = selectHashed(set, alg, input, { limit });
    const name = algorithmEntry(alg)?.name ?? '';
    const candidates = candidateView(selection);
    const result = {
      setid,
      alg,
      algorithm: name,
      key,
      hash: h ?? null,
      index,
      size: set.destinations.length,
      selected: candidates[0] ?? null,
      candidates,
      failure: selection.failure ?? null,
      version: read.version,
    };
    output(settings, result, () => {
      const lines = [
        `set ${setid}, alg ${alg} (${name}) of ${JSON.stringify(key)}: ` +
          (h === undefined
            ? 'no usable key'
            : `hash ${h} -> index ${index ?? ''} of ${set.destinations.length}`),
      ];
      const at = index === null ? undefined : set.destinations[index];
      if (at !== undefined && candidates[0]?.index !== index) {
        lines.push(`index ${index ?? ''} is ${at.uri} (${formatFlags(at.flags)}): skipped`);
      }
      const [first, ...rest] = candidates;
      if (first === undefined) {
        lines.push(`no destination: ${selection.failure?.message ?? 'none'}`);
      } else {
        lines.push(`selected: ${first.uri} (${first.flagsText})`);
        lines.push(`failover: ${rest.length === 0 ? '-' : rest.map((c) => c.uri).join(', ')}`);
      }
      return lines;
    });
    return candidates.length > 0 ? EXIT.ok : EXIT.notFound;
  });
}

// ---- ping-active, probe ----------------------------------------------------------------------

/** dispatcher.ping_active: the fleet-wide probing switch every prober checks before a batch. */
async function pingActive(settings: CtlSettings, [action]: string[]) {
  return withRedis(settings, async (conn) => {
    if (action !== 'status') await setPingActive(conn, action === 'on');
    const active = await getPingActive(conn);
    const stored = await conn.call('GET', conn.keys.dsPingActive());
    const value = typeof stored === 'string' ? stored : null;
    output(settings, { active, value }, () => [
      `ping-active: ${active ? 'on' : 'off'}` +
        (value === null ? ' (not set: on by default)' : '') +
        (active ? '' : ' (probers skip every ping, probe-now included)'),
    ]);
    return EXIT.ok;
  });
}

/** Probe now: one BullMQ job that the next free prober runs at once (whatever the flags). */
async function probe(settings: CtlSettings, args: string[]) {
  const [setText, uri = ''] = args;
  const setid = parseSetId('SET', setText);
  return withRedis(settings, async (conn) => {
    const dst = await findDestination(new DispatcherFleet(conn), setid, uri);
    if (dst === undefined) {
      throw new CtlError(`no destination ${uri} in dispatcher set ${setid}`, EXIT.notFound);
    }
    try {
      await requestProbe(conn, setid, dst.uri);
    } catch (err) {
      throw new CtlError(
        `cannot queue the probe: ${err instanceof Error ? err.message : String(err)}`,
        EXIT.failure,
      );
    }
    const active = await getPingActive(conn);
    output(settings, { setid, uri: dst.uri, queued: true, pingActive: active }, () => [
      `probe of ${dst.uri} in set ${setid} queued: a prober pings it now ('dispatcher list' shows the result)`,
      ...(active ? [] : ["note: ping-active is off, so probers skip it ('ping-active on')"]),
    ]);
    return EXIT.ok;
  });
}

// ---- group ---------------------------------------------------------------------------------

/** A dispatcher command's action: the dispatcher's typed errors become ctl's exit codes. */
function dispatcherAction<O extends object>(
  handler: (settings: CtlSettings, args: string[], options: O) => Promise<number>,
) {
  return ctlAction<O>(async (...a) => {
    try {
      return await handler(...a);
    } catch (err) {
      throw translate(err);
    }
  });
}

export function addDispatcher(program: CtlCommand): void {
  const ds = program.group(
    'dispatcher',
    'list, reload, set-state, add, remove, hash, ping-active, probe',
    "Kamailio's dispatcher RPCs (in brackets) on the fleet's destination list in Redis.",
  );
  ds.command('list')
    .alias('dump')
    .description('flags, priority, attrs, load, latency  [dispatcher.list]')
    .argument('[SET]')
    .action(dispatcherAction(list));
  ds.command('reload')
    .description('load a dispatcher.list fleet-wide  [dispatcher.reload]')
    .option('--file <FILE>', 'the list file (default: dispatcher.listFile of --config)')
    .action(dispatcherAction(reload));
  ds.command('set-state')
    .description(
      'set a destination state (a second p adds probing: ap, ip, tp)  [dispatcher.set_state]',
    )
    .argument('STATE', 'a, i, d, t (or 1, 0, 2, 3), optionally followed by p')
    .argument('SET')
    .argument('URI|all')
    .option('--reason <TEXT>', 'carried by the dst-down/dst-up event (default ctl)')
    .action(dispatcherAction(setState));
  ds.command('add')
    .description('add or replace a destination  [dispatcher.add]')
    .argument('SET')
    .argument('URI')
    .option('--flags <N>', 'flag bits 0-63 (default 0)')
    .option('--priority <N>', 'priority (default 0)')
    .option('--attrs <A>', "attributes, 'k=v;...'")
    .option('--description <TEXT>', 'free text')
    .action(dispatcherAction(add));
  ds.command('remove')
    .description('remove a destination  [dispatcher.remove]')
    .argument('SET')
    .argument('URI')
    .action(dispatcherAction(remove));
  const hashCommand = ds
    .command('hash')
    .description('the destination an edge picks for KEY now (--alg N --set SET KEY)')
    .option('--alg <N>', 'a hashing algorithm (default: routing.dispatcher of --config)')
    .option('--set <SET>', 'the set (default: routing.dispatcher of --config)')
    .option('--limit <N>', 'caps the failover list (default: routing.dispatcher of --config)');
  for (const [field, option] of Object.entries(KEY_OPTION)) {
    const algs = HASHING_ALGORITHMS.filter((a) => algorithmEntry(a)?.hashes?.field === field);
    hashCommand.option(
      `--${option} <KEY>`,
      `${CALL_INPUTS[field as CallInputField].what}: the key of --alg ${algs.join(', ')}`,
    );
  }
  hashCommand.action(dispatcherAction(hash));
  ds.command('ping-active')
    .description('probing on/off fleet-wide  [dispatcher.ping_active]')
    .addArgument(new Argument('on|off|status').choices(['on', 'off', 'status']))
    .action(dispatcherAction(pingActive));
  ds.command('probe')
    .description('have a prober ping one destination now')
    .argument('SET')
    .argument('URI')
    .action(dispatcherAction(probe));
}
