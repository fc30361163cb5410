import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type LockDetail, type LockHolds, type LockList, type LockMetrics, type Overview, type SourceView, type Store } from '@lockscope/store';
import { createTestDatabase, freePort } from '@lockscope/testing';
import { describe, expect, it } from 'vitest';
import { BULK_LOCKS, exactQuantile, LONG_NAME, SCRIPT_NAME, seedFleet, TTL_MS, WAITS_MS, type Seeded } from '../test-support/seed';
import { gateFor } from '../test-support/test-gate';
import { createApi, type Api } from './api';

type Provider = 'sqlite' | 'postgresql';

async function withApi(provider: Provider, fn: (api: Api, seeded: Seeded, store: Store) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'lockscope-dash-'));
  const pg = provider === 'postgresql' ? await createTestDatabase() : null;
  let store: Store | undefined;
  try {
    store = await openStore({ url: pg ? pg.url : `file:${join(dir, 'store.db')}` });
    await store.migrate();
    const seeded = await seedFleet(store);
    const opened = store;
    const getStore = async () => opened;
    const api = createApi({ getStore, sourceDownAfterMs: 30_000, now: () => seeded.now, gate: gateFor(getStore) });
    await fn(api, seeded, store);
  } finally {
    await store?.close();
    await pg?.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const req = (path: string) => new Request(`http://127.0.0.1${path}`);
const idCtx = (id: string) => ({ params: Promise.resolve({ id }) });

async function json<T>(response: Promise<Response> | Response, status = 200): Promise<T> {
  const r = await response;
  const body = (await r.json()) as T;
  expect(r.status, JSON.stringify(body)).toBe(status);
  return body;
}

interface ErrorBody {
  error: { code: string; message: string };
}

async function allPages(api: Api, query: string, limit: number): Promise<LockList['items']> {
  const items: LockList['items'] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 100; page++) {
    const body: LockList = await json<LockList>(api.locks(req(`/api/v1/locks?${query}&limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`)));
    items.push(...body.items);
    cursor = body.nextCursor;
    if (!cursor) return items;
  }
  throw new Error('pagination did not end');
}

/** Nulls last in both directions, ties by id: the order the API promises. */
function expectSorted(items: LockList['items'], key: (l: LockList['items'][number]) => number | string | null, order: 'asc' | 'desc'): void {
  for (let i = 1; i < items.length; i++) {
    const a = key(items[i - 1]!);
    const b = key(items[i]!);
    if (a === null) {
      expect(b, `null must come last (row ${i})`).toBeNull();
      continue;
    }
    if (b === null) continue;
    if (a === b) {
      expect(items[i - 1]!.id < items[i]!.id, `ties ordered by id (row ${i})`).toBe(true);
      continue;
    }
    // Compare the way the databases do for these ASCII names.
    expect(order === 'asc' ? a < b : a > b, `row ${i}: ${String(a)} then ${String(b)}`).toBe(true);
  }
}

