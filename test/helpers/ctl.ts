// Runs the built `sipfleet ctl …` as a child process, as an operator would, with a clean
// SIPFLEET_* environment plus `env`. Shared by the ctl test files and the e2e tests.
import { execFile } from 'node:child_process';
import { SIPFLEET_BIN } from './edge.js';

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export function ctl(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const base = { ...process.env };
  delete base.SIPFLEET_REDIS_URL;
  delete base.SIPFLEET_PREFIX;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [SIPFLEET_BIN, 'ctl', ...args],
      { env: { ...base, ...env }, timeout: 30_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
