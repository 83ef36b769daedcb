import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';

const bin = new URL('../bin/sipfleet.js', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

test('sipfleet version prints the package version', () => {
  const r = spawnSync(process.execPath, [bin, 'version'], { encoding: 'utf8' });
  assert.equal(r.status, 0);
  assert.equal(r.stdout, `sipfleet ${pkg.version}\n`);
});

test('an unknown command exits 2 and names the command', () => {
  const r = spawnSync(process.execPath, [bin, 'frobnicate'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown command 'frobnicate'/);
});

/** The names `main()` dispatches on, read from its switch (aliases such as --help left out). */
function dispatchedCommands(): string[] {
  const source = readFileSync(new URL('../src/cli.ts', import.meta.url), 'utf8');
  return [...source.matchAll(/^\s*case '([a-z][a-z-]*)':/gm)].map((m) => m[1] ?? '');
}

test('sipfleet help lists every command, and only commands it runs', () => {
  const r = spawnSync(process.execPath, [bin, 'help'], { encoding: 'utf8' });
  assert.equal(r.status, 0);
  const listed = [...r.stdout.matchAll(/^ {2}([a-z][a-z-]*) {2,}\S/gm)].map((m) => m[1]);
  const dispatched = dispatchedCommands();
  for (const name of ['edge', 'up', 'ctl', 'prober', 'route-api', 'demo-uas', 'version', 'help']) {
    assert.ok(dispatched.includes(name), `main() has no case '${name}'`);
  }
  assert.deepEqual([...listed].sort(), [...dispatched].sort());
});

/**
 * Runs the CLI with an ESM load hook that writes every module URL it loads to a file, and returns
 * those URLs.
 */
function modulesLoadedBy(dir: string, args: readonly string[]): string[] {
  const log = join(dir, `${args.join('_')}.log`);
  const r = spawnSync(process.execPath, ['--import', join(dir, 'register.mjs'), bin, ...args], {
    encoding: 'utf8',
    env: { ...process.env, SIPFLEET_TEST_LOAD_LOG: log },
  });
  assert.equal(r.error, undefined);
  return readFileSync(log, 'utf8').split('\n').filter(Boolean);
}

test('commands are loaded lazily: help and version load no command, ctl loads no edge, prober or HTTP server', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sipfleet-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    join(dir, 'hooks.mjs'),
    `import { appendFileSync } from 'node:fs';
export async function load(url, context, next) {
  appendFileSync(process.env.SIPFLEET_TEST_LOAD_LOG, url + '\\n');
  return next(url, context);
}
`,
  );
  writeFileSync(
    join(dir, 'register.mjs'),
    `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)});\n`,
  );

  for (const args of [['help'], ['version']]) {
    const loaded = modulesLoadedBy(dir, args);
    assert.ok(
      loaded.some((url) => url.endsWith('/dist/cli.js')),
      'the hook saw nothing',
    );
    assert.deepEqual(
      loaded.filter((url) => url.includes('/dist/commands/')),
      [],
      `sipfleet ${args.join(' ')}`,
    );
  }

  const ctl = modulesLoadedBy(dir, ['ctl', '--help']);
  assert.ok(ctl.some((url) => url.endsWith('/dist/commands/ctl/index.js')));
  const heavy =
    /\/dist\/(edge|commands\/(edge|up|prober|route-api|demo-uas))\.js$|\/node_modules\/(fastify|prom-client)\//;
  assert.deepEqual(
    ctl.filter((url) => heavy.test(url)),
    [],
  );
});
