// `sipfleet ctl dispatcher hash --alg N --set SET KEY [--limit N]`: the destination an edge picks
// for that key now, through the same select() the edges run.
import {
  CALL_INPUTS,
  type CallInput,
  type CallInputField,
  DispatcherFleet,
  HASHING_ALGORITHMS,
  type Selection,
  algorithmEntry,
  formatFlags,
  selectHashed,
} from '@sipfleet/dispatcher';
import {
  type CtlCommand,
  CtlError,
  type CtlSettings,
  EXIT,
  UsageError,
  output,
  withRedis,
} from '../common.js';
import { dispatcherAction, parseInteger, parseSetId } from './shared.js';

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

export function addHash(ds: CtlCommand): void {
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
}
