// System test: the built dashboard with OIDC sign-in against a real OpenID provider
// (npm oidc-provider, started here), the real collector watching real etcd, real
// `etcdctl lock` holders, in headless Chromium.
import { createServer, request as httpRequest, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, launchChromium, startEtcd, waitFor, withPage, type Child, type EtcdServer } from '@lockscope/testing';
import { migrate } from '@lockscope/store';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCollectorStack, type CollectorStack } from '../apps/collector/src/test-stack.js';
import { buildDashboard, startDashboard, type DashboardServer } from '../apps/dashboard/src/test-support/dashboard-server.js';

// oidc-provider ships no types; this is the little of it the test uses.
interface OidcAccount {
  accountId: string;
  claims(): Promise<Record<string, unknown>>;
}
type OidcProviderClass = new (issuer: string, config: Record<string, unknown>) => { listen(port: number, host?: string): Server };

const CLIENT_SECRET = 'client-secret-7f3a9c1e-never-shown';
const SESSION_SECRET = 'session-secret-0b8e2d4c6a1f3e5d7c9b-never-shown';
/** Login name -> groups at the provider. */
const PEOPLE: Record<string, string[]> = { vic: ['readers'], olga: ['sre', 'readers'], ada: ['readers'], mallory: ['contractors'] };

let dir = '';
let etcd: EtcdServer | undefined;
let stack: CollectorStack | undefined;
let idp: Server | undefined;
let evil: Server | undefined;
let evilUrl = '';
let live: DashboardServer | undefined;
let browser: Browser | undefined;
const children: Child[] = [];

async function startIdp(port: number, dashboardUrl: string): Promise<Server> {
  const { default: Provider } = (await import('oidc-provider')) as unknown as { default: OidcProviderClass };
  const provider = new Provider(`http://127.0.0.1:${port}`, {
    clients: [{ client_id: 'lockscope', client_secret: CLIENT_SECRET, redirect_uris: [`${dashboardUrl}/api/auth/callback/oidc`], grant_types: ['authorization_code'], response_types: ['code'] }],
    claims: { openid: ['sub'], profile: ['preferred_username', 'name'], groups: ['groups'] },
    findAccount: (_ctx: unknown, sub: string): OidcAccount => ({ accountId: sub, claims: async () => ({ sub, preferred_username: sub, name: sub, groups: PEOPLE[sub] ?? [] }) }),
    cookies: { keys: ['test-cookie-key-1'] },
    features: { devInteractions: { enabled: true } },
  });
  const server = provider.listen(port, '127.0.0.1');
  await new Promise<void>((resolve) => (server.listening ? resolve() : server.once('listening', () => resolve())));
  return server;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lockscope-oidc-browser-'));
  etcd = await startEtcd();
  const storeUrl = `file:${join(dir, 'store.db')}`;
  await migrate(storeUrl);
  stack = await startCollectorStack({ etcd: { endpoints: etcd.endpoints }, storeUrl });
  const [dashPort, idpPort, evilPort] = [await freePort(), await freePort(), await freePort()];
  const dashboardUrl = `http://127.0.0.1:${dashPort}`;
  idp = await startIdp(idpPort, dashboardUrl);
  // Another local origin (same host, other port: same-site, so the browser sends the
  // dashboard's cookies along) whose page tries to act on the dashboard.
  evilUrl = `http://127.0.0.1:${evilPort}`;
  evil = createServer((_req, res) => {
    res.setHeader('Content-Type', 'text/html');
    res.end(`<!doctype html><body>
<form id="f" method="POST" action="${dashboardUrl}/api/v1/alerts/1/ack" enctype="text/plain"><input name='{"a":"' value='"}'></form>
<script>
window.fetchResult = fetch(${JSON.stringify(`${dashboardUrl}/api/v1/alerts/1/ack`)}, { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'Content-Type': 'text/plain' }, body: '{}' }).then(() => 'sent', (e) => String(e));
</script></body>`);
  });
  await new Promise<void>((resolve) => evil!.listen(evilPort, '127.0.0.1', () => resolve()));

  const config = join(dir, 'lockscope.yaml');
  writeFileSync(
    config,
    `store: { url: ${JSON.stringify(storeUrl)} }
sources:
  - { name: etcd-test, kind: etcd, endpoints: ${JSON.stringify(etcd.endpoints)}, prefixes: ["/locks/"] }
dashboard:
  auth:
    mode: oidc
    publicUrl: ${JSON.stringify(dashboardUrl)}
    sessionSecret: { env: TEST_SESSION_SECRET }
    oidc: { issuer: "http://127.0.0.1:${idpPort}", clientId: lockscope, clientSecret: { env: TEST_OIDC_SECRET }, scopes: [openid, profile, groups] }
    roles: { users: { vic: viewer, ada: admin }, groups: { sre: operator }, default: none }
`,
  );
  await buildDashboard();
  live = await startDashboard({ LOCKSCOPE_CONFIG: config, TEST_SESSION_SECRET: SESSION_SECRET, TEST_OIDC_SECRET: CLIENT_SECRET }, dashPort);
  // One firing alert for the cross-origin attempt to aim at.
  await stack.store.prisma.alert.create({ data: { id: 1n, rule: 'lease_expired', state: 'firing', source: 'etcd-test', startedAt: BigInt(Date.now()), message: 'lease lapsed', openKey: 'cross-origin-target' } });
  browser = await launchChromium();
});