describe.each<Provider>(['sqlite', 'postgresql'])('API v1 on %s', (provider) => {
  it('overview: held, near expiry, waiters, fleet P95 merged from rollup sketches, expirations, sources', async () => {
    await withApi(provider, async (api, seeded) => {
      const o = await json<Overview>(api.overview(req('/api/v1/overview')));
      expect(o.locks).toBe(seeded.total);
      // contended + payments + long name + every third bulk lock
      expect(o.locksHeld).toBe(3 + Math.ceil(BULK_LOCKS / 3));
      expect(o.nearExpiryNow).toBe(1);
      expect(o.locksWithWaiters).toBe(1);
      expect(o.waitersObservable).toBe(true);
      expect(o.acquisition.samples).toBe(WAITS_MS.length);
      const exact = exactQuantile(WAITS_MS, 0.95);
      // DDSketch: 1 % relative accuracy, plus one rank of slack for the quantile definition.
      expect(Math.abs(o.acquisition.p95Ms! - exact)).toBeLessThanOrEqual(exact * 0.01 + 1);
      expect(o.expirationsLastHour).toBe(1);
      expect(o.sources).toEqual({ total: 3, up: 2, down: 1 });
    });
  });

  it('locks: filters by state, source and name; near-expiry and not-observable fields', async () => {
    await withApi(provider, async (api, seeded) => {
      const near = await json<LockList>(api.locks(req('/api/v1/locks?state=near-expiry')));
      expect(near.items.map((l) => l.id)).toEqual([seeded.ids.nearExpiry]);
      expect(near.items[0]).toMatchObject({ nearExpiry: true, waiters: null, waitersObservable: false, p95AcquisitionMs: null, ttlMs: 10_000 });
      expect(near.items[0]!.leaseUsedRatio).toBeCloseTo(0.9, 5);

      const contended = await json<LockList>(api.locks(req('/api/v1/locks?state=contended')));
      expect(contended.items.map((l) => l.id)).toEqual([seeded.ids.contended]);
      expect(contended.items[0]).toMatchObject({ waiters: 2, holder: '694d7b0e9f1c2a01', token: '1042', heldMs: 20_000, remainingMs: TTL_MS - 20_000 });
      expect(contended.items[0]!.p95AcquisitionMs).not.toBeNull();

      const etcd = await json<LockList>(api.locks(req('/api/v1/locks?source=etcd-main')));
      expect(etcd.total).toBe(1);
      const byName = await json<LockList>(api.locks(req(`/api/v1/locks?name=${encodeURIComponent('<script>')}`)));
      expect(byName.items.map((l) => l.name)).toEqual([SCRIPT_NAME]);
      const free = await json<LockList>(api.locks(req('/api/v1/locks?state=free&limit=500')));
      expect(free.items.every((l) => !l.held && l.holder === null && l.leaseUsedRatio === null)).toBe(true);
      expect(free.total).toBe(seeded.total - (3 + Math.ceil(BULK_LOCKS / 3)));
      // Wildcards in the substring are literal.
      const pct = await json<LockList>(api.locks(req('/api/v1/locks?name=%25')));
      expect(pct.total).toBe(0);
      const long = await json<LockList>(api.locks(req(`/api/v1/locks?name=${encodeURIComponent('batch/xxx')}`)));
      expect(long.items[0]!.name).toBe(LONG_NAME);
    });
  });

  it('locks: cursor pagination visits every lock once, in order, for nullable and plain sorts', async () => {
    await withApi(provider, async (api, seeded) => {
      const cases: { query: string; key: (l: LockList['items'][number]) => number | string | null; order: 'asc' | 'desc' }[] = [
        { query: 'sort=name', key: (l) => l.name, order: 'asc' },
        { query: 'sort=ttl&order=desc', key: (l) => l.ttlMs, order: 'desc' },
        { query: 'sort=expires&order=asc', key: (l) => l.expiresAt, order: 'asc' },
        { query: 'sort=heldFor&order=asc', key: (l) => l.acquiredAt, order: 'asc' },
        { query: 'sort=waiters&order=desc', key: (l) => l.waiters ?? 0, order: 'desc' },
      ];
      for (const c of cases) {
        const items = await allPages(api, c.query, 7);
        expect(items.length, c.query).toBe(seeded.total);
        expect(new Set(items.map((l) => l.id)).size, c.query).toBe(seeded.total);
        // Names with '<' and 'b' compare differently under PostgreSQL collations; check order on the bulk names only.
        expectSorted(c.query === 'sort=name' ? items.filter((l) => l.name.startsWith('bulk/')) : items, c.key, c.order);
      }
      const first = await json<LockList>(api.locks(req('/api/v1/locks?limit=10')));
      expect(first.total).toBe(seeded.total);
      expect(first.nextCursor).not.toBeNull();
    });
  });

  it('lock detail, holds in range with the current hold, and 404 for an unknown lock', async () => {
    await withApi(provider, async (api, seeded) => {
      const d = await json<LockDetail>(api.lock(req(`/api/v1/locks/${seeded.ids.contended}`), idCtx(seeded.ids.contended)));
      expect(d.waiterQueue).toEqual([
        { holder: '694d7b0e9f1c2a02', since: seeded.now - 15_000, waitedMs: 15_000, token: '1043' },
        { holder: '694d7b0e9f1c2a03', since: seeded.now - 5_000, waitedMs: 5_000, token: '1044' },
      ]);
      const redis = await json<LockDetail>(api.lock(req(`/api/v1/locks/${seeded.ids.nearExpiry}`), idCtx(seeded.ids.nearExpiry)));
      expect(redis.waiterQueue).toBeNull();
      expect(redis.nearExpiry).toBe(true);

      const h = await json<LockHolds>(api.holds(req(`/api/v1/locks/${seeded.ids.contended}/holds?from=${seeded.now - 3_600_000}&to=${seeded.now}`), idCtx(seeded.ids.contended)));
      expect(h.holds).toHaveLength(seeded.completedHolds.length + 1);
      expect(h.holds.map((x) => x.endReason)).toEqual(['released', 'released', 'released', 'released', 'expired', 'force_released', 'held']);
      expect(h.holds.at(-1)).toMatchObject({ current: true, endedAt: null, heldMs: 20_000, ttlMs: TTL_MS, token: '1042' });
      const tokens = h.holds.map((x) => Number(x.token));
      expect([...tokens].sort((a, b) => a - b)).toEqual(tokens);
      // Defaults to the last hour.
      const def = await json<LockHolds>(api.holds(req(`/api/v1/locks/${seeded.ids.contended}/holds`), idCtx(seeded.ids.contended)));
      expect(def.holds).toHaveLength(7);

      const missing = await json<ErrorBody>(api.lock(req('/api/v1/locks/nope'), idCtx('nope')), 404);
      expect(missing.error.code).toBe('LOCK_NOT_FOUND');
      const missingMetrics = await json<ErrorBody>(api.metrics(req('/api/v1/locks/nope/metrics'), idCtx('nope')), 404);
      expect(missingMetrics.error.code).toBe('LOCK_NOT_FOUND');
    });
  });

  it('metrics: quantiles per step and over the range from rollup sketches; null (not 0) where not observable', async () => {
    await withApi(provider, async (api, seeded) => {
      const from = seeded.now - 3_600_000;
      const m = await json<LockMetrics>(api.metrics(req(`/api/v1/locks/${seeded.ids.contended}/metrics?from=${from}&to=${seeded.now}&step=300000`), idCtx(seeded.ids.contended)));
      expect(m.step).toBe(300_000);
      expect(m.points.length).toBeGreaterThanOrEqual(12);
      expect(m.points.length).toBeLessThanOrEqual(13);
      expect(m.totals.acquisition!.count).toBe(WAITS_MS.length);
      const exact99 = exactQuantile(WAITS_MS, 0.99);
      expect(Math.abs(m.totals.acquisition!.p99 - exact99)).toBeLessThanOrEqual(exact99 * 0.01 + 1);
      expect(m.points.reduce((n, p) => n + (p.acquisition?.count ?? 0), 0)).toBe(WAITS_MS.length);
      expect(m.totals.expirations).toBe(1);
      expect(m.totals.waitersMax).toBe(3);
      // Steps without data have null quantiles, not zeros.
      expect(m.points[0]!.acquisition).toBeNull();
      expect(m.points[0]!.waitersMean).toBeNull();

      const r = await json<LockMetrics>(api.metrics(req(`/api/v1/locks/${seeded.ids.nearExpiry}/metrics?from=${from}&to=${seeded.now}`), idCtx(seeded.ids.nearExpiry)));
      expect(r.waitersObservable).toBe(false);
      expect(r.totals.acquisitions).toBe(2);
      expect(r.totals.acquisition).toBeNull();
      expect(r.totals.waitersMax).toBeNull();
      expect(r.points.every((p) => p.acquisition === null && p.waitedShare === null)).toBe(true);
    });
  });

  it('bad parameters are 400 with a message', async () => {
    await withApi(provider, async (api, seeded) => {
      const id = seeded.ids.contended;
      const bad: [Promise<Response>, RegExp][] = [
        [api.locks(req('/api/v1/locks?state=sleepy')), /state/],
        [api.locks(req('/api/v1/locks?limit=0')), /limit/],
        [api.locks(req('/api/v1/locks?limit=abc')), /limit/],
        [api.locks(req('/api/v1/locks?sort=color')), /sort/],
        [api.locks(req('/api/v1/locks?cursor=not-a-cursor')), /cursor/],
        [api.locks(req('/api/v1/locks?sort=ttl&cursor=eyJ2IjoiYWJjIiwiaWQiOiJ4In0')), /cursor/],
        [api.locks(req('/api/v1/locks?state=held&state=free')), /more than once/],
        [api.locks(req('/api/v1/locks?bogus=1')), /bogus/],
        [api.overview(req('/api/v1/overview?x=1')), /x/],
        [api.metrics(req(`/api/v1/locks/${id}/metrics?from=10&to=5`), idCtx(id)), /before/],
        [api.metrics(req(`/api/v1/locks/${id}/metrics?from=abc`), idCtx(id)), /from/],
        [api.metrics(req(`/api/v1/locks/${id}/metrics?step=1000`), idCtx(id)), /step/],
        [api.metrics(req(`/api/v1/locks/${id}/metrics?from=0&to=${seeded.now}`), idCtx(id)), /31 days/],
        [api.metrics(req(`/api/v1/locks/${id}/metrics?from=${seeded.now - 7 * 86_400_000}&to=${seeded.now}&step=60000`), idCtx(id)), /points/],
        [api.holds(req(`/api/v1/locks/${id}/holds?limit=-1`), idCtx(id)), /limit/],
        [api.lock(req('/api/v1/locks/%3Cscript%3E'), idCtx('<script>')), /lock id/],
      ];
      for (const [response, message] of bad) {
        const body = await json<ErrorBody>(response, 400);
        expect(body.error.code).toBe('BAD_REQUEST');
        expect(body.error.message).toMatch(message);
      }
    });
  });

  it('sources: health, last event, ingest lag, lock count', async () => {
    await withApi(provider, async (api, seeded) => {
      const { sources } = await json<{ sources: SourceView[] }>(api.sources(req('/api/v1/sources')));
      expect(sources.map((s) => [s.name, s.up])).toEqual([
        ['etcd-main', true],
        ['redis-main', true],
        ['redis-old', false],
      ]);
      expect(sources[0]).toMatchObject({ kind: 'etcd', lastEventAt: seeded.now - 1_000, ingestLagMs: 12, lockCount: 2 });
      expect(sources[2]!.lastError).toMatch(/ECONNREFUSED/);
    });
  });
});

