// The import-boundary check of `npm run lint` (.dependency-cruiser.cjs) must fail on a back-import
// between packages, on a library importing a process, and on a cycle, and pass a tree with none.
// It runs the real depcruise over small trees written to a temporary folder with the project's
// own rules.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const depcruise = join(root, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');

const made: string[] = [];
after(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** Writes `files` (path → source) into a fresh tree and runs the check over it. */
function check(files: Record<string, string>): { status: number | null; out: string } {
  const dir = mkdtempSync(join(tmpdir(), 'sipfleet-boundaries-'));
  made.push(dir);
  copyFileSync(join(root, 'tsconfig.base.json'), join(dir, 'tsconfig.base.json'));
  for (const [path, source] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), source);
  }
  const r = spawnSync(
    process.execPath,
    [depcruise, 'packages', 'services', '--config', join(root, '.dependency-cruiser.cjs')],
    { cwd: dir, encoding: 'utf8' },
  );
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

const clean = {
  'packages/sip/src/message.ts': 'export const message = 1;\n',
  'packages/transport/src/udp.ts':
    "import { message } from '../../sip/src/message.js';\nexport const udp = message;\n",
  'services/sipfleet/src/edge.ts':
    "import { udp } from '../../../packages/transport/src/udp.js';\nexport const edge = udp;\n",
};

test('a tree that follows the layers passes', () => {
  const r = check(clean);
  assert.equal(r.status, 0, r.out);
});

test('a package importing a package above it fails, naming the layer rule', () => {
  const r = check({
    ...clean,
    'packages/proxy/src/core.ts': 'export const core = 1;\n',
    'packages/transport/src/udp.ts':
      "import { core } from '../../proxy/src/core.js';\nexport const udp = core;\n",
  });
  assert.notEqual(r.status, 0);
  assert.match(r.out, /layer-transport/);
});

test('a library importing a process fails', () => {
  const r = check({
    ...clean,
    'packages/redis/src/bad.ts':
      "import { edge } from '../../../services/sipfleet/src/edge.js';\nexport const bad = edge;\n",
  });
  assert.notEqual(r.status, 0);
  assert.match(r.out, /libraries-never-import-processes/);
});

test('an import cycle inside a package fails, type-only imports included', () => {
  const r = check({
    ...clean,
    'packages/sip/src/a.ts': "import type { B } from './b.js';\nexport interface A { b?: B }\n",
    'packages/sip/src/b.ts': "import type { A } from './a.js';\nexport interface B { a?: A }\n",
  });
  assert.notEqual(r.status, 0);
  assert.match(r.out, /no-circular/);
});
