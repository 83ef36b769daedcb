#!/usr/bin/env node
// Runs every *.test.ts in the tree with node's test runner (TypeScript through tsx), two files at a
// time: the machine has two cores and the e2e files drive sipp and several processes each. The
// SOLO files run after that, alone.
//
// A file's tier shows in its path (docs/architecture.md, "Tests"): test/e2e/ (real sipp and
// processes), test/fault/ (the same, with something broken on purpose), *.redis.test.ts (a real
// redis-server), anything else unit. `--tier e2e` (repeatable) runs one tier; other arguments keep
// the files whose path contains one of them.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function collect(dir, out) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) collect(path, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, path));
  }
  return out;
}

/** @param {string} file */
function tierOf(file) {
  if (file.startsWith('test/e2e/')) return 'e2e';
  if (file.startsWith('test/fault/')) return 'fault';
  if (file.endsWith('.redis.test.ts')) return 'redis';
  return 'unit';
}

/**
 * Files start in this tier order, the slow ones first: with two at a time, a long e2e file left
 * for the end would run on alone while the other slot has nothing left to do.
 */
const TIER_ORDER = ['e2e', 'fault', 'redis', 'unit'];

const args = process.argv.slice(2);
const tiers = args.flatMap((a, i) => (args[i - 1] === '--tier' ? [a] : []));
const filter = args.filter((a, i) => a !== '--tier' && args[i - 1] !== '--tier');
const files = ['packages', 'services', 'test']
  .flatMap((top) => collect(join(root, top), []))
  .filter((f) => filter.length === 0 || filter.some((x) => f.includes(x)))
  .filter((f) => tiers.length === 0 || tiers.includes(tierOf(f)))
  .sort(
    (a, b) => TIER_ORDER.indexOf(tierOf(a)) - TIER_ORDER.indexOf(tierOf(b)) || (a < b ? -1 : 1),
  );
if (files.length === 0) {
  process.stderr.write('run-tests: no test files found\n');
  process.exit(1);
}
const count = {};
for (const f of files) count[tierOf(f)] = (count[tierOf(f)] ?? 0) + 1;
process.stderr.write(
  `run-tests: ${files.length} files (${Object.entries(count)
    .map(([tier, n]) => `${tier} ${n}`)
    .join(', ')})\n`,
);
/**
 * Files that saturate both cores on purpose (a flood far past what an edge holds) run alone, after
 * the rest: beside another file they measure that file's load as well, and whether the flooded
 * edge serves part of its flood then depends on the neighbour.
 */
const SOLO = ['test/fault/overload.test.ts'];

/** One node --test run of `list`; true when it passed (an empty list passes). */
function run(list, concurrency) {
  if (list.length === 0) return true;
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '--test',
      `--test-concurrency=${concurrency}`,
      '--test-reporter=spec',
      ...list,
    ],
    { stdio: 'inherit', cwd: root },
  );
  return r.status === 0;
}

const shared = run(
  files.filter((f) => !SOLO.includes(f)),
  2,
);
const solo = run(
  files.filter((f) => SOLO.includes(f)),
  1,
);
process.exit(shared && solo ? 0 : 1);
