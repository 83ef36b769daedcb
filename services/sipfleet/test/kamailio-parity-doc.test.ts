// docs/kamailio-parity.md maps Kamailio names to sipfleet and to the test that shows each one. This
// keeps it honest: every test it cites exists under that title, every `sipfleet ctl …` command it
// names is a real command, and no module table is empty.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { Command } from 'commander';
import { ctlProgram } from '../src/commands/ctl/index.js';

const root = new URL('../../../', import.meta.url);
const doc = readFileSync(new URL('docs/kamailio-parity.md', root), 'utf8');

interface Row {
  readonly section: string;
  readonly line: number;
  readonly cells: readonly string[];
}

/** Every body row of every table, with the `## ` section it sits in. */
function rows(): Row[] {
  const out: Row[] = [];
  let section = '';
  doc.split('\n').forEach((text, i) => {
    if (text.startsWith('## ')) section = text.slice(3);
    if (!text.startsWith('|') || /^\|\s*(Kamailio|-)/.test(text)) return;
    // A cell may hold `a | b` inside backticks; split on pipes outside them.
    const cells = text
      .slice(1, text.trimEnd().length - 1)
      .split(/\|(?=(?:[^`]*`[^`]*`)*[^`]*$)/)
      .map((c) => c.trim());
    out.push({ section, line: i + 1, cells });
  });
  return out;
}

const sections = [...doc.matchAll(/^## (.+)$/gm)].map((m) => m[1] ?? '');

test('docs/kamailio-parity.md has a filled table in every module section', () => {
  assert.ok(sections.length >= 7, 'one section per module');
  const all = rows();
  for (const section of sections) {
    assert.ok(
      all.some((r) => r.section === section),
      `section '${section}' has at least one row`,
    );
  }
  for (const r of all) assert.equal(r.cells.length, 4, `line ${r.line}: four cells`);
});

test('every test docs/kamailio-parity.md cites exists under that title', () => {
  for (const r of rows()) {
    const cell = r.cells[2] ?? '';
    for (const ref of cell.split('<br>').map((s) => s.trim())) {
      const m = /^`([^`]+\.test\.ts)` › (.+)$/.exec(ref);
      assert.ok(m, `line ${r.line}: '${ref}' is \`path.test.ts\` › title`);
      const [, path = '', title = ''] = m;
      const file = new URL(path, root);
      assert.ok(existsSync(file), `line ${r.line}: ${path} exists`);
      assert.ok(
        readFileSync(file, 'utf8').includes(title),
        `line ${r.line}: ${path} has a test titled '${title}'`,
      );
    }
  }
});

/**
 * The command `words` names under `program`: each word names a subcommand while there are
 * subcommands to choose from; the rest are its arguments. Undefined when a word names none.
 */
function find(program: Command, words: readonly string[]): Command | undefined {
  let at = program;
  for (const w of words) {
    if (at.commands.length === 0) break;
    const next = at.commands.find((c) => c.name() === w);
    if (next === undefined) return undefined;
    at = next;
  }
  return at === program ? undefined : at;
}

test('every `sipfleet ctl` command docs/kamailio-parity.md names is a real command', () => {
  const program = ctlProgram({});
  let named = 0;
  for (const r of rows()) {
    for (const m of (r.cells[1] ?? '').matchAll(/`sipfleet ctl ([^`]+)`/g)) {
      assert.ok(find(program, (m[1] ?? '').split(/\s+/)), `line ${r.line}: 'sipfleet ctl ${m[1]}'`);
      named++;
    }
  }
  assert.ok(named > 0, 'the table names ctl commands');
});
