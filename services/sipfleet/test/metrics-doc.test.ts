import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { EdgeMetrics } from '../src/metrics.js';

const doc = readFileSync(new URL('../../../docs/metrics.md', import.meta.url), 'utf8');

function documented(section: string): string[] {
  const start = doc.indexOf(`## ${section}`);
  assert.ok(start >= 0, `docs/metrics.md has a '## ${section}' section`);
  const rest = doc.slice(start + 3);
  const end = rest.indexOf('\n## ');
  const body = end < 0 ? rest : rest.slice(0, end);
  return [...body.matchAll(/^\|\s*`(sipfleet_[a-z_]+)`\s*\|/gm)].map((m) => m[1] ?? '').sort();
}

test('docs/metrics.md lists exactly the edge metrics the code registers', async () => {
  const metrics = new EdgeMetrics('test', () => ({ server: 0, client: 0 }));
  const names = (await metrics.registry.getMetricsAsJSON())
    .map((m) => m.name)
    .filter((n) => !n.startsWith('sipfleet_process_'))
    .sort();
  assert.deepEqual(names, documented('Edge'));
});
