// `sipfleet completion bash`, loaded into a real bash the way an operator loads it, asked what
// completes a few partial command lines.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { SIPFLEET_BIN } from './ctl-run.js';

/** Runs bash's completion function for each line (the last word is the one being completed). */
function complete(...lines: string[][]): string[][] {
  const script = execFileSync(process.execPath, [SIPFLEET_BIN, 'completion', 'bash'], {
    encoding: 'utf8',
  });
  const calls = lines
    .map((words) => {
      const quoted = words.map((w) => `'${w}'`).join(' ');
      return `COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; _sipfleet; echo "\${COMPREPLY[*]}"`;
    })
    .join('\n');
  const out = execFileSync('bash', ['--norc', '--noprofile', '-c', `${script}\n${calls}`], {
    encoding: 'utf8',
  });
  return out
    .trimEnd()
    .split('\n')
    .map((line) => line.split(' ').filter(Boolean));
}

test('bash completes commands, ctl groups, subcommands, options and argument choices', () => {
  const [top, groups, htable, maintenanceOn, pingActive, afterValue] = complete(
    ['sipfleet', 'c'],
    ['sipfleet', 'ctl', ''],
    ['sipfleet', 'ctl', '--redis-url', 'redis://127.0.0.1:6379', 'htable', 's'],
    ['sipfleet', 'ctl', 'maintenance', 'on', '--'],
    ['sipfleet', 'ctl', 'dispatcher', 'ping-active', ''],
    ['sipfleet', 'ctl', '--prefix', 'htable', ''],
  );
  assert.deepEqual(top, ['ctl', 'completion']);
  assert.deepEqual(
    groups?.filter((w) => !w.startsWith('-')),
    ['dispatcher', 'fleet', 'htable', 'keepalive', 'maintenance', 'secfilter'],
  );
  assert.deepEqual([...(groups ?? [])].filter((w) => w.startsWith('-')).sort(), [
    '--config',
    '--help',
    '--json',
    '--prefix',
    '--redis-url',
  ]);
  // The value of --redis-url is skipped, not taken for a command.
  assert.deepEqual(htable, ['sets', 'seti', 'setex', 'stats']);
  assert.deepEqual(
    maintenanceOn?.filter((w) => ['--node', '--expire'].includes(w)),
    ['--node', '--expire'],
  );
  assert.deepEqual(
    pingActive?.filter((w) => !w.startsWith('-')),
    ['on', 'off', 'status'],
  );
  // 'htable' is the value of --prefix here, so ctl's groups complete, not htable's commands.
  assert.ok(afterValue?.includes('maintenance'), afterValue?.join(' '));
});

test('every group in ctl --help completes after sipfleet ctl', () => {
  const help = execFileSync(process.execPath, [SIPFLEET_BIN, 'ctl', '--help'], {
    encoding: 'utf8',
  });
  const listed = [...help.slice(help.indexOf('commands:')).matchAll(/^ {2}([a-z-]+) {2,}/gm)].map(
    (m) => m[1],
  );
  assert.ok(listed.length >= 5, help);
  for (const group of listed) {
    const [words] = complete(['sipfleet', 'ctl', group ?? '', '']);
    assert.ok((words ?? []).length > 0, `nothing completes after ctl ${group ?? ''}`);
  }
});

test('completion takes bash or zsh; anything else is usage, exit 2', () => {
  const zsh = spawnSync(process.execPath, [SIPFLEET_BIN, 'completion', 'zsh'], {
    encoding: 'utf8',
  });
  assert.equal(zsh.status, 0);
  assert.match(zsh.stdout, /^autoload -U \+X bashcompinit && bashcompinit\n/);
  const fish = spawnSync(process.execPath, [SIPFLEET_BIN, 'completion', 'fish'], {
    encoding: 'utf8',
  });
  assert.equal(fish.status, 2);
  assert.match(fish.stderr, /usage: sipfleet completion bash\|zsh/);
});
