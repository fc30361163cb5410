import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { openStore } from '@lockscope/store';
import { freePort, launchChromium, withPage as withBrowserPage } from '@lockscope/testing';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDashboard, dashboardDir, startDashboard, type DashboardServer } from './test-support/dashboard-server';
import { SCRIPT_NAME, seedFleet, TTL_MS, type Seeded } from './test-support/seed';

const artifacts = resolve(dashboardDir, '../../test-artifacts/dashboard');

let dir = '';
let live: DashboardServer | undefined;
let down: DashboardServer | undefined;
let browser: Browser | undefined;
let seeded: Seeded;
let storeUrl = '';

beforeAll(async () => {
  mkdirSync(artifacts, { recursive: true });
  dir = mkdtempSync(join(tmpdir(), 'lockscope-dash-browser-'));
  const config = join(dir, 'lockscope.yaml');
  writeFileSync(config, 'sources: []\n');
  const dbUrl = `file:${join(dir, 'store.db')}`;
  storeUrl = dbUrl;
  await buildDashboard();
  live = await startDashboard({ DATABASE_URL: dbUrl, LOCKSCOPE_CONFIG: config });
  // Nothing listens on this port: the store is unreachable. The password must never reach the browser.
  down = await startDashboard({ DATABASE_URL: `postgresql://lockscope:hunter2-secret@127.0.0.1:${await freePort()}/lockscope`, LOCKSCOPE_CONFIG: config });
  // Seeded last: the fleet's times are relative to now, and the server reads the wall clock.
  const store = await openStore({ url: dbUrl });
  try {
    await store.migrate();
    seeded = await seedFleet(store);
  } finally {
    await store.close();
  }
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await live?.stop();
  await down?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const withPage = (fn: (page: Page, errors: string[]) => Promise<void>) => withBrowserPage(browser!, fn);

describe('dashboard in headless Chromium', () => {
  it('overview lists the locks with headline figures and flags the near-expiry hold', async () => {
    await withPage(async (page, errors) => {
      const started = performance.now();
      await page.goto(`${live!.url}/?sort=name`);
      const table = page.getByTestId('lock-table');
      await table.waitFor();
      const interactiveMs = performance.now() - started;
      console.log(`overview with ${seeded.total} locks: table rendered and usable ${interactiveMs.toFixed(0)} ms after navigation`);
      const names = await table.locator('tbody tr td:nth-child(2) a').allTextContents();
      expect(names.length).toBe(50);
      expect(names.some((n) => n.includes('/locks/cron-leader'))).toBe(true);
      expect(await page.getByTestId('near-expiry-count').locator('.value').textContent()).toBe('1');
      await page.getByTestId('updated-ago').waitFor();
      expect(await page.getByTestId('updated-ago').textContent()).toMatch(/updated \d+ s ago/);
      await page.screenshot({ path: join(artifacts, 'overview.png'), fullPage: true });

      // Filters live in the URL: the near-expiry state alone leaves one row.
      await page.getByLabel('State').selectOption('near-expiry');
      await page.waitForURL(/state=near-expiry/);
      await expect.poll(() => table.locator('tbody tr').count()).toBe(1);
      const near = table.locator(`tr[data-lock-id="${seeded.ids.nearExpiry}"]`);
      expect(await near.getAttribute('data-near-expiry')).toBe('true');
      expect(await near.getByTestId('near-expiry-badge').isVisible()).toBe(true);
      expect(await near.locator('[role="meter"]').getAttribute('aria-valuenow')).toMatch(/^(9\d|1\d\d)$/);
      await page.screenshot({ path: join(artifacts, 'overview-near-expiry.png') });
      expect(errors).toEqual([]);
    });
  });

  it('renders a lock name containing <script> as text', async () => {
    await withPage(async (page, errors) => {
      await page.goto(`${live!.url}/?name=${encodeURIComponent('<script>')}`);
      const cell = page.locator(`tr[data-lock-id="${seeded.ids.script}"] td:nth-child(2) a`);
      await cell.waitFor();
      expect(await cell.textContent()).toBe(SCRIPT_NAME);
      expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
      const injected = await page.evaluate(() => [...document.querySelectorAll('script')].filter((s) => s.textContent?.includes('__pwned')).length);
      expect(injected).toBe(0);
      await page.goto(`${live!.url}/locks/${seeded.ids.script}`);
      await page.locator('h1 .untrusted').first().waitFor();
      expect(await page.locator('h1 .untrusted').first().textContent()).toContain(SCRIPT_NAME);
      expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
      await page.screenshot({ path: join(artifacts, 'script-name.png') });
      expect(errors).toEqual([]);
    });
  });

  it('detail page draws every hold against the TTL and 0.8 x TTL lines, the latency chart and the waiter queue', async () => {
    await withPage(async (page, errors) => {
      await page.goto(`${live!.url}/locks/${seeded.ids.contended}?range=1h`);
      const chart = page.getByTestId('hold-ttl-chart');
      await chart.waitFor();
      // Six completed holds in the last hour plus the current one.
      expect(await chart.getAttribute('data-holds')).toBe('7');
      await expect.poll(() => chart.locator('.recharts-scatter-symbol').count()).toBe(7);
      expect(await chart.locator('.holds-expired .recharts-scatter-symbol').count()).toBe(1);
      expect(await chart.locator('.holds-force .recharts-scatter-symbol').count()).toBe(1);
      expect(await chart.locator('.holds-current .recharts-scatter-symbol').count()).toBe(1);
      const ttl = chart.locator('.ttl-line line');
      const ttl80 = chart.locator('.ttl80-line line');
      // A horizontal line has an empty bounding box, which Playwright calls hidden.
      await ttl.waitFor({ state: 'attached' });
      const ttlY = Number(await ttl.getAttribute('y1'));
      const ttl80Y = Number(await ttl80.getAttribute('y1'));
      // SVG y grows downwards: the TTL line sits above the 0.8 x TTL line.
      expect(ttlY).toBeLessThan(ttl80Y);
      expect(await chart.textContent()).toContain('0.8 × TTL');
      expect(await chart.getAttribute('data-ttl')).toBe(String(TTL_MS));

      const latency = page.getByTestId('latency-chart');
      await latency.locator('.slow-line').waitFor({ state: 'attached' });
      expect(await latency.locator('.recharts-line').count()).toBe(3);
      expect(await page.getByTestId('waiter-queue').locator('tbody tr').count()).toBe(2);
      expect(await page.getByTestId('holds-table').locator('tbody tr').count()).toBe(7);
      await page.screenshot({ path: join(artifacts, 'lock-detail.png'), fullPage: true });
      expect(errors).toEqual([]);
    });
  });

  it('says "not observable" for a plain SET NX lock instead of drawing zeros, and flags it near expiry', async () => {
    await withPage(async (page, errors) => {
      await page.goto(`${live!.url}/locks/${seeded.ids.nearExpiry}?range=15m`);
      await page.getByTestId('near-expiry-badge').waitFor();
      await expect.poll(() => page.getByTestId('not-observable').count()).toBe(3);
      expect(await page.getByTestId('latency-chart').count()).toBe(0);
      expect(await page.getByTestId('not-observable').first().textContent()).toMatch(/not observable for this dialect/);
      await page.screenshot({ path: join(artifacts, 'not-observable.png'), fullPage: true });
      expect(errors).toEqual([]);
    });
  });

  it('sends a Content-Security-Policy that the overview and a lock page run under without a violation', async () => {
    await withPage(async (page, errors) => {
      const refused: string[] = [];
      page.on('console', (m) => {
        if (/Content Security Policy|Refused to/i.test(m.text())) refused.push(m.text());
      });
      await page.addInitScript(() => {
        document.addEventListener('securitypolicyviolation', (e) => {
          const w = window as unknown as { __csp?: string[] };
          (w.__csp ??= []).push(`${e.violatedDirective} ${e.blockedURI}`);
        });
      });
      const violations = () => page.evaluate(() => (window as unknown as { __csp?: string[] }).__csp ?? []);

      const response = await page.goto(`${live!.url}/`);
      const csp = response!.headers()['content-security-policy'] ?? '';
      const directives = new Map(csp.split(';').map((d) => d.trim().split(/\s+/)).filter((d) => d[0]).map(([name, ...sources]) => [name!, sources]));
      expect(directives.get('default-src')).toEqual(["'self'"]);
      expect(directives.get('script-src')).not.toContain("'unsafe-eval'");
      expect(directives.get('connect-src')).toEqual(["'self'"]);
      expect(directives.get('object-src')).toEqual(["'none'"]);
      expect(directives.get('frame-ancestors')).toEqual(["'none'"]);
      expect(directives.get('base-uri')).toEqual(["'self'"]);
      expect(directives.get('form-action')).toEqual(["'self'"]);
      // The API answers carry it too (and nothing there needs more).
      expect((await fetch(`${live!.url}/api/v1/overview`)).headers.get('content-security-policy')).toBe(csp);

      // Hydrated and fetching under the policy: rows from the API, a client-side sort.
      await page.getByTestId('lock-table').locator('tbody tr').first().waitFor();
      await page.getByTestId('headline').waitFor();
      await page.getByRole('button', { name: /^Held for/ }).click();
      await page.waitForURL(/sort=heldFor/);
      expect(await violations()).toEqual([]);

      // A lock page: recharts' inline styles and SVG, the holds and metrics fetches.
      await page.goto(`${live!.url}/locks/${seeded.ids.contended}?range=1h`);
      await expect.poll(() => page.getByTestId('hold-ttl-chart').locator('.recharts-scatter-symbol').count()).toBe(7);
      await page.getByTestId('latency-chart').locator('.slow-line').waitFor({ state: 'attached' });
      await page.getByTestId('waiter-queue').waitFor();
      expect(await violations()).toEqual([]);
      expect(refused).toEqual([]);
      expect(errors).toEqual([]);

      // The policy is enforced and the listener sees it: page script may not eval
      // (code run inside Playwright's evaluate is exempt, so the attempt runs in a
      // later task) nor connect to another origin.
      await page.evaluate(() => {
        const s = document.createElement('script');
        s.textContent = "setTimeout(() => { try { window.__evalResult = String(eval('1 + 1')); } catch (e) { window.__evalResult = e.name; } }, 0)";
        document.head.appendChild(s);
      });
      const evaluated = await page.waitForFunction(() => (window as unknown as { __evalResult?: string }).__evalResult);
      expect(await evaluated.jsonValue()).toBe('EvalError');
      await expect.poll(violations).toEqual([expect.stringMatching(/^script-src/)]);
      const elsewhere = await page.evaluate(() => fetch('http://127.0.0.1:9/').then(() => 'fetched', (e: Error) => e.name));
      expect(elsewhere).toBe('TypeError');
      await expect.poll(violations).toEqual([expect.stringMatching(/^script-src/), expect.stringMatching(/^connect-src http:\/\/127\.0\.0\.1:9/)]);
    });
  });

  it('an unreachable store gives a clear error page and a 503 from the API, without the password', async () => {
    await withPage(async (page) => {
      await page.goto(`${down!.url}/`);
      // Not getByRole('alert'): Next's route announcer is one too.
      const alert = page.locator('.state.error[data-error-code="STORE_UNAVAILABLE"]').first();
      await alert.waitFor({ timeout: 30_000 });
      expect(await alert.textContent()).toMatch(/Store unavailable/);
      expect(await page.content()).not.toContain('hunter2-secret');
      await page.screenshot({ path: join(artifacts, 'store-down.png'), fullPage: true });
    });
    const r = await fetch(`${down!.url}/api/v1/overview`);
    const text = await r.text();
    expect(r.status).toBe(503);
    expect((JSON.parse(text) as { error: { code: string } }).error.code).toBe('STORE_UNAVAILABLE');
    expect(text).not.toContain('hunter2-secret');
  });

  it('sources page lists health, and the table sorts from the keyboard', async () => {
    await withPage(async (page, errors) => {
      await page.goto(`${live!.url}/sources`);
      const rows = page.getByTestId('sources-table').locator('tbody tr');
      await rows.first().waitFor();
      expect(await rows.count()).toBe(3);
      expect(await rows.nth(2).textContent()).toMatch(/redis-old.*down/);
      await page.screenshot({ path: join(artifacts, 'sources.png') });

      await page.goto(`${live!.url}/`);
      await page.getByTestId('lock-table').waitFor();
      const ttlHeader = page.getByRole('button', { name: /^TTL/ });
      await ttlHeader.focus();
      await page.keyboard.press('Enter');
      await page.waitForURL(/sort=ttl/);
      await page.keyboard.press('Enter');
      await page.waitForURL(/order=desc/);
      expect(await page.locator('th[aria-sort="descending"]').textContent()).toMatch(/TTL/);
      expect(errors).toEqual([]);
    });
  });

  it('bad query parameters give 400 with an error body from the running server', async () => {
    for (const path of ['/api/v1/locks?state=zzz', '/api/v1/locks?limit=100000', `/api/v1/locks/${seeded.ids.contended}/metrics?from=abc`, '/api/v1/overview?unknown=1']) {
      const r = await fetch(`${live!.url}${path}`);
      const body = (await r.json()) as { error: { code: string; message: string } };
      expect(r.status, path).toBe(400);
      expect(body.error.code).toBe('BAD_REQUEST');
      expect(body.error.message.length).toBeGreaterThan(3);
    }
    const missing = await fetch(`${live!.url}/api/v1/locks/AAAAAAAAAAAAAAAAAAAAAA`);
    expect(missing.status).toBe(404);
  });

  it('the Safety page lists hazards, open and most severe first, with the deadlock cycle and the handover timeline, and backend text shown safely', async () => {
    const store = await openStore({ url: storeUrl });
    const now = Date.now();
    try {
      await store.writeBatch({
        hazards: [
          {
            id: 'unsafe_handover|hz1|1', kind: 'unsafe_handover', severity: 'critical', source: 'etcd-main', lockId: 'hz1', lockName: '/locks/pay\u202eyap', since: now - 60_000, until: now - 50_000,
            holders: ['lease-a', '<img src=x onerror=alert(1)>'], tokens: ['5', '9'], detail: 'The lease lapsed under lease-a.',
            evidence: { lapsedAcquiredAt: now - 70_000, lapsedAt: now - 60_040, ttlMs: 10_000, lapsedToken: '5', newToken: '9', newAcquiredAt: now - 60_000, gapMs: 40, signsOfLife: { at: now - 55_000, resource: 'orders-db', token: '5', accepted: false } },
          },
          {
            id: 'deadlock|hz2,hz3|2', kind: 'deadlock', severity: 'critical', source: 'etcd-main', lockId: 'hz2', lockName: '/locks/ledger', since: now - 5_000, until: null,
            holders: ['S1', 'S2'], tokens: [], detail: 'Deadlock between S1 and S2.',
            evidence: { cycle: [{ holder: 'S1', holds: { lockId: 'hz2', name: '/locks/ledger' }, waitsFor: { lockId: 'hz3', name: '/locks/stock' } }, { holder: 'S2', holds: { lockId: 'hz3', name: '/locks/stock' }, waitsFor: { lockId: 'hz2', name: '/locks/ledger' } }] },
          },
          { id: 'stale_token_refused|hz1|3', kind: 'stale_token_refused', severity: 'info', source: 'etcd-main', lockId: 'hz1', lockName: '/locks/pay', since: now - 1_000, until: null, holders: [], tokens: ['5', '9'], detail: 'refused', evidence: {} },
        ],
      });
    } finally {
      await store.close();
    }
    await withPage(async (page, errors) => {
      await page.goto(`${live!.url}/safety`);
      const rows = page.getByTestId('hazard-row');
      await rows.first().waitFor();
      // Open first (critical before info), then those that ended.
      expect(await rows.evaluateAll((trs) => trs.map((tr) => `${tr.getAttribute('data-kind')}:${tr.getAttribute('data-severity')}`))).toEqual([
        'deadlock:critical',
        'stale_token_refused:info',
        'unsafe_handover:critical',
      ]);
      expect(await page.getByTestId('deadlock-cycle').textContent()).toMatch(/S1 holds \/locks\/ledger and waits for \/locks\/stock.*S2 holds \/locks\/stock/s);
      const timeline = await page.getByTestId('handover-timeline').textContent();
      expect(timeline).toContain('40 ms later');
      expect(timeline).toContain('orders-db refused its token 5');
      const text = (await page.locator('main').textContent()) ?? '';
      // The bidi override and the markup are shown as text, not obeyed.
      expect(text).not.toContain('\u202e');
      expect(text).toContain('<img src=x onerror=alert(1)>');
      expect(await page.locator('main img').count()).toBe(0);
      expect(errors).toEqual([]);
      await page.screenshot({ path: join(artifacts, 'safety.png'), fullPage: true });
    });
  });
});
