// deploy/prometheus checked with Prometheus's own tool: the configuration and the rules load, and the
// alert unit tests pass (promtool from the Debian package prometheus; scripts/bootstrap.mjs installs
// it for `npm test`). Every alert of the rules file must have a unit test in which it fires.
// test/e2e/prometheus.test.ts runs the same files in a real Prometheus against a running fleet.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { parse } from 'yaml';

const dir = new URL('../../../deploy/prometheus/', import.meta.url).pathname;

/** Runs promtool in deploy/prometheus; resolves with its exit code and output (stdout + stderr). */
function promtool(...args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.once('error', (err) =>
      reject(new Error(`cannot run promtool (Debian package prometheus): ${err.message}`)),
    );
    child.once('close', (code) => resolve({ code, output }));
  });
}

interface RuleFile {
  groups: { name: string; rules: { alert?: string; record?: string; expr: string }[] }[];
}
interface RuleTests {
  rule_files: string[];
  tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
}

const yamlFile = <T>(path: string): T => parse(readFileSync(dir + path, 'utf8')) as T;

describe('deploy/prometheus', () => {
  test('promtool check config: the scrape configuration and the rule files it names load', async () => {
    const { code, output } = await promtool('check', 'config', 'prometheus.yml');
    assert.equal(code, 0, output);
    assert.match(output, /SUCCESS: 2 rule files found/);
  });

  test('promtool check rules: recording and alerting rules', async () => {
    const files = ['rules/sipfleet-recording.yml', 'rules/sipfleet-alerts.yml'];
    const { code, output } = await promtool('check', 'rules', ...files);
    assert.equal(code, 0, output);
    const config = yamlFile<{ rule_files: string[] }>('prometheus.yml');
    assert.deepEqual(config.rule_files, files, 'the configuration loads exactly these');
  });

  test('promtool test rules: the alert unit tests pass', async () => {
    const { code, output } = await promtool('test', 'rules', 'tests/sipfleet-alerts.test.yml');
    assert.equal(code, 0, output);
    assert.match(output, /SUCCESS/);
  });

  test('every alert has a unit test in which it fires', () => {
    const alerts = yamlFile<RuleFile>('rules/sipfleet-alerts.yml').groups.flatMap((g) =>
      g.rules.map((r) => r.alert),
    );
    assert.ok(alerts.length >= 10, `${alerts.length} alerts`);
    const tests = yamlFile<RuleTests>('tests/sipfleet-alerts.test.yml');
    assert.deepEqual(tests.rule_files, [
      '../rules/sipfleet-recording.yml',
      '../rules/sipfleet-alerts.yml',
    ]);
    const firing = new Set(
      tests.tests.flatMap((t) =>
        (t.alert_rule_test ?? [])
          .filter((a) => (a.exp_alerts ?? []).length > 0)
          .map((a) => a.alertname),
      ),
    );
    for (const alert of alerts) assert.ok(firing.has(alert!), `no unit test fires ${alert}`);
  });
});
