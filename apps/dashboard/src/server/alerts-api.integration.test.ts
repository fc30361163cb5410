import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type AlertDetail, type AlertView, type Store } from '@lockscope/store';
import { createTestDatabase, freePort } from '@lockscope/testing';
import { describe, expect, it } from 'vitest';
import { gateFor, tokenFor } from '../test-support/test-gate';
import { createApi, type Api } from './api';

type Provider = 'sqlite' | 'postgresql';

const NOW = 1_800_000_000_000;
const SCRIPT_LOCK = '<script>window.__pwned = 1</script>';

interface Seeded {
  /** near_expiry on lock A, firing. */
  firing: string;
  /** lease_expired on lock A, resolved. */
  resolved: string;
  /** source_down on redis-old, firing, older. */
  sourceDown: string;
  /** slow_acquisition on lock B (etcd), firing. */
  slow: string;
}

const LOCK_A = 'lockAAAAAAAAAAAAAAAAAA';
const LOCK_B = 'lockBBBBBBBBBBBBBBBBBB';

async function seedAlerts(store: Store): Promise<Seeded> {
  const create = async (data: { rule: string; state: string; source: string; lockId?: string; lockName?: string; startedAt: number; resolvedAt?: number; message: string }) => {
    const row = await store.prisma.alert.create({
      data: {
        rule: data.rule,
        state: data.state,
        source: data.source,
        lockId: data.lockId ?? null,
        lockName: data.lockName ?? null,
        startedAt: BigInt(data.startedAt),
        resolvedAt: data.resolvedAt === undefined ? null : BigInt(data.resolvedAt),
        value: 0.91,
        threshold: 0.8,
        message: data.message,
        openKey: data.state === 'firing' ? `${data.rule}|${data.lockId ?? data.source}` : null,
      },
    });
    return row.id.toString();
  };
  const firing = await create({ rule: 'near_expiry', state: 'firing', source: 'redis-main', lockId: LOCK_A, lockName: SCRIPT_LOCK, startedAt: NOW - 10_000, message: `${SCRIPT_LOCK} used 91% of its TTL` });
  const resolved = await create({ rule: 'lease_expired', state: 'resolved', source: 'redis-main', lockId: LOCK_A, lockName: SCRIPT_LOCK, startedAt: NOW - 600_000, resolvedAt: NOW - 590_000, message: 'lease lapsed while held' });
  const sourceDown = await create({ rule: 'source_down', state: 'firing', source: 'redis-old', startedAt: NOW - 3_600_000, message: 'redis-old unreachable for 30 s' });
  const slow = await create({ rule: 'slow_acquisition', state: 'firing', source: 'etcd-main', lockId: LOCK_B, lockName: '/locks/cron-leader', startedAt: NOW - 60_000, message: 'P95 120 ms over 5 min' });
  await store.prisma.delivery.create({ data: { alertId: BigInt(firing), webhook: 'ops', kind: 'firing', at: BigInt(NOW - 9_000), attempt: 1, status: 500, ok: false, error: 'HTTP 500' } });
  await store.prisma.delivery.create({ data: { alertId: BigInt(firing), webhook: 'ops', kind: 'firing', at: BigInt(NOW - 8_000), attempt: 2, status: 200, ok: true } });
  return { firing, resolved, sourceDown, slow };
}

