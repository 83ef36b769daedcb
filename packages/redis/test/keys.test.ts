import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { KEY_CATALOGUE, KeyBuilder, SipfleetRedisError } from '../src/index.js';

const DOC = new URL('../../../docs/redis-keys.md', import.meta.url);

/** Rows of the markdown table whose first header cell is `name`. */
function docRows(): Record<string, string>[] {
  const lines = readFileSync(DOC, 'utf8').split('\n');
  const start = lines.findIndex((l) => /^\| name +\|/.test(l));
  assert.ok(start >= 0, 'docs/redis-keys.md has no key table');
  const cells = (line: string) =>
    line
      .slice(1, -1)
      .split('|')
      .map((c) => c.trim().replace(/^`(.*)`$/, '$1'));
  const header = cells(lines[start] ?? '');
  const rows: Record<string, string>[] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    const values = cells(line);
    rows.push(Object.fromEntries(header.map((h, i) => [h, values[i] ?? ''])));
  }
  return rows;
}

test('docs/redis-keys.md lists exactly the KEY_CATALOGUE', () => {
  assert.deepEqual(
    docRows(),
    KEY_CATALOGUE.map((e) => ({ ...e })),
  );
});

test('every catalogue pattern is what its KeyBuilder method builds', () => {
  const keys = new KeyBuilder('pfx');
  for (const entry of KEY_CATALOGUE) {
    const placeholders = [...entry.pattern.matchAll(/<([a-z]+)>/g)]
      .map((m) => m[1] ?? '')
      .filter((p) => p !== 'prefix');
    const args = placeholders.map((p) => `${p}-sample`);
    const build = keys[entry.name] as (...a: string[]) => string;
    const expected = entry.pattern
      .replace('<prefix>', 'pfx')
      .replace(/<([a-z]+)>/g, (_m, p: string) => `${p}-sample`);
    assert.equal(build.apply(keys, args), expected, entry.name);
  }
});

test('hash tags keep a table or a dispatcher set in one slot, braces in names are refused', () => {
  const keys = new KeyBuilder();
  assert.equal(keys.htEntry('config', 'maint'), 'sipfleet:{ht:config}:maint');
  assert.equal(keys.dsLoad('1'), 'sipfleet:{ds:1}:load');
  assert.equal(keys.htEntryPattern('a*b'), 'sipfleet:{ht:a\\*b}:*');
  assert.throws(
    () => keys.htEntry('x}y', 'k'),
    (e: unknown) => e instanceof SipfleetRedisError && e.code === 'SIPFLEET_ERR_REDIS_BAD_KEY',
  );
  assert.throws(() => new KeyBuilder(''), SipfleetRedisError);
});
