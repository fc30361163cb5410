import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '@lockscope/store';
import { launchChromium, withPage as withBrowserPage } from '@lockscope/testing';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDashboard, startDashboard, type DashboardServer } from './test-support/dashboard-server';
import { seedFleet, type Seeded } from './test-support/seed';

// Issue 15: durations read like the rest of the page, charts with nothing to draw say why,
// alert messages are wrapped, not cut.

let dir = '';
let live: DashboardServer | undefined;
let browser: Browser | undefined;
let seeded: Seeded;
/** A message longer than the 120 characters the page used to cut it at. */
const LONG_MESSAGE =
  'Lock "/locks/cron-leader" on etcd-main: P95 acquisition latency 1 m 25 s over the last 5 m (12 acquisitions) is above 50 ms; the slowest waiters were queued behind a holder that renewed for ten minutes. END-OF-MESSAGE';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lockscope-charts-browser-'));
  const config = join(dir, 'lockscope.yaml');
  writeFileSync(config, 'sources: []\n');
  const dbUrl = `file:${join(dir, 'store.db')}`;
  await buildDashboard();
  live = await startDashboard({ DATABASE_URL: dbUrl, LOCKSCOPE_CONFIG: config });
  const store = await openStore({ url: dbUrl });
  try {
    await store.migrate();
    seeded = await seedFleet(store);
    await store.prisma.alert.create({
      data: {
        rule: 'slow_acquisition', state: 'firing', source: 'etcd-main', lockId: seeded.ids.contended, lockName: '/locks/cron-leader',
        startedAt: BigInt(Date.now() - 60_000), value: 85_000, threshold: 50, message: LONG_MESSAGE, openKey: `slow_acquisition|${seeded.ids.contended}`,
      },
    });
  } finally {
    await store.close();
  }
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await live?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const withPage = (fn: (page: Page, errors: string[]) => Promise<void>) => withBrowserPage(browser!, fn);
/** What formatMs prints: "85 ms", "1.5 s", "12 s", "1 m 25 s"; never thousands of ms. */
const DURATION = /^(0|\d{1,3}(\.\d+)?) ms$|^\d+(\.\d)? s$|^\d+ m( \d+ s)?$/;

describe('lock page charts and alert messages', () => {
  it('labels the latency axis with durations like the rest of the page', async () => {
    await withPage(async (page, errors) => {
      await page.goto(`${live!.url}/locks/${seeded.ids.contended}?range=1h`);
      const latency = page.getByTestId('latency-chart');
      await latency.locator('.slow-line').waitFor({ state: 'attached' });
      // recharts 3 draws tick labels in a layer of their own, not inside the axis group; the
      // left axis's labels are the end-anchored ones (the time axis's are centred).
      const yTicks = latency.locator('.recharts-cartesian-axis-tick-value[text-anchor="end"]');
      await yTicks.first().waitFor({ state: 'attached' });
      const ticks = await yTicks.allTextContents();
      expect(ticks.length).toBeGreaterThan(2);
      for (const tick of ticks) expect(tick).toMatch(DURATION);
      expect(await latency.textContent()).toContain('50 ms');
      expect(errors).toEqual([]);
    });
  });

  it('explains each chart that has nothing to draw in the range', async () => {
    await withPage(async (page, errors) => {
      const to = Date.now() - 20 * 86_400_000;
      await page.goto(`${live!.url}/locks/${seeded.ids.contended}?range=custom&from=${to - 3_600_000}&to=${to}`);
      await expect.poll(() => page.getByTestId('chart-empty').count(), { timeout: 20_000 }).toBe(3);
      const texts = await page.getByTestId('chart-empty').allTextContents();
      expect(texts[0]).toMatch(/^No acquisition latency between .+ and .+\. .*had to wait.*Pick a longer range/);
      expect(texts.some((t) => /^No holds between/.test(t))).toBe(true);
      expect(texts.some((t) => /^No acquisitions or waiters between/.test(t))).toBe(true);
      // No empty grid is drawn under the explanation.
      expect(await page.locator('.recharts-surface').count()).toBe(0);
      expect(errors).toEqual([]);
    });
  });

  it('shows an alert message whole, wrapped over lines, on the alerts page and the lock page', async () => {
    await withPage(async (page, errors) => {
      await page.setViewportSize({ width: 1100, height: 900 });
      for (const path of ['/alerts', `/locks/${seeded.ids.contended}?range=1h`]) {
        await page.goto(`${live!.url}${path}`);
        const message = page.locator('.alert-message', { hasText: 'END-OF-MESSAGE' });
        await message.waitFor();
        expect(await message.textContent(), path).toBe(LONG_MESSAGE);
        const box = await message.evaluate((el) => {
          const lineHeight = parseFloat(getComputedStyle(el).lineHeight) || 20;
          const rects = el.getClientRects();
          return { lines: rects.length, lineHeight, overflow: el.parentElement!.scrollWidth > el.parentElement!.clientWidth };
        });
        expect(box.lines, path).toBeGreaterThan(1);
        expect(box.overflow, path).toBe(false);
      }
      expect(errors).toEqual([]);
    });
  });
});
