#!/usr/bin/env node
// Installs what `npm start` / `npm test` need on a fresh machine, using only Node's standard library:
// npm packages (when node_modules is missing or older than package-lock.json), the Debian packages
// redis-server, and for tests sip-tester (sipp), prometheus (promtool, prometheus), chromium (the
// console test), openssl (TLS tests make their certificates with it) and dnsmasq-base (the DNS
// server of the RFC 3263 tests, /usr/sbin/dnsmasq), through apt-get when missing and we are root.
// `--for start` also builds the tree
// (`tsc -b`): the CLI runs from dist/, which a fresh clone does not have (`npm test` and
// `npm run bench` build through turbo).
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const purpose = process.argv.includes('--for')
  ? process.argv[process.argv.indexOf('--for') + 1]
  : 'test';

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });
  return r.status === 0;
}

/** A command on PATH, or an absolute path that exists (sbin tools are off a user's PATH). */
function onPath(bin) {
  if (bin.startsWith('/')) return existsSync(bin);
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
}

function fail(message) {
  process.stderr.write(`sipfleet bootstrap: ${message}\n`);
  process.exit(1);
}

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 12))
  fail(`Node.js >= 20.12 is required (found ${process.version})`);

// npm packages
const lock = join(root, 'package-lock.json');
const marker = join(root, 'node_modules', '.package-lock.json');
if (
  !existsSync(marker) ||
  (existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs)
) {
  process.stderr.write('sipfleet bootstrap: installing npm packages\n');
  // `npm install`, not `npm ci`: it installs the locked versions too, and unlike `npm ci` it does not
  // refuse a lock that lacks other platforms' optional packages (turbo's), which some npm setups
  // leave out when they write the lock.
  if (!run('npm', ['install', '--no-audit', '--no-fund'])) {
    fail('npm could not install the packages (see above)');
  }
}

// The native UDP engine (packages/transport/native/udp4.c; docs/architecture.md, "UDP engine"),
// built with the node-gyp that ships with npm, against the headers npm is set to use. Without it
// UDP runs on node:dgram: `start` says so and goes on; `test` stops, since tests cover both engines.
const transport = join(root, 'packages', 'transport');
const addon = join(transport, 'build', 'Release', 'udp4.node');
const addonSource = join(transport, 'native', 'udp4.c');
if (!existsSync(addon) || statSync(addon).mtimeMs < statSync(addonSource).mtimeMs) {
  const npmConfig = (key) =>
    process.env[`npm_config_${key}`] ??
    spawnSync('npm', ['config', 'get', key], { encoding: 'utf8' }).stdout?.trim();
  const npmRoot = spawnSync('npm', ['root', '-g'], { encoding: 'utf8' }).stdout?.trim() ?? '';
  const gyp = [
    process.env.npm_config_node_gyp,
    join(npmRoot, 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ].find((p) => p !== undefined && existsSync(p));
  const nodedir = npmConfig('nodedir');
  const built =
    gyp !== undefined &&
    run(
      process.execPath,
      [
        gyp,
        'rebuild',
        '--silent',
        ...(nodedir && existsSync(nodedir) ? [`--nodedir=${nodedir}`] : []),
      ],
      { cwd: transport },
    );
  if (!built) {
    const why = gyp === undefined ? "npm's node-gyp was not found" : 'node-gyp failed (see above)';
    if (purpose === 'test') fail(`the native UDP engine could not be built: ${why}`);
    process.stderr.write(
      `sipfleet bootstrap: the native UDP engine could not be built (${why}); UDP runs on node:dgram\n`,
    );
  }
}

// Debian packages: binary -> package
const wanted = [['redis-server', 'redis-server']];
if (purpose === 'test')
  wanted.push(
    ['sipp', 'sip-tester'],
    ['promtool', 'prometheus'],
    ['chromium', 'chromium'],
    ['/usr/sbin/dnsmasq', 'dnsmasq-base'],
    ['openssl', 'openssl'],
  );
const missing = wanted.filter(([bin]) => !onPath(bin));
if (missing.length > 0) {
  const pkgs = missing.map(([, pkg]) => pkg);
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot || !onPath('apt-get')) {
    fail(
      `missing ${missing.map(([b]) => b).join(', ')}: install the Debian package(s) ${pkgs.join(' ')} (apt-get install ${pkgs.join(' ')})`,
    );
  }
  process.stderr.write(`sipfleet bootstrap: apt-get install ${pkgs.join(' ')}\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  run('apt-get', ['update', '-qq'], { env });
  if (!run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs], { env })) {
    fail(`apt-get could not install ${pkgs.join(' ')}`);
  }
  const still = missing.filter(([bin]) => !onPath(bin));
  if (still.length > 0) fail(`still missing after apt-get: ${still.map(([b]) => b).join(', ')}`);
}

if (purpose === 'start') {
  // Incremental: when dist/ is up to date this only compares file stamps (well under a second).
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  if (!run(process.execPath, [tsc, '-b'])) fail('the TypeScript build failed (see above)');
}
