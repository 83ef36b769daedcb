// `npm run fuzz`: the stack fuzzer (./fuzz.ts) with 10^6 messages unless told otherwise.
//   node --expose-gc --import tsx test/fuzz/run.ts [--count N] [--seed S] [--out DIR]
// or FUZZ_COUNT / FUZZ_SEED in the environment. Exits 1 on any violated invariant.
import { parseArgs } from 'node:util';
import { fuzz, mib } from './fuzz.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: process.env.FUZZ_COUNT ?? '1000000' },
    seed: { type: 'string', default: process.env.FUZZ_SEED },
    out: { type: 'string' },
  },
});
const count = Number(values.count);
const seed = values.seed === undefined ? (Math.random() * 0x7fffffff) | 0 : Number(values.seed);
if (!Number.isInteger(count) || count <= 0 || !Number.isInteger(seed)) {
  process.stderr.write('usage: run.ts [--count N] [--seed S] [--out DIR]\n');
  process.exit(2);
}
process.stdout.write(`fuzz: ${count} messages, seed ${seed} (rerun with --seed ${seed})\n`);
let nextReport = count / 10;
const report = await fuzz({
  count,
  seed,
  ...(values.out === undefined ? {} : { outDir: values.out }),
  progress: (p) => {
    if (p.messages < nextReport) return;
    nextReport += count / 10;
    process.stdout.write(
      `  ${p.messages} messages, ${p.seconds.toFixed(0)} s, heap after GC ${mib(p.heapAfterGc)}, live ${JSON.stringify(p.live)}\n`,
    );
  },
});
const lines = [
  `messages ${report.messages} in ${report.seconds.toFixed(1)} s: ${Math.round(report.perSecond)} messages/s`,
  `by kind ${JSON.stringify(report.kinds)}`,
  `proxy ${JSON.stringify(report.proxy)}`,
  `endpoint: ${report.answered} answered statelessly, ${report.dropped} dropped as unparseable`,
  `escapes ${report.escapes}`,
  `error lines logged ${JSON.stringify(report.errorLogs)}`,
  `peak live transactions ${report.peakLive}; after the drain ${JSON.stringify(report.leaked)}, timers left ${report.timersLeft}`,
  `peak RSS ${mib(report.peakRss)}, peak heap ${mib(report.peakHeap)}`,
  `heap after GC: start ${mib(report.heap.start)}, first tenth max ${mib(report.heap.firstTenth)}, last tenth max ${mib(report.heap.lastTenth)}, after the drain ${mib(report.heap.afterDrain)}`,
  `seed ${report.seed}`,
];
process.stdout.write(lines.map((l) => `${l}\n`).join(''));
if (report.violations.length > 0) {
  process.stdout.write(
    `FAILED: ${report.violations.length} violation(s); messages in ${report.outDir}\n`,
  );
  for (const v of report.violations) process.stdout.write(`  ${v}\n`);
  process.exit(1);
}
process.stdout.write('ok: no escapes, no transaction left, heap bounded\n');
