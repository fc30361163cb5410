import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, revokeApiToken, type Store } from '@lockscope/store';
import { describe, expect, it } from 'vitest';
import { gateFor, tokenFor } from '../../test-support/test-gate';
import { createApi, type Api } from '../api';

interface ErrorBody {
  error: { code: string; message: string };
}

async function seedAlert(store: Store): Promise<string> {
  const row = await store.prisma.alert.create({
    data: { rule: 'lease_expired', state: 'firing', source: 'etcd-main', lockId: 'lockAAAAAAAAAAAAAAAAAA', lockName: '/locks/a', startedAt: BigInt(Date.now() - 1_000), message: 'lease lapsed', openKey: 'x' },
  });
  return row.id.toString();
}

async function withStore(dashboardYaml: string, fn: (api: Api, store: Store, alertId: string) => Promise<void>, env: Record<string, string> = {}): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'lockscope-auth-'));
  const store = await openStore({ url: `file:${join(dir, 'store.db')}` });
  try {
    await store.migrate();
    const alertId = await seedAlert(store);
    const getStore = async () => store;
    await fn(createApi({ getStore, sourceDownAfterMs: 30_000, gate: gateFor(getStore, dashboardYaml, { env }) }), store, alertId);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const ORIGIN = 'http://127.0.0.1:3000';
const ctx = (id: string) => ({ params: Promise.resolve({ id }) });
function request(path: string, init: { method?: string; headers?: Record<string, string>; body?: unknown } = {}): Request {
  const headers = { host: '127.0.0.1:3000', ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}), ...init.headers };
  return new Request(`${ORIGIN}${path}`, { method: init.method ?? 'GET', headers, ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}) });
}
async function expectError(response: Promise<Response>, status: number, code: string): Promise<ErrorBody> {
  const r = await response;
  const body = (await r.json()) as ErrorBody;
  expect(r.status, JSON.stringify(body)).toBe(status);
  expect(body.error.code).toBe(code);
  expect(r.headers.get('access-control-allow-origin')).toBeNull();
  return body;
}

/** Every state-changing endpoint, called with the same headers. */
function everyAction(api: Api, alertId: string, headers: Record<string, string>): [string, Promise<Response>][] {
  return [
    ['ack', api.ackAlert(request(`/api/v1/alerts/${alertId}/ack`, { method: 'POST', headers, body: {} }), ctx(alertId))],
    ['silence', api.silenceAlert(request(`/api/v1/alerts/${alertId}/silence`, { method: 'POST', headers, body: { forMs: 60_000 } }), ctx(alertId))],
    ['create token', api.createToken(request('/api/v1/tokens', { method: 'POST', headers, body: { name: 'x', role: 'admin', expiresInDays: 1 } }))],
    ['revoke token', api.revokeToken(request('/api/v1/tokens/1/revoke', { method: 'POST', headers, body: {} }), ctx('1'))],
  ];
}

