// System test: the real collector watching real etcd and Redis seeds the store;
// the dashboard's /api/v1 handlers read it back, on SQLite and on PostgreSQL.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LatencySketch } from '@lockscope/core';
import { createTestDatabase, startEtcd, startRedis, waitFor, type EtcdServer, type RedisServer, type TestDatabase } from '@lockscope/testing';
import { startCollectorStack, type CollectorStack } from '../apps/collector/src/test-stack.js';
import { createApi } from '../apps/dashboard/src/server/api.js';
import { gateFor } from '../apps/dashboard/src/test-support/test-gate.js';

const backends: Array<'sqlite' | 'postgresql'> = ['sqlite', 'postgresql'];

describe.each(backends)('collector -> store -> /api/v1 on %s', (backend) => {
  let etcd: EtcdServer;
  let redis: RedisServer;
  let stack: CollectorStack;
  let db: TestDatabase | undefined;
  let dir: string;
  let api: ReturnType<typeof createApi>;

  const get = async (handler: (req: Request, ctx: { params: Promise<{ id: string }> }) => Promise<Response>, path: string, id = '') => {
    const res = await handler(new Request(`http://127.0.0.1${path}`), { params: Promise.resolve({ id }) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> & { error?: { code: string } } };
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lockscope-system-'));
    [etcd, redis] = await Promise.all([startEtcd(), startRedis()]);
    db = backend === 'postgresql' ? await createTestDatabase() : undefined;
    const storeUrl = db ? db.url : `file:${join(dir, 'store.db')}`;
    stack = await startCollectorStack({ etcd: { endpoints: etcd.endpoints }, redis: { url: redis.url }, storeUrl });
    const getStore = async () => stack.store;
    api = createApi({ getStore, sourceDownAfterMs: 30_000, gate: gateFor(getStore) });
  });

  afterAll(async () => {
    await stack?.dispose();
    await Promise.all([etcd?.stop(), redis?.stop()]);
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('three contended etcdctl lock holds: three holds, increasing tokens, waiters seen, a P95 that matches the recorded waits', async () => {
    const first = etcd.spawnEtcdctl(['lock', '/locks/api-job']);
    const others = [];
    try {
      await waitFor(async () => (await stack.lock('etcd-test', '/locks/api-job'))?.held, { timeoutMs: 15_000, message: 'the first holder' });
      others.push(etcd.spawnEtcdctl(['lock', '/locks/api-job', 'sleep', '0.3']));
      await waitFor(async () => (await stack.lock('etcd-test', '/locks/api-job'))?.waiters === 1, { timeoutMs: 15_000, message: 'one waiter' });
      others.push(etcd.spawnEtcdctl(['lock', '/locks/api-job', 'sleep', '0.3']));
      await waitFor(async () => (await stack.lock('etcd-test', '/locks/api-job'))?.waiters === 2, { timeoutMs: 15_000, message: 'two waiters' });
      await first.stop();
      await Promise.all(others.map((c) => c.exited));
    } finally {
      await Promise.all([first, ...others].map((c) => c.stop()));
    }
    await waitFor(async () => (await stack.holds('etcd-test', '/locks/api-job')).length === 3, { timeoutMs: 15_000, message: 'three holds' });
    await stack.collector.flushNow();

    const list = await get(api.locks, '/api/v1/locks?source=etcd-test&name=%2Flocks%2Fapi-job');
    expect(list.status).toBe(200);
    const items = list.body.items as Array<{ id: string; name: string; dialect: string; waitersObservable: boolean }>;
    expect(items.map((i) => i.name)).toEqual(['/locks/api-job']);
    expect(items[0]!.dialect).toBe('etcd-mutex');
    const id = items[0]!.id;

    const holds = await get(api.holds, `/api/v1/locks/${id}/holds`, id);
    expect(holds.status).toBe(200);
    const done = (holds.body.holds as Array<{ token: string; waitMs: number; current: boolean; endReason: string }>).filter((h) => !h.current);
    expect(done).toHaveLength(3);
    const tokens = done.map((h) => BigInt(h.token));
    expect(tokens[0]! < tokens[1]! && tokens[1]! < tokens[2]!).toBe(true);
    expect(done.every((h) => h.endReason === 'released')).toBe(true);
    const waits = done.map((h) => h.waitMs);
    expect(waits[0]).toBe(0);
    expect(waits[1]).toBeGreaterThan(0);

    const metrics = await get(api.metrics, `/api/v1/locks/${id}/metrics`, id);
    expect(metrics.status).toBe(200);
    const totals = metrics.body.totals as { acquisition: { p95: number; count: number } | null; acquisitions: number; waitersMax: number | null; waitedAcquisitions: number };
    expect(totals.acquisitions).toBe(3);
    expect(totals.waitedAcquisitions).toBe(2);
    expect(totals.waitersMax).toBe(2);
    // The P95 from merged rollup sketches equals the sketch of the recorded waits (1% accuracy).
    const expected = new LatencySketch();
    for (const w of waits) expected.add(w);
    expect(totals.acquisition!.count).toBe(3);
    expect(totals.acquisition!.p95).toBeCloseTo(expected.quantile(0.95)!, 1);
    // DDSketch answers with a recorded value (nearest rank), within its 1% accuracy.
    expect(waits.some((w) => Math.abs(totals.acquisition!.p95 - w) <= Math.max(1, w * 0.011))).toBe(true);

    // Seven days are read from the hour rollups the collector keeps beside the minute ones: same figures.
    const now = Date.now();
    const week = await get(api.metrics, `/api/v1/locks/${id}/metrics?from=${now - 7 * 86_400_000}&to=${now + 60_000}`, id);
    expect(week.status).toBe(200);
    expect(week.body.step).toBe(2 * 3_600_000);
    expect(week.body.totals).toEqual(totals);
  });

  it('a Redis SET NX PX lock shows its holder and TTL; acquisition latency is not observable (null, never 0)', async () => {
    await redis.cli(['SET', 'lock:api', 'tok-api', 'NX', 'PX', '60000']);
    await waitFor(async () => (await stack.lock('redis-test', 'lock:api'))?.held, { message: 'the Redis lock' });
    await stack.collector.flushNow();
    const list = await get(api.locks, '/api/v1/locks?source=redis-test&name=lock%3Aapi');
    const item = (list.body.items as Array<Record<string, unknown>>)[0]!;
    expect(item).toMatchObject({ name: 'lock:api', dialect: 'redis-string', held: true, holder: 'tok-api', waitersObservable: false, waiters: null });
    expect(item.ttlMs).toBeGreaterThan(59_000);
    const metrics = await get(api.metrics, `/api/v1/locks/${item.id as string}/metrics`, item.id as string);
    expect((metrics.body.totals as { acquisition: unknown }).acquisition).toBeNull();
    expect(metrics.body.waitersObservable).toBe(false);

    const overview = await get(api.overview, '/api/v1/overview');
    expect(overview.status).toBe(200);
    expect(overview.body.locksHeld).toBeGreaterThanOrEqual(1);
    expect(overview.body.locks).toBeGreaterThanOrEqual(2);
    const sources = await get(api.sources, '/api/v1/sources');
    const names = (sources.body.sources as Array<{ name: string; connected: boolean }>).map((s) => [s.name, s.connected]);
    expect(names).toEqual(expect.arrayContaining([['etcd-test', true], ['redis-test', true]]));
  });
});