describe('API v1 with the store down', () => {
  it('answers 503 STORE_UNAVAILABLE with a message and no password', async () => {
    const port = await freePort();
    const url = `postgresql://lockscope:s3cret-pw@127.0.0.1:${port}/nothing`;
    const getStore = () => openStore({ url });
    const api = createApi({ getStore, sourceDownAfterMs: 30_000, gate: gateFor(getStore) });
    for (const response of [api.overview(req('/api/v1/overview')), api.locks(req('/api/v1/locks')), api.sources(req('/api/v1/sources'))]) {
      const r = await response;
      const text = await r.text();
      expect(r.status).toBe(503);
      const body = JSON.parse(text) as ErrorBody;
      expect(body.error.code).toBe('STORE_UNAVAILABLE');
      expect(body.error.message).toMatch(/store/);
      expect(text).not.toContain('s3cret-pw');
    }
  });

  it('answers 503 when the database exists but has no tables yet', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lockscope-dash-'));
    const store = await openStore({ url: `file:${join(dir, 'empty.db')}` });
    try {
      const getStore = async () => store;
      const api = createApi({ getStore, sourceDownAfterMs: 30_000, gate: gateFor(getStore) });
      const body = await json<ErrorBody>(api.overview(req('/api/v1/overview')), 503);
      expect(body.error.message).toMatch(/db:migrate/);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