async function withApi(provider: Provider, fn: (api: Api, seeded: Seeded, store: Store) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'lockscope-dash-alerts-'));
  const pg = provider === 'postgresql' ? await createTestDatabase() : null;
  let store: Store | undefined;
  try {
    store = await openStore({ url: pg ? pg.url : `file:${join(dir, 'store.db')}` });
    await store.migrate();
    const seeded = await seedAlerts(store);
    const opened = store;
    const getStore = async () => opened;
    // Acting takes an operator; an API token is the scriptable way to be one.
    bearer = await tokenFor(store, 'operator', 'ops-bot', NOW);
    await fn(createApi({ getStore, sourceDownAfterMs: 30_000, now: () => NOW, gate: gateFor(getStore, '{}', { now: () => NOW }) }), seeded, store);
  } finally {
    await store?.close();
    await pg?.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

let bearer = '';
const get = (path: string) => new Request(`http://127.0.0.1${path}`);
const post = (path: string, body: unknown, contentType = 'application/json') =>
  new Request(`http://127.0.0.1${path}`, { method: 'POST', headers: { 'Content-Type': contentType, Authorization: `Bearer ${bearer}` }, body: typeof body === 'string' ? body : JSON.stringify(body) });
const idCtx = (id: string) => ({ params: Promise.resolve({ id }) });

interface ErrorBody {
  error: { code: string; message: string };
}
interface AlertList {
  alerts: AlertView[];
  rules: string[];
}

async function json<T>(response: Promise<Response> | Response, status = 200): Promise<T> {
  const r = await response;
  const body = (await r.json()) as T;
  expect(r.status, JSON.stringify(body)).toBe(status);
  return body;
}

describe.each<Provider>(['sqlite', 'postgresql'])('alerts API on %s', (provider) => {
  it('lists alerts newest first and filters by state, rule, source, lock and start time', async () => {
    await withApi(provider, async (api, s) => {
      const all = await json<AlertList>(api.alerts(get('/api/v1/alerts')));
      expect(all.alerts.map((a) => a.id)).toEqual([s.firing, s.slow, s.resolved, s.sourceDown]);
      expect(all.rules).toContain('near_expiry');
      const first = all.alerts[0]!;
      expect(first).toMatchObject({ rule: 'near_expiry', state: 'firing', lockId: LOCK_A, lockName: SCRIPT_LOCK, startedAt: NOW - 10_000, resolvedAt: null, ackedAt: null });

      const firing = await json<AlertList>(api.alerts(get('/api/v1/alerts?state=firing')));
      expect(firing.alerts.map((a) => a.id)).toEqual([s.firing, s.slow, s.sourceDown]);
      const resolved = await json<AlertList>(api.alerts(get('/api/v1/alerts?state=resolved')));
      expect(resolved.alerts.map((a) => [a.id, a.resolvedAt])).toEqual([[s.resolved, NOW - 590_000]]);
      const byRule = await json<AlertList>(api.alerts(get('/api/v1/alerts?rule=source_down')));
      expect(byRule.alerts.map((a) => a.id)).toEqual([s.sourceDown]);
      const bySource = await json<AlertList>(api.alerts(get('/api/v1/alerts?source=redis-main')));
      expect(bySource.alerts.map((a) => a.id)).toEqual([s.firing, s.resolved]);
      const byLock = await json<AlertList>(api.alerts(get(`/api/v1/alerts?lockId=${LOCK_A}&state=firing`)));
      expect(byLock.alerts.map((a) => a.id)).toEqual([s.firing]);
      const since = await json<AlertList>(api.alerts(get(`/api/v1/alerts?since=${NOW - 60_000}`)));
      expect(since.alerts.map((a) => a.id)).toEqual([s.firing, s.slow]);
      const limited = await json<AlertList>(api.alerts(get('/api/v1/alerts?limit=1')));
      expect(limited.alerts).toHaveLength(1);
    });
  });

  it('shows one alert with its delivery log; 404 for an unknown id, 400 for a malformed one', async () => {
    await withApi(provider, async (api, s) => {
      const d = await json<AlertDetail>(api.alert(get(`/api/v1/alerts/${s.firing}`), idCtx(s.firing)));
      expect(d.alert.id).toBe(s.firing);
      expect(d.deliveries.map((x) => [x.attempt, x.status, x.ok, x.error])).toEqual([
        [1, 500, false, 'HTTP 500'],
        [2, 200, true, null],
      ]);
      const none = await json<AlertDetail>(api.alert(get(`/api/v1/alerts/${s.sourceDown}`), idCtx(s.sourceDown)));
      expect(none.deliveries).toEqual([]);

      const missing = await json<ErrorBody>(api.alert(get('/api/v1/alerts/999999'), idCtx('999999')), 404);
      expect(missing.error.code).toBe('NOT_FOUND');
      for (const bad of ['abc', '0', '-1', '1.5', '99999999999999999999']) {
        const body = await json<ErrorBody>(api.alert(get(`/api/v1/alerts/${encodeURIComponent(bad)}`), idCtx(bad)), 400);
        expect(body.error.code).toBe('BAD_REQUEST');
      }
    });
  });

  it('acknowledges and silences as the token\'s name, as stored and audited; a second ack records the latest', async () => {
    await withApi(provider, async (api, s, store) => {
      const acked = await json<AlertView>(api.ackAlert(post(`/api/v1/alerts/${s.firing}/ack`, {}), idCtx(s.firing)));
      expect(acked).toMatchObject({ id: s.firing, ackedAt: NOW, ackedBy: 'ops-bot', silencedUntil: null });
      let row = await store.prisma.alert.findUniqueOrThrow({ where: { id: BigInt(s.firing) } });
      expect([row.ackedAt, row.ackedBy, row.silencedUntil]).toEqual([BigInt(NOW), 'ops-bot', null]);

      const again = await json<AlertView>(api.ackAlert(post(`/api/v1/alerts/${s.firing}/ack`, { silenceForMs: 3_600_000 }), idCtx(s.firing)));
      expect(again).toMatchObject({ ackedBy: 'ops-bot', silencedUntil: NOW + 3_600_000 });

      const silenced = await json<AlertView>(api.silenceAlert(post(`/api/v1/alerts/${s.slow}/silence`, { forMs: 900_000 }), idCtx(s.slow)));
      expect(silenced).toMatchObject({ id: s.slow, silencedUntil: NOW + 900_000, ackedAt: null });
      row = await store.prisma.alert.findUniqueOrThrow({ where: { id: BigInt(s.slow) } });
      expect(row.silencedUntil).toBe(BigInt(NOW + 900_000));

      const audit = await store.listAudit({ actor: 'ops-bot' });
      expect(audit.map((a) => [a.action, a.target, a.role, a.result, a.lockName])).toEqual([
        ['alert_silence', `alert ${s.slow}`, 'operator', 'ok', '/locks/cron-leader'],
        ['alert_ack', `alert ${s.firing}`, 'operator', 'ok', SCRIPT_LOCK],
        ['alert_ack', `alert ${s.firing}`, 'operator', 'ok', SCRIPT_LOCK],
      ]);

      // Other alerts untouched.
      const other = await store.prisma.alert.findUniqueOrThrow({ where: { id: BigInt(s.sourceDown) } });
      expect([other.ackedAt, other.silencedUntil]).toEqual([null, null]);
    });
  });

  it('bad bodies and parameters are 400 and change nothing; unknown ids are 404', async () => {
    await withApi(provider, async (api, s, store) => {
      const ackPath = `/api/v1/alerts/${s.firing}/ack`;
      const badAcks: Request[] = [
        // The actor comes from the token, never from the body.
        post(ackPath, { by: 'alice' }),
        post(ackPath, { by: '\u001b[31m\u202Eevil' }),
        post(ackPath, { silenceForMs: -5 }),
        post(ackPath, { silenceForMs: 31 * 24 * 3_600_000 }),
        post(ackPath, { silenceForMs: '3600000' }),
        post(ackPath, { extra: true }),
        post(ackPath, '{"silenceForMs": 5'),
        post(ackPath, 'null'),
        post(ackPath, {}, 'text/plain'),
        post(ackPath, { note: 'x'.repeat(1_000_000) }),
      ];
      for (const r of badAcks) {
        const body = await json<ErrorBody>(api.ackAlert(r, idCtx(s.firing)), 400);
        expect(body.error.code).toBe('BAD_REQUEST');
        expect(body.error.message.length).toBeGreaterThan(3);
        expect(body.error.message.length).toBeLessThan(1_000);
      }
      const silencePath = `/api/v1/alerts/${s.firing}/silence`;
      for (const b of [{}, { forMs: 0 }, { forMs: 1.5 }, { forMs: Number.MAX_SAFE_INTEGER }, { forMs: 'soon' }]) {
        await json<ErrorBody>(api.silenceAlert(post(silencePath, b), idCtx(s.firing)), 400);
      }
      const row = await store.prisma.alert.findUniqueOrThrow({ where: { id: BigInt(s.firing) } });
      expect([row.ackedAt, row.ackedBy, row.silencedUntil]).toEqual([null, null, null]);

      expect((await json<ErrorBody>(api.ackAlert(post('/api/v1/alerts/424242/ack', {}), idCtx('424242')), 404)).error.code).toBe('NOT_FOUND');
      expect((await json<ErrorBody>(api.silenceAlert(post('/api/v1/alerts/424242/silence', { forMs: 1000 }), idCtx('424242')), 404)).error.code).toBe('NOT_FOUND');
      await json<ErrorBody>(api.ackAlert(post('/api/v1/alerts/x/ack', {}), idCtx('x')), 400);

      for (const path of ['/api/v1/alerts?state=open', '/api/v1/alerts?rule=nope', '/api/v1/alerts?limit=0', '/api/v1/alerts?limit=5000', '/api/v1/alerts?since=abc', '/api/v1/alerts?lockId=%3Cscript%3E', '/api/v1/alerts?unknown=1', '/api/v1/alerts?state=firing&state=resolved']) {
        const body = await json<ErrorBody>(api.alerts(get(path)), 400);
        expect(body.error.code, path).toBe('BAD_REQUEST');
      }
      const rule = await json<ErrorBody>(api.alerts(get('/api/v1/alerts?rule=nope')), 400);
      expect(rule.error.message).toMatch(/near_expiry/);
    });
  });
});

describe('alerts API with the store down', () => {
  it('answers 503 STORE_UNAVAILABLE for reads and actions, without the password', async () => {
    const url = `postgresql://lockscope:s3cret-pw@127.0.0.1:${await freePort()}/nothing`;
    const getStore = () => openStore({ url });
    bearer = 'lsk_any-token-the-store-cannot-check';
    const api = createApi({ getStore, sourceDownAfterMs: 30_000, gate: gateFor(getStore) });
    for (const response of [
      api.alerts(get('/api/v1/alerts')),
      api.alert(get('/api/v1/alerts/1'), idCtx('1')),
      api.ackAlert(post('/api/v1/alerts/1/ack', {}), idCtx('1')),
      api.silenceAlert(post('/api/v1/alerts/1/silence', { forMs: 60_000 }), idCtx('1')),
    ]) {
      const r = await response;
      const text = await r.text();
      expect(r.status, text).toBe(503);
      expect((JSON.parse(text) as ErrorBody).error.code).toBe('STORE_UNAVAILABLE');
      expect(text).not.toContain('s3cret-pw');
    }
  });

  it('answers 503 (not 500) when an opened store loses its tables', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lockscope-dash-alerts-'));
    const store = await openStore({ url: `file:${join(dir, 'empty.db')}` });
    try {
      const getStore = async () => store;
      bearer = 'lsk_any-token-the-store-cannot-check';
      const api = createApi({ getStore, sourceDownAfterMs: 30_000, gate: gateFor(getStore) });
      for (const response of [api.alerts(get('/api/v1/alerts')), api.alert(get('/api/v1/alerts/1'), idCtx('1')), api.ackAlert(post('/api/v1/alerts/1/ack', {}), idCtx('1'))]) {
        const body = await json<ErrorBody>(response, 503);
        expect(body.error.code).toBe('STORE_UNAVAILABLE');
        expect(body.error.message).toMatch(/db:migrate/);
      }
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
