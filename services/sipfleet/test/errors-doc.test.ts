// docs/errors.md is the error-code catalogue: it must list exactly the SIPFLEET_ERR_* codes that
// appear as string literals in the source of every package and service.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sourceFiles(path, out);
    else if (/\.(ts|mts|cts|js|mjs|lua)$/.test(name) && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** Codes written as string literals ('...', "..." or `...` right around the code) in src trees. */
function codesInSource(): Set<string> {
  const codes = new Set<string>();
  for (const top of ['packages', 'services']) {
    for (const pkg of readdirSync(join(root, top))) {
      const src = join(root, top, pkg, 'src');
      if (!existsSync(src)) continue;
      for (const file of sourceFiles(src)) {
        const text = readFileSync(file, 'utf8');
        for (const m of text.matchAll(/(['"`])(SIPFLEET_ERR_[A-Z0-9_]+)\1/g)) codes.add(m[2] ?? '');
      }
    }
  }
  return codes;
}

/** Codes in the first column of the doc's tables. */
function codesInDoc(): Set<string> {
  const doc = readFileSync(join(root, 'docs', 'errors.md'), 'utf8');
  return new Set(
    [...doc.matchAll(/^\|\s*`(SIPFLEET_ERR_[A-Z0-9_]+)`\s*\|/gm)].map((m) => m[1] ?? ''),
  );
}

test('docs/errors.md lists every SIPFLEET_ERR_* code in the source, and no other', () => {
  const source = codesInSource();
  const doc = codesInDoc();
  assert.ok(source.size > 0, 'found no codes in the source: the scan is broken');
  const missing = [...source].filter((c) => !doc.has(c)).sort();
  const stale = [...doc].filter((c) => !source.has(c)).sort();
  assert.deepEqual({ missing, stale }, { missing: [], stale: [] });
});

test('docs/errors.md lists each code once', () => {
  const doc = readFileSync(join(root, 'docs', 'errors.md'), 'utf8');
  const rows = [...doc.matchAll(/^\|\s*`(SIPFLEET_ERR_[A-Z0-9_]+)`\s*\|/gm)].map((m) => m[1]);
  assert.equal(rows.length, new Set(rows).size);
});
