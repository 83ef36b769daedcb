// Breaks a V8 CPU profile (`node --cpu-prof`) of one edge down per call: each sample's time goes to
// the first category found walking its stack from the leaf towards the root (a Buffer method called
// from the parser is parsing; dgram's send called from the transaction layer is sending). Only the
// samples inside the measured window count, so start-up and shutdown are left out.
import { readFileSync } from 'node:fs';

export interface CallFrame {
  functionName: string;
  url: string;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Category rules, tried in order on one frame; the first that matches names the frame. */
const RULES: [string, (f: CallFrame) => boolean][] = [
  ['GC', (f) => f.functionName === '(garbage collector)'],
  ['idle', (f) => f.functionName === '(idle)'],
  ['Redis', (f) => /\/packages\/redis\/|node_modules\/(iovalkey|ioredis|@redis|redis)/.test(f.url)],
  ['send', (f) => f.url === 'node:dgram' && /send|Send/.test(f.functionName)],
  ['send', (f) => /\/transport\/dist\/udp(-native)?\.js$/.test(f.url) && /^send(To)?$/.test(f.functionName)],
  ['receive', (f) => f.url === 'node:dgram' || /\/transport\/dist\/udp(-native)?\.js$/.test(f.url)],
  ['serialise', (f) => /\/sip\/dist\//.test(f.url) && /toBuffer|render|writeLine|build/i.test(f.functionName)],
  ['parse', (f) => /\/sip\/dist\//.test(f.url)],
  ['timers', (f) => /\/transaction\/dist\/(timers|clock)\.js$/.test(f.url) || f.url === 'node:internal/timers'],
  ['transaction layer', (f) => /\/transaction\/dist\//.test(f.url)],
  ['routing (proxy, dispatcher, edge pipeline)', (f) => /\/(proxy|dispatcher|htable|keepalive)\/dist\/|\/sipfleet\/dist\/edge\//.test(f.url)],
  ['transport layer (framing, Via routing)', (f) => /\/transport\/dist\//.test(f.url)],
  ['metrics', (f) => /prom-client|\/sipfleet\/dist\/(metrics|process-metrics)\.js$/.test(f.url)],
]; // prettier-ignore
export const OTHER = 'other (Node internals, microtasks, (program))';

/** The category of one JavaScript frame, or undefined when none of the rules names it. */
export function frameCategory(frame: CallFrame): string | undefined {
  for (const [name, test] of RULES) if (test(frame)) return name;
  return undefined;
}

function category(node: ProfileNode, parent: Map<number, ProfileNode>): string {
  for (let n: ProfileNode | undefined = node; n !== undefined; n = parent.get(n.id)) {
    const found = frameCategory(n.callFrame);
    if (found !== undefined) return found;
  }
  return OTHER;
}

export interface Breakdown {
  /** Category → µs of main-thread CPU per call (idle left out). */
  perCall: [string, number][];
  /** Sum of perCall. */
  totalUs: number;
  /** The ten functions with the most self time per call (`name file`, µs). */
  top: [string, number][];
}

/**
 * `window`: the measured interval in the profile's clock (µs, CLOCK_MONOTONIC, the clock of
 * `process.hrtime`); `calls`: calls completed in it.
 */
export function breakdown(
  file: string,
  window: { fromUs: number; toUs: number },
  calls: number,
): Breakdown {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, ProfileNode>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n);
  const self = new Map<number, number>();
  let t = profile.startTime;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i + 1] ?? 0; // time until the next sample is this one's
    t += profile.timeDeltas[i] ?? 0;
    if (t >= window.fromUs && t < window.toUs) self.set(id, (self.get(id) ?? 0) + delta);
  });
  const cats = new Map<string, number>();
  const fns = new Map<string, number>();
  for (const [id, us] of self) {
    const node = byId.get(id);
    if (node === undefined) continue;
    const cat = category(node, parent);
    if (cat === 'idle') continue;
    cats.set(cat, (cats.get(cat) ?? 0) + us);
    const f = node.callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(packages|services|node_modules)\//, '')}`;
    fns.set(key, (fns.get(key) ?? 0) + us);
  }
  const per = (m: Map<string, number>) =>
    [...m.entries()]
      .map(([k, us]) => [k, us / Math.max(calls, 1)] as [string, number])
      .sort((a, b) => b[1] - a[1]);
  const perCall = per(cats);
  return {
    perCall,
    totalUs: perCall.reduce((s, [, v]) => s + v, 0),
    top: per(fns).slice(0, 10),
  };
}