afterAll(async () => {
  await Promise.allSettled(children.map((c) => c.stop(1_000)));
  await browser?.close();
  await live?.stop();
  await stack?.dispose();
  await etcd?.stop();
  await Promise.all([idp, evil].map((s) => s && new Promise((resolve) => s.close(resolve))));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Signs in through the provider's own login and consent pages, like a person. */
async function signIn(page: Page, login: string): Promise<void> {
  await page.goto(`${live!.url}/`);
  await page.getByTestId('sign-in').click();
  await page.locator('input[name="login"]').fill(login);
  await page.locator('input[name="password"]').fill('any password');
  await page.getByRole('button', { name: 'Sign-in' }).click();
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.waitForURL((url) => url.origin === live!.url);
  await expect.poll(() => page.getByTestId('session').textContent(), { timeout: 15_000 }).toContain(login);
}

/** A POST from the signed-in page itself (same origin, with its CSRF token), as a script on it would send. */
function postFromPage(page: Page, path: string, body: unknown): Promise<{ status: number; body: string }> {
  return page.evaluate(
    async ([p, b]) => {
      const session = (await (await fetch('/api/v1/session')).json()) as { csrfToken: string };
      const r = await fetch(p as string, { method: 'POST', headers: { 'Content-Type': 'application/json', 'x-lockscope-csrf': session.csrfToken }, body: JSON.stringify(b) });
      return { status: r.status, body: await r.text() };
    },
    [path, body] as const,
  );
}

async function heldLock(name: string): Promise<{ id: string; holder: string; token: string }> {
  const row = await waitFor(async () => {
    const l = await stack!.lock('etcd-test', name);
    return l?.held && l.holder && l.token ? l : undefined;
  }, { timeoutMs: 15_000, message: `the collector to record ${name} as held` });
  return { id: row.id, holder: row.holder!, token: row.token! };
}

describe('a shared dashboard with OIDC sign-in, in headless Chromium', () => {
  it('a viewer sees the lock but no release button, and the server refuses release and ack with 403', async () => {
    const holder = etcd!.spawnEtcdctl(['lock', '/locks/ui/viewer']);
    children.push(holder);
    const lock = await heldLock('/locks/ui/viewer');
    await withPage(browser!, async (page, errors) => {
      await signIn(page, 'vic');
      expect(await page.getByTestId('session').textContent()).toMatch(/vic · viewer/);
      await page.goto(`${live!.url}/locks/${lock.id}`);
      await page.getByTestId('current-holder').waitFor();
      expect(await page.getByTestId('current-holder').textContent()).toContain(lock.holder);
      expect(await page.getByRole('button', { name: /Force release/ }).count()).toBe(0);

      const release = await postFromPage(page, `/api/v1/locks/${lock.id}/release`, { reason: 'viewer tries', expectHolder: lock.holder, expectToken: lock.token });
      expect(release.status, release.body).toBe(403);
      expect(release.body).toMatch(/viewer role; this needs operator/);
      const ack = await postFromPage(page, '/api/v1/alerts/1/ack', {});
      expect(ack.status, ack.body).toBe(403);
      expect(errors).toEqual([]);
    });
    expect((await stack!.lock('etcd-test', '/locks/ui/viewer'))?.held).toBe(true);
    expect(holder.process.exitCode).toBeNull();
  });

  it('an operator force-releases a real etcdctl lock from the lock page; the waiter acquires; the audit page names them and the reason', async () => {
    const first = etcd!.spawnEtcdctl(['lock', '/locks/ui/job']);
    children.push(first);
    const lock = await heldLock('/locks/ui/job');
    const waiter = etcd!.spawnEtcdctl(['lock', '/locks/ui/job']);
    children.push(waiter);
    await waitFor(async () => (await stack!.lock('etcd-test', '/locks/ui/job'))?.waiters === 1, { timeoutMs: 15_000, message: 'the waiter to queue' });

    await withPage(browser!, async (page, errors) => {
      await signIn(page, 'olga');
      expect(await page.getByTestId('session').textContent()).toMatch(/olga · operator/);
      await page.goto(`${live!.url}/locks/${lock.id}`);
      await page.getByRole('button', { name: 'Force release…' }).click();
      const dialog = page.getByTestId('release-dialog');
      expect(await dialog.textContent()).toContain(lock.holder);
      expect(await dialog.textContent()).toContain(lock.token);
      expect(await page.getByTestId('release-warning').textContent()).toMatch(/old holder is not told/);
      await dialog.getByLabel(/Reason/).fill('holder pod gone, INC-42');
      const [response] = await Promise.all([page.waitForResponse((r) => r.url().endsWith(`/api/v1/locks/${lock.id}/release`)), dialog.getByRole('button', { name: 'Release' }).click()]);
      expect(response.status(), await response.text()).toBe(200);
      await dialog.getByTestId('release-done').waitFor();

      // The waiting etcdctl acquires by itself, as after a normal unlock.
      const waiterKey = await waitFor(() => waiter.output().split('\n').find((l) => l.startsWith('/locks/ui/job/'))?.trim(), { timeoutMs: 15_000, message: 'the waiter to acquire' });
      await waitFor(async () => (await stack!.lock('etcd-test', '/locks/ui/job'))?.holder === waiterKey.slice('/locks/ui/job/'.length), { timeoutMs: 15_000, message: 'the collector to see the new holder' });

      await page.goto(`${live!.url}/audit?actor=olga`);
      const row = page.getByTestId('audit-row').filter({ hasText: 'force_release' });
      await row.first().waitFor();
      const text = await row.first().textContent();
      expect(text).toContain('olga');
      expect(text).toContain('operator');
      expect(text).toContain('holder pod gone, INC-42');
      expect(text).toContain('released');
      expect(text).toContain('/locks/ui/job');

      // Releasing the old hold again is refused: the lock has a new holder, named in the refusal.
      const again = await postFromPage(page, `/api/v1/locks/${lock.id}/release`, { reason: 'stale dialog', expectHolder: lock.holder, expectToken: lock.token });
      expect(again.status, again.body).toBe(409);
      expect(again.body).toContain(waiterKey.slice('/locks/ui/job/'.length));
      expect(errors).toEqual([]);
    });
    const audit = await stack!.store.listAudit({ lockName: '/locks/ui/job' });
    expect(audit.map((a) => [a.actor, a.role, a.action, a.result])).toEqual([
      ['olga', 'operator', 'force_release', 'holder_changed'],
      ['olga', 'operator', 'force_release', 'released'],
    ]);
  });

  it('a page from another local origin cannot act with the signed-in user\'s cookies; a foreign Host is refused', async () => {
    await withPage(browser!, async (page) => {
      await signIn(page, 'olga');
      const acks: number[] = [];
      page.on('response', (r) => {
        if (r.url().endsWith('/api/v1/alerts/1/ack')) acks.push(r.status());
      });
      await page.goto(evilUrl);
      expect(await page.evaluate(() => (window as unknown as { fetchResult: Promise<string> }).fetchResult)).toBe('sent');
      await Promise.all([page.waitForURL((u) => u.pathname.endsWith('/ack')), page.evaluate(() => (document.getElementById('f') as HTMLFormElement).submit())]);
      await expect.poll(() => acks.length).toBe(2);
      expect(acks).toEqual([403, 403]);
    });
    const alert = await stack!.store.prisma.alert.findUniqueOrThrow({ where: { id: 1n } });
    expect([alert.ackedAt, alert.ackedBy]).toEqual([null, null]);

    // node:http, because fetch may not let a caller set Host; a rebinding page's browser sends it.
    const port = new URL(live!.url).port;
    const statusWithHost = (path: string, host: string) =>
      new Promise<number>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port, path, headers: { Host: host } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
    expect(await statusWithHost('/api/v1/locks', `rebind.test:${port}`)).toBe(403);
    expect(await statusWithHost('/api/auth/providers', `rebind.test:${port}`)).toBe(403);
    expect(await statusWithHost('/api/v1/session', `127.0.0.1:${port}`)).toBe(200);
  });

  it('the client secret, the session secret and session tokens appear in no page, API answer or log line', async () => {
    let cookies = '';
    await withPage(browser!, async (page) => {
      await signIn(page, 'olga');
      const seen: string[] = [await page.content()];
      for (const path of ['/api/v1/session', '/api/auth/session', '/api/auth/providers', '/api/v1/audit', '/audit']) {
        const r = await page.request.get(`${live!.url}${path}`);
        seen.push(await r.text());
      }
      cookies = (await page.context().cookies(live!.url)).map((c) => c.value).join('\n');
      for (const text of seen) {
        expect(text).not.toContain(CLIENT_SECRET);
        expect(text).not.toContain(SESSION_SECRET);
      }
      const session = (await (await page.request.get(`${live!.url}/api/auth/session`)).json()) as Record<string, unknown>;
      expect(Object.keys(session).sort()).toEqual(['expires', 'lsRole', 'lsSid', 'user']);
    });
    const log = live!.child.output();
    expect(log).not.toContain(CLIENT_SECRET);
    expect(log).not.toContain(SESSION_SECRET);
    for (const value of cookies.split('\n').filter((v) => v.length > 20)) expect(log).not.toContain(value);
  });

  it('someone with no role is refused at sign-in, and the refusal is audited', async () => {
    await withPage(browser!, async (page) => {
      await page.goto(`${live!.url}/`);
      await page.getByTestId('sign-in').click();
      await page.locator('input[name="login"]').fill('mallory');
      await page.locator('input[name="password"]').fill('any password');
      await page.getByRole('button', { name: 'Sign-in' }).click();
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.waitForURL((url) => url.origin === live!.url && url.pathname.startsWith('/api/auth/error'));
      expect(page.url()).toContain('error=AccessDenied');
      const session = (await (await page.request.get(`${live!.url}/api/v1/session`)).json()) as { user: unknown };
      expect(session.user).toBeNull();
    });
    const refused = await stack!.store.listAudit({ actor: 'mallory' });
    expect(refused.map((a) => [a.action, a.result])).toEqual([['sign_in', 'refused']]);
  });

  it('an admin creates an API token in the UI (shown once), an operator token acks, revoking it makes it 401', async () => {
    let secret = '';
    await withPage(browser!, async (page) => {
      await signIn(page, 'ada');
      // The menu offers Tokens to admins only; the page is then loaded whole, and filled
      // once its list has arrived (a form filled while the page is still settling can be re-rendered empty).
      expect(await page.getByRole('link', { name: 'Tokens' }).count()).toBe(1);
      await page.goto(`${live!.url}/tokens`);
      await page.getByText('No API tokens yet.').waitFor();
      await page.getByLabel('Name').fill('ci-acker');
      await expect.poll(() => page.getByLabel('Name').inputValue()).toBe('ci-acker');
      await page.getByLabel('Role').selectOption('operator');
      await page.getByRole('button', { name: 'Create' }).click();
      secret = ((await page.getByTestId('new-token').locator('code').textContent()) ?? '').trim();
      expect(secret).toMatch(/^lsk_/);

      const ack = await fetch(`${live!.url}/api/v1/alerts/1/ack`, { method: 'POST', headers: { Authorization: `Bearer ${secret}`, 'Content-Type': 'application/json' }, body: '{}' });
      expect(ack.status, await ack.text()).toBe(200);
      expect((await stack!.store.prisma.alert.findUniqueOrThrow({ where: { id: 1n } })).ackedBy).toBe('ci-acker');

      // Shown once: a reload lists the token without its value.
      await page.reload();
      await page.getByTestId('tokens-table').waitFor();
      expect(await page.content()).not.toContain(secret);
      await page.getByTestId('tokens-table').locator('tr', { hasText: 'ci-acker' }).getByRole('button', { name: 'Revoke' }).click();
      await expect.poll(() => page.getByTestId('tokens-table').locator('tr', { hasText: 'ci-acker' }).textContent()).toContain('revoked');
    });
    const after = await fetch(`${live!.url}/api/v1/alerts/1/silence`, { method: 'POST', headers: { Authorization: `Bearer ${secret}`, 'Content-Type': 'application/json' }, body: '{"forMs":60000}' });
    expect(after.status).toBe(401);
    const missing = await fetch(`${live!.url}/api/v1/alerts/1/silence`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"forMs":60000}' });
    expect(missing.status).toBe(401);
    const actions = (await stack!.store.listAudit({ actor: 'ada' })).map((a) => [a.action, a.result]);
    expect(actions).toEqual(expect.arrayContaining([['token_create', 'ok'], ['token_revoke', 'ok']]));
    expect(JSON.stringify(await stack!.store.listAudit({ limit: 1000 }))).not.toContain(secret.slice(4));
    expect(live!.child.output()).not.toContain(secret.slice(4));
  });
});
