// Debian's chromium driven by playwright-core, headless, with a fresh profile that is removed once
// the browser has closed (it writes there until then). Closed when the owner test ends.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import type { BrowserContext } from 'playwright-core';
import type { CleanupOwner } from './processes.js';

export const CHROMIUM = '/usr/bin/chromium';

/** The flags every browser test runs with (no sandbox in containers, no background traffic). */
const BASE_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Launches chromium with {@link BASE_ARGS} plus `extraArgs` (e.g. `--ignore-certificate-errors`,
 * fake media devices for WebRTC).
 */
export async function launchChromium(
  owner: CleanupOwner,
  extraArgs: string[] = [],
): Promise<BrowserContext> {
  assert.ok(
    existsSync(CHROMIUM),
    `${CHROMIUM} is missing: browser tests need Debian's chromium ` +
      '(node scripts/bootstrap.mjs --for test, or apt-get install --no-install-recommends chromium)',
  );
  const profile = mkdtempSync(join(tmpdir(), 'sipfleet-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...BASE_ARGS, ...extraArgs],
  });
  owner.after(async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  });
  return context;
}
