// Issue 16: the web console on the edge's admin port, in a real browser (Debian's chromium driven
// by playwright-core). Two edges on one real Redis: the page shows both edges and the dispatcher
// destinations, is read-only without the admin token (buttons disabled, the API refuses), and
// after signing in turns maintenance on, which Redis holds and an INVITE answered 503 proves.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { launchChromium } from '@sipfleet/test-helpers/browser';
import { startEdge } from '@sipfleet/test-helpers/edge';
import { freePort } from '@sipfleet/test-helpers/ports';
import { redisCli, startRedis, uniquePrefix } from '@sipfleet/test-helpers/redis-server';
import { probeInvite, probeUntil } from '@sipfleet/test-helpers/sip-probe';

const TOKEN = 'console-e2e-token-0123456789abcdef';

/** What the page's own fetch gets for a POST without the token: the API, not the buttons, decides. */
async function postWithoutToken(page: Page, path: string, body: unknown): Promise<number> {
  return page.evaluate(
    async ([p, b]) => {
      const res = await fetch(`/console/api/${String(p)}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(b),
      });
      return res.status;
    },
    [path, body] as const,
  );
}

describe('web console', { concurrency: 1 }, () => {
  test('fleet view, read-only without the token, maintenance from the page', async (t) => {
    const redis = await startRedis();
    t.after(() => redis.stop());
    const prefix = uniquePrefix();
    const dir = mkdtempSync(join(tmpdir(), 'sipfleet-console-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const uris = [`sip:127.0.0.1:${await freePort()}`, `sip:127.0.0.1:${await freePort()}`];
    const listFile = join(dir, 'dispatcher.list');
    writeFileSync(listFile, uris.map((u) => `1 ${u} 0 0`).join('\n') + '\n');
    const config = { redis: { url: redis.url, prefix }, dispatcher: { listFile } };
    const env = { SIPFLEET_ADMIN_TOKEN: TOKEN };
    // The first edge loads the list into Redis; the second finds it there.
    const a = await startEdge(t, config, env);
    const b = await startEdge(t, config, env);
    const maintKey = `${prefix}:{ht:config}:maint`;

    const context = await launchChromium(t);
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(err.message));
    await page.goto(`http://127.0.0.1:${a.adminPort}/console`);

    // Both edges (from their membership records) and both destinations (from Redis).
    for (const edge of [a, b]) {
      await page.locator(`tr[data-node="edge-${edge.port}"]`).waitFor();
    }
    for (const uri of uris) {
      const row = page.locator(`tr[data-uri="${uri}"]`);
      await row.waitFor();
      assert.match((await row.textContent()) ?? '', /active/);
    }
    // Both edges' /readyz, read by the console edge at the admin addresses of their records.
    await page
      .locator('tr[data-node] td:nth-child(6)', { hasText: /^ready$/ })
      .nth(1)
      .waitFor();
    assert.match((await page.getByTestId('probers').textContent()) ?? '', /Prober records: none/);

    // Read-only: every action button is disabled, and the API refuses the action itself.
    const actions = page.locator('[data-action]');
    assert.ok((await actions.count()) >= 5, 'fleet, node, destination and reload actions shown');
    for (const button of await actions.all()) assert.equal(await button.isDisabled(), true);
    assert.equal(await postWithoutToken(page, 'maintenance', { on: true }), 401);
    assert.equal(await postWithoutToken(page, 'reload', {}), 401);
    assert.equal(
      await postWithoutToken(page, 'destination', { setid: 1, uri: uris[0], active: false }),
      401,
    );
    assert.equal(
      (await redisCli(redis.port, 'EXISTS', maintKey)).trim(),
      '0',
      'nothing was written',
    );
    assert.notEqual(await probeInvite(b.port), 503, 'calls are taken');

    // A wrong token is refused; the right one enables the actions.
    await page.getByTestId('token').fill('not-the-token-at-all-0000');
    await page.getByTestId('login').click();
    await page.locator('#message', { hasText: 'sign-in refused' }).waitFor();
    await page.getByTestId('token').fill(TOKEN);
    await page.getByTestId('login').click();
    await page.getByTestId('auth-state').filter({ hasText: 'signed in' }).waitFor();
    await page.locator('#fleet-on:enabled').waitFor();

    // Maintenance on from the page: Redis holds the flag, the edges answer new calls 503.
    const flippedAt = Date.now();
    await page.getByTestId('fleet-maintenance-on').click();
    await page.getByTestId('fleet-maintenance').filter({ hasText: 'ON' }).waitFor();
    assert.equal((await redisCli(redis.port, 'HGET', maintKey, 'i')).trim(), '1');
    for (const edge of [a, b]) await probeUntil(edge.port, 503, flippedAt);
    // The edges' heartbeats carry it back to the page.
    await page.locator('tr[data-node] td', { hasText: 'maintenance (fleet)' }).nth(1).waitFor();

    // A destination set inactive from the page, as the other edge reads it from Redis.
    await page.locator(`tr[data-uri="${uris[0]}"]`).getByTestId('set-inactive').click();
    for (const deadline = Date.now() + 10_000; ;) {
      assert.ok(Date.now() < deadline, `${uris[0]} never read inactive`);
      const { body } = await b.admin('/console/api/state');
      const state = JSON.parse(body) as {
        dispatcher: { sets: { destinations: { uri: string; active: boolean }[] }[] };
      };
      const dst = state.dispatcher.sets[0]?.destinations.find((d) => d.uri === uris[0]);
      if (dst?.active === false) break;
      await page.waitForTimeout(50);
    }

    // Kept only when SIPFLEET_CONSOLE_SHOT_DIR names a directory (to look at); else removed.
    const shot = join(process.env.SIPFLEET_CONSOLE_SHOT_DIR ?? dir, 'console.png');
    const png = await page.screenshot({ path: shot, fullPage: true });
    assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG');
    t.diagnostic(`screenshot: ${shot}`);

    // Signed out, the page is read-only again.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByTestId('auth-state').filter({ hasText: 'read-only' }).waitFor();
    await page.locator('#fleet-off:disabled').waitFor();
    for (const button of await actions.all()) assert.equal(await button.isDisabled(), true);
    assert.equal(await postWithoutToken(page, 'maintenance', { on: false }), 401);
    assert.equal((await redisCli(redis.port, 'HGET', maintKey, 'i')).trim(), '1', 'still on');
    assert.deepEqual(pageErrors, []);
  });
});
