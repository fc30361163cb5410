import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { openStore, type Store } from '@lockscope/store';
import { freePort, launchChromium, withPage as withBrowserPage } from '@lockscope/testing';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDashboard, dashboardDir, startDashboard, type DashboardServer } from './test-support/dashboard-server';
import { SCRIPT_NAME, seedFleet, type Seeded } from './test-support/seed';
import { tokenFor } from './test-support/test-gate';

const artifacts = resolve(dashboardDir, '../../test-artifacts/dashboard');

let dir = '';
let dbUrl = '';
let live: DashboardServer | undefined;
let down: DashboardServer | undefined;
let browser: Browser | undefined;
let seeded: Seeded;
let opToken = '';
let ids: { scriptFiring: string; contendedSlow: string; contendedExpired: string; sourceDown: string };

async function withStore<T>(fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore({ url: dbUrl });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

async function seedAlerts(store: Store, now: number) {
  const create = async (data: { rule: string; state: 'firing' | 'resolved'; source: string; lockId?: string; lockName?: string; startedAt: number; message: string; value: number; threshold: number }) => {
    const row = await store.prisma.alert.create({
      data: {
        rule: data.rule,
        state: data.state,
        source: data.source,
        lockId: data.lockId ?? null,
        lockName: data.lockName ?? null,
        startedAt: BigInt(data.startedAt),
        resolvedAt: data.state === 'resolved' ? BigInt(data.startedAt + 30_000) : null,
        value: data.value,
        threshold: data.threshold,
        message: data.message,
        openKey: data.state === 'firing' ? `${data.rule}|${data.lockId ?? data.source}` : null,
      },
    });
    return row.id.toString();
  };
  const made = {
    // The message carries the hostile name too: the collector writes it from the key.
    scriptFiring: await create({ rule: 'near_expiry', state: 'firing', source: 'redis-main', lockId: seeded.ids.script, lockName: SCRIPT_NAME, startedAt: now - 120_000, message: `${SCRIPT_NAME} <img src=x onerror="window.__pwned=2"> used 91% of its TTL`, value: 0.91, threshold: 0.8 }),
    contendedSlow: await create({ rule: 'slow_acquisition', state: 'firing', source: 'etcd-main', lockId: seeded.ids.contended, lockName: '/locks/cron-leader', startedAt: now - 10 * 60_000, message: 'P95 acquisition 92 ms over 5 min', value: 92, threshold: 50 }),
    contendedExpired: await create({ rule: 'lease_expired', state: 'resolved', source: 'etcd-main', lockId: seeded.ids.contended, lockName: '/locks/cron-leader', startedAt: now - 20 * 60_000, message: 'lease lapsed while held', value: 310_000, threshold: 300_000 }),
    sourceDown: await create({ rule: 'source_down', state: 'firing', source: 'redis-old', startedAt: now - 30 * 60_000, message: 'redis-old unreachable', value: 1_800_000, threshold: 30_000 }),
  };
  const attempt = (n: number, status: number, ok: boolean, error: string | null) =>
    store.prisma.delivery.create({ data: { alertId: BigInt(made.scriptFiring), webhook: 'ops<b>pager</b>', kind: 'firing', at: BigInt(now - 119_000 + n * 1_000), attempt: n, status, ok, error } });
  await attempt(1, 500, false, 'HTTP 500 from receiver');
  await attempt(2, 200, true, null);
  return made;
}

beforeAll(async () => {
  mkdirSync(artifacts, { recursive: true });
  dir = mkdtempSync(join(tmpdir(), 'lockscope-dash-alerts-browser-'));
  const config = join(dir, 'lockscope.yaml');
  // local-dev: the page acts as the local operator "alice" (the demo's mode).
  writeFileSync(config, 'sources: []\ndashboard: { auth: { mode: local-dev, localDev: { user: alice } } }\n');
  dbUrl = `file:${join(dir, 'store.db')}`;
  await buildDashboard();
  live = await startDashboard({ DATABASE_URL: dbUrl, LOCKSCOPE_CONFIG: config });
  down = await startDashboard({ DATABASE_URL: `postgresql://lockscope:hunter2-secret@127.0.0.1:${await freePort()}/lockscope`, LOCKSCOPE_CONFIG: config });
  // Seeded after start: times are relative to now, and the server reads the wall clock.
  await withStore(async (store) => {
    await store.migrate();
    seeded = await seedFleet(store);
    ids = await seedAlerts(store, seeded.now);
    opToken = await tokenFor(store, 'operator', 'ops-bot');
  });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await live?.stop();
  await down?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const withPage = (fn: (page: Page, errors: string[]) => Promise<void>) => withBrowserPage(browser!, fn, { width: 1400 });

const pwned = (page: Page) => page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned);

describe('alerts in headless Chromium', () => {
  it('lists open alerts first with a <script> lock name as text, and the ack and silence buttons reach the store', async () => {
    await withPage(async (page, errors) => {
      await page.goto(`${live!.url}/alerts`);
      const open = page.getByTestId('open-alerts');
      await open.waitFor();
      expect(await open.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-alert-id')))).toEqual([ids.scriptFiring, ids.contendedSlow, ids.sourceDown]);
      expect(await page.getByTestId('resolved-alerts').locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-alert-id')))).toEqual([ids.contendedExpired]);

      const row = open.locator(`tr[data-alert-id="${ids.scriptFiring}"]`);
      const link = row.locator('a.lock-link');
      expect(await link.textContent()).toBe(SCRIPT_NAME);
      expect(await link.getAttribute('href')).toBe(`/locks/${seeded.ids.script}`);
      expect(await row.textContent()).toContain('<img src=x');
      expect(await row.textContent()).toContain('91% / 80%');
      expect(await page.locator('img').count()).toBe(0);
      expect(await pwned(page)).toBeUndefined();

      await row.getByRole('button', { name: 'deliveries' }).click();
      const log = open.getByTestId('delivery-log');
      await log.waitFor();
      const attempts = await log.locator('tbody tr').allTextContents();
      expect(attempts).toHaveLength(2);
      expect(attempts[0]).toMatch(/ops<b>pager<\/b>.*firing.*1.*failed.*HTTP 500.*HTTP 500 from receiver/);
      expect(attempts[1]!.trim()).toMatch(/2.*delivered.*HTTP 200$/);
      expect(await log.locator('b').count()).toBe(0);
      await page.screenshot({ path: join(artifacts, 'alerts.png'), fullPage: true });

      // The row changes at once (optimistic); the store is checked once the POST has been answered.
      const [ackResponse] = await Promise.all([page.waitForResponse((r) => r.url().endsWith(`/api/v1/alerts/${ids.scriptFiring}/ack`)), row.getByRole('button', { name: 'Acknowledge' }).click()]);
      expect(ackResponse.status()).toBe(200);
      await expect.poll(() => row.getByTestId('acked').textContent()).toMatch(/^alice/);
      const acked = await withStore((s) => s.prisma.alert.findUniqueOrThrow({ where: { id: BigInt(ids.scriptFiring) } }));
      expect(acked.ackedBy).toBe('alice');
      expect(Number(acked.ackedAt)).toBeGreaterThan(seeded.now);
      // Still open (an ack does not resolve), and nothing else was touched.
      expect(acked.state).toBe('firing');
      const other = await withStore((s) => s.prisma.alert.findUniqueOrThrow({ where: { id: BigInt(ids.contendedSlow) } }));
      expect(other.ackedAt).toBeNull();

      const slowRow = open.locator(`tr[data-alert-id="${ids.contendedSlow}"]`);
      await slowRow.getByLabel('Silence for').selectOption({ label: '4 h' });
      const before = Date.now();
      const [silenceResponse] = await Promise.all([page.waitForResponse((r) => r.url().endsWith(`/api/v1/alerts/${ids.contendedSlow}/silence`)), slowRow.getByRole('button', { name: 'Silence' }).click()]);
      expect(silenceResponse.status()).toBe(200);
      await expect.poll(() => slowRow.getByTestId('silenced').textContent()).not.toBe('—');
      const silenced = await withStore((s) => s.prisma.alert.findUniqueOrThrow({ where: { id: BigInt(ids.contendedSlow) } }));
      const until = Number(silenced.silencedUntil);
      expect(until).toBeGreaterThanOrEqual(before + 4 * 3_600_000 - 5_000);
      expect(until).toBeLessThanOrEqual(Date.now() + 4 * 3_600_000);
      // The acknowledger is the server's name for the user, shown in the header; nobody types it.
      expect(await page.getByTestId('session').textContent()).toMatch(/alice · operator \(local-dev\)/);
      expect(await page.getByLabel('Acknowledge as').count()).toBe(0);
      expect(errors).toEqual([]);
    });
  });

  it('filters by rule and source in the URL', async () => {
    await withPage(async (page, errors) => {
      await page.goto(`${live!.url}/alerts`);
      const open = page.getByTestId('open-alerts');
      await open.waitFor();
      await page.getByRole('combobox', { name: /^Rule/ }).selectOption('source_down');
      await page.waitForURL(/rule=source_down/);
      await expect.poll(() => open.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-alert-id')))).toEqual([ids.sourceDown]);
      expect(await page.getByTestId('resolved-alerts').count()).toBe(0);
      expect(await page.locator('section', { hasText: 'Recently resolved' }).textContent()).toContain('No resolved alert matches these filters.');

      await page.goto(`${live!.url}/alerts?source=etcd-main`);
      await expect.poll(() => page.getByTestId('open-alerts').locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-alert-id')))).toEqual([ids.contendedSlow]);
      expect(await page.getByRole('combobox', { name: /^Source/ }).inputValue()).toBe('etcd-main');
      await page.getByRole('button', { name: 'Clear filters' }).click();
      await page.waitForURL((u) => u.search === '');
      await expect.poll(() => page.getByTestId('open-alerts').locator('tbody tr').count()).toBe(3);
      expect(errors).toEqual([]);
    });
  });

  it('the overview badge links to the lock\'s alerts; the detail page has a badge and alert markers on both charts', async () => {
    await withPage(async (page, errors) => {
      await page.goto(`${live!.url}/?name=${encodeURIComponent('<script>')}`);
      const badge = page.locator(`tr[data-lock-id="${seeded.ids.script}"]`).getByTestId('alert-badge');
      await badge.waitFor();
      expect(await badge.textContent()).toBe('1');
      await badge.click();
      await page.waitForURL(new RegExp(`/alerts\\?lockId=${seeded.ids.script}$`));
      await page.getByTestId('lock-filter').waitFor();
      await expect.poll(() => page.getByTestId('open-alerts').locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-alert-id')))).toEqual([ids.scriptFiring]);
      expect(await pwned(page)).toBeUndefined();

      await page.goto(`${live!.url}/locks/${seeded.ids.contended}?range=1h`);
      const header = page.locator('h1').getByTestId('alert-badge');
      await header.waitFor();
      expect(await header.textContent()).toBe('1 open alert');
      expect(await header.getAttribute('href')).toBe(`/alerts?lockId=${seeded.ids.contended}`);
      // Both alerts of this lock started in the last hour: the open one and the resolved one.
      for (const chart of [page.getByTestId('hold-ttl-chart'), page.getByTestId('latency-chart')]) {
        await expect.poll(() => chart.getAttribute('data-alert-markers')).toBe('2');
        await expect.poll(() => chart.locator('.alert-marker line').count()).toBe(2);
        const xs = await chart.locator('.alert-marker line').evaluateAll((lines) => lines.map((l) => Number(l.getAttribute('x1'))));
        // Vertical lines, the older (lease_expired, 20 min ago) left of the newer (10 min ago).
        const vertical = await chart.locator('.alert-marker line').evaluateAll((lines) => lines.every((l) => l.getAttribute('x1') === l.getAttribute('x2')));
        expect(vertical).toBe(true);
        expect(new Set(xs).size).toBe(2);
        expect(await chart.textContent()).toContain('slow_acquisition');
        expect(await chart.locator('.alert-open line').count()).toBe(1);
        expect(await chart.locator('.alert-resolved line').count()).toBe(1);
      }
      await page.screenshot({ path: join(artifacts, 'lock-detail-alerts.png'), fullPage: true });
      expect(errors).toEqual([]);
    });
  });

  it('shows a clear error for an unreachable store and an empty state when nothing matches', async () => {
    await withPage(async (page) => {
      await page.goto(`${down!.url}/alerts`);
      const error = page.locator('.state.error[data-error-code="STORE_UNAVAILABLE"]').first();
      await error.waitFor({ timeout: 30_000 });
      expect(await error.textContent()).toMatch(/Store unavailable/);
      expect(await page.content()).not.toContain('hunter2-secret');
    });
    await withPage(async (page, errors) => {
      await page.goto(`${live!.url}/alerts?rule=long_hold`);
      await expect.poll(() => page.locator('section', { hasText: 'Open' }).first().textContent()).toContain('No open alert matches these filters.');
      expect(errors).toEqual([]);
    });
    const r = await fetch(`${live!.url}/api/v1/alerts/${ids.sourceDown}/ack`, { method: 'POST', headers: { 'Content-Type': 'text/plain', Authorization: `Bearer ${opToken}` }, body: '{}' });
    expect(r.status).toBe(400);
    // A 1 MB body is refused from its declared length, not read and parsed.
    const big = await fetch(`${live!.url}/api/v1/alerts/${ids.sourceDown}/ack`, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${opToken}` }, body: JSON.stringify({ note: 'x'.repeat(1_000_000) }) });
    expect(big.status).toBe(400);
    expect(((await big.json()) as { error: { message: string } }).error.message).toMatch(/body larger than/);
    const row = await withStore((s) => s.prisma.alert.findUniqueOrThrow({ where: { id: BigInt(ids.sourceDown) } }));
    expect(row.ackedBy).toBeNull();
  });
});