describe('dashboard request safety', () => {
  it('without dashboard.auth every state-changing endpoint refuses with READ_ONLY and changes nothing; reads work', async () => {
    await withStore('{}', async (api, store, alertId) => {
      for (const [name, response] of everyAction(api, alertId, { origin: ORIGIN })) {
        const body = await expectError(response, 403, 'READ_ONLY');
        expect(body.error.message, name).toMatch(/dashboard\.auth/);
      }
      const row = await store.prisma.alert.findUniqueOrThrow({ where: { id: BigInt(alertId) } });
      expect([row.ackedAt, row.silencedUntil]).toEqual([null, null]);
      expect(await store.prisma.apiToken.count()).toBe(0);
      expect((await api.alerts(request('/api/v1/alerts'))).status).toBe(200);
      const session = (await (await api.session(request('/api/v1/session'))).json()) as { mode: string; user: unknown; csrfToken: unknown };
      expect(session).toMatchObject({ mode: 'none', user: null, csrfToken: null });
    });
  });

  it('a foreign Host header (DNS rebinding) is refused for reads and actions', async () => {
    await withStore('{ auth: { mode: local-dev } }', async (api, store, alertId) => {
      const rebound = { host: 'rebind.test:3000', origin: 'http://rebind.test:3000' };
      await expectError(api.alerts(request('/api/v1/alerts', { headers: rebound })), 403, 'FORBIDDEN');
      await expectError(api.session(request('/api/v1/session', { headers: rebound })), 403, 'FORBIDDEN');
      for (const [, response] of everyAction(api, alertId, rebound)) await expectError(response, 403, 'FORBIDDEN');
      expect((await store.prisma.alert.findUniqueOrThrow({ where: { id: BigInt(alertId) } })).ackedAt).toBeNull();
    });
  });

  it('local-dev: a cross-origin post, a post without Origin and one without the CSRF token are refused; the page\'s own post acts as the local user', async () => {
    await withStore('{ auth: { mode: local-dev, localDev: { user: dev-alice } } }', async (api, store, alertId) => {
      const session = (await (await api.session(request('/api/v1/session'))).json()) as { mode: string; user: { name: string; role: string }; csrfToken: string };
      expect(session).toMatchObject({ mode: 'local-dev', user: { name: 'dev-alice', role: 'operator' } });
      const csrf = { 'x-lockscope-csrf': session.csrfToken };
      const ack = (headers: Record<string, string>) => api.ackAlert(request(`/api/v1/alerts/${alertId}/ack`, { method: 'POST', headers, body: {} }), ctx(alertId));
      await expectError(ack({ origin: 'http://127.0.0.1:4000', ...csrf }), 403, 'FORBIDDEN');
      await expectError(ack({ origin: 'http://evil.example', ...csrf }), 403, 'FORBIDDEN');
      await expectError(ack({ origin: 'null', ...csrf }), 403, 'FORBIDDEN');
      await expectError(ack({ ...csrf }), 403, 'FORBIDDEN');
      await expectError(ack({ origin: ORIGIN, 'sec-fetch-site': 'cross-site', ...csrf }), 403, 'FORBIDDEN');
      await expectError(ack({ origin: ORIGIN }), 403, 'FORBIDDEN');
      await expectError(ack({ origin: ORIGIN, 'x-lockscope-csrf': 'forged' }), 403, 'FORBIDDEN');
      expect((await store.prisma.alert.findUniqueOrThrow({ where: { id: BigInt(alertId) } })).ackedAt).toBeNull();

      const ok = await ack({ origin: ORIGIN, 'sec-fetch-site': 'same-origin', ...csrf });
      expect(ok.status).toBe(200);
      expect(((await ok.json()) as { ackedBy: string }).ackedBy).toBe('dev-alice');
      // The local operator is not an admin unless the config says so.
      await expectError(api.createToken(request('/api/v1/tokens', { method: 'POST', headers: { origin: ORIGIN, ...csrf }, body: { name: 'ci', role: 'operator', expiresInDays: 1 } })), 403, 'FORBIDDEN');
    });
  });

  it('API tokens: missing, unknown, revoked and expired are 401; a viewer token is 403; an operator token acks; all audited', async () => {
    await withStore('{ auth: { mode: local-dev } }', async (api, store, alertId) => {
      const ack = (authorization?: string) =>
        api.ackAlert(request(`/api/v1/alerts/${alertId}/ack`, { method: 'POST', headers: authorization === undefined ? {} : { authorization }, body: {} }), ctx(alertId));
      const operator = await tokenFor(store, 'operator', 'deploy-bot');
      const viewer = await tokenFor(store, 'viewer', 'grafana');
      const revoked = await tokenFor(store, 'operator', 'old-bot');
      const oldId = (await store.prisma.apiToken.findFirstOrThrow({ where: { name: 'old-bot' } })).id.toString();
      await revokeApiToken(store, { id: oldId, by: 'test' });
      const expired = await tokenFor(store, 'operator', 'expired-bot', Date.now() - 2 * 86_400_000);

      await expectError(ack('Bearer'), 401, 'UNAUTHORIZED');
      await expectError(ack('Bearer lsk_not-a-real-token'), 401, 'UNAUTHORIZED');
      await expectError(ack(`Bearer ${revoked}`), 401, 'UNAUTHORIZED');
      await expectError(ack(`Bearer ${expired}`), 401, 'UNAUTHORIZED');
      await expectError(api.alerts(request('/api/v1/alerts', { headers: { authorization: `Bearer ${revoked}` } })), 401, 'UNAUTHORIZED');
      await expectError(ack(`Bearer ${viewer}`), 403, 'FORBIDDEN');
      expect((await store.prisma.alert.findUniqueOrThrow({ where: { id: BigInt(alertId) } })).ackedAt).toBeNull();

      const ok = await ack(`Bearer ${operator}`);
      expect(ok.status).toBe(200);
      expect(((await ok.json()) as { ackedBy: string }).ackedBy).toBe('deploy-bot');

      const audit = await store.listAudit();
      expect(audit.map((a) => [a.actor, a.action, a.result])).toEqual([
        ['deploy-bot', 'alert_ack', 'ok'],
        ['grafana', 'refused', 'forbidden'],
        ['(unknown token)', 'sign_in', 'failed'],
        ['(unknown token)', 'sign_in', 'failed'],
        ['(unknown token)', 'sign_in', 'failed'],
        ['(unknown token)', 'sign_in', 'failed'],
      ]);
      expect(audit[0]).toMatchObject({ role: 'operator', target: `alert ${alertId}`, source: 'etcd-main', lockName: '/locks/a' });
    });
  });

  it('an admin creates a token (secret shown once, stored hashed), lists it without the secret, revokes it; then it is 401', async () => {
    await withStore('{ auth: { mode: local-dev } }', async (api, store, alertId) => {
      const admin = { authorization: `Bearer ${await tokenFor(store, 'admin', 'root-bot')}` };
      const created = await api.createToken(request('/api/v1/tokens', { method: 'POST', headers: admin, body: { name: 'ci-acker', role: 'operator', expiresInDays: 7 } }));
      const createdText = await created.text();
      expect(created.status, createdText).toBe(200);
      const { token, secret } = JSON.parse(createdText) as { token: { id: string; name: string; role: string; expiresAt: number }; secret: string };
      expect(secret).toMatch(/^lsk_[A-Za-z0-9_-]{43}$/);
      expect(token).toMatchObject({ name: 'ci-acker', role: 'operator' });
      expect(token.expiresAt - Date.now()).toBeGreaterThan(6.9 * 86_400_000);

      const row = await store.prisma.apiToken.findFirstOrThrow({ where: { name: 'ci-acker' } });
      expect(row.hash).not.toContain(secret);
      expect(JSON.stringify(row, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))).not.toContain(secret.slice(4));

      const listText = await (await api.tokens(request('/api/v1/tokens', { headers: admin }))).text();
      expect(listText).toContain('ci-acker');
      expect(listText).not.toContain(secret.slice(4));
      expect(listText).not.toContain(row.hash);
      const auditText = await (await api.audit(request('/api/v1/audit?action=token_create', { headers: admin }))).text();
      expect(auditText).toContain('token ci-acker');
      expect(auditText).not.toContain(secret.slice(4));

      const ack = () => api.ackAlert(request(`/api/v1/alerts/${alertId}/ack`, { method: 'POST', headers: { authorization: `Bearer ${secret}` }, body: {} }), ctx(alertId));
      expect((await ack()).status).toBe(200);
      expect((await api.revokeToken(request(`/api/v1/tokens/${token.id}/revoke`, { method: 'POST', headers: admin }), ctx(token.id))).status).toBe(200);
      await expectError(ack(), 401, 'UNAUTHORIZED');
      // Only an admin manages tokens.
      await expectError(api.tokens(request('/api/v1/tokens', { headers: { authorization: `Bearer ${await tokenFor(store, 'operator')}` } })), 403, 'FORBIDDEN');
      await expectError(api.createToken(request('/api/v1/tokens', { method: 'POST', headers: admin, body: { name: 'forever', role: 'admin', expiresInDays: 100_000 } })), 400, 'BAD_REQUEST');
    });
  });

  it('with OIDC and nobody signed in: reads and actions without a session or token are 401, and the secrets are not in any answer', async () => {
    const env = { S: 'session-secret-that-is-long-enough-0123456789', C: 'client-secret-zzz' };
    const yaml = '{ auth: { mode: oidc, publicUrl: "https://lockscope.example", sessionSecret: { env: S }, oidc: { issuer: "https://idp.example", clientId: c, clientSecret: { env: C } } } }';
    await withStore(
      yaml,
      async (api, _store, alertId) => {
        await expectError(api.alerts(request('/api/v1/alerts')), 401, 'UNAUTHORIZED');
        for (const [, response] of everyAction(api, alertId, {})) {
          const r = await response;
          const text = await r.text();
          expect(r.status, text).toBe(401);
          expect(text).not.toContain(env.S);
          expect(text).not.toContain(env.C);
        }
        // The publicUrl's host is allowed, others are not.
        expect((await api.session(request('/api/v1/session', { headers: { host: 'lockscope.example' } }))).status).toBe(200);
        await expectError(api.session(request('/api/v1/session', { headers: { host: 'lockscope.example.evil.test' } })), 403, 'FORBIDDEN');
      },
      env,
    );
  });
});
