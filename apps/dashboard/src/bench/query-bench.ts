// Read-side benchmark: the store queries behind GET overview, locks, locks/{id}/metrics (7 days)
// and holds, on SQLite and PostgreSQL, with data written through the store's own writeBatch.
// Run: npx tsx apps/dashboard/src/bench/query-bench.ts [locks=1000] [runs=30]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bucketOf, lockId, RollupAccumulator, RollupTier } from '@lockscope/core';
import { getLockHolds, getLockMetrics, getOverview, listLocks, openStore, type HoldRow, type LockRow, type RollupRow, type Store } from '@lockscope/store';
import { createTestDatabase } from '@lockscope/testing';

const LOCKS = Number(process.argv[2] ?? 1000);
const RUNS = Number(process.argv[3] ?? 30);
const DAY = 86_400_000;

async function seed(store: Store, now: number): Promise<string> {
  const enc = (s: string) => new TextEncoder().encode(s);
  const ids: string[] = [];
  const locks: LockRow[] = [];
  for (let i = 0; i < LOCKS; i++) {
    const name = `/locks/job-${i}`;
    const id = lockId('etcd-main', enc(name));
    ids.push(id);
    const held = i % 2 === 0;
    locks.push({
      id, source: 'etcd-main', name, rawKey: Buffer.from(name).toString('hex'), dialect: 'etcd-mutex', held,
      holder: held ? `lease-${i}` : null, acquiredAt: held ? now - i * 1000 : null, ttlMs: held ? 60_000 : null,
      expiresAt: held ? now - i * 1000 + 60_000 : null, nearExpiryAt: held ? now - i * 1000 + 48_000 : null,
      waiters: i % 7, firstSeenAt: now - 7 * DAY, lastChangeAt: now - i * 1000,
    });
  }
  await store.writeBatch({ sources: [{ name: 'etcd-main', kind: 'etcd', connected: true, updatedAt: now }], locks });
  // Every lock active every minute for the last hour; the first lock every minute for 7 days.
  const rows: RollupRow[] = [];
  const flush = async () => {
    if (rows.length) await store.writeBatch({ rollups: rows.splice(0) });
  };
  // Hour rollups as the collector keeps them beside the minute ones.
  const hours = new RollupTier('hour');
  const minute = (id: string, b: number, k: number) => {
    const a = new RollupAccumulator({ lockId: id, bucket: b, source: 'etcd-main' });
    const h = hours.accumulator(id, 'etcd-main', hours.bucketOf(b));
    for (const acc of [a, h]) {
      for (let j = 0; j < 3; j++) acc.recordAcquisition(((k * 7 + j * 13) % 200) + 1);
      acc.recordHoldEnd(5_000 + (k % 50) * 100, 'released');
      acc.sampleWaiters(k % 5);
    }
    hours.dirty.add(h);
    const r = a.toRow();
    rows.push({ ...r, bucket: Number(r.bucket) });
  };
  const nowBucket = bucketOf(now);
  for (let m = 0; m < 60; m++) for (let i = 1; i < LOCKS; i++) {
    minute(ids[i]!, nowBucket - m * 60_000, m + i);
    if (rows.length >= 5000) await flush();
  }
  for (let m = 0; m < 7 * 24 * 60; m++) {
    minute(ids[0]!, nowBucket - m * 60_000, m);
    if (rows.length >= 5000) await flush();
  }
  await flush();
  const hourRows: RollupRow[] = [];
  hours.flush(true, now, (acc) => {
    const r = acc.toRow();
    hourRows.push({ ...r, bucket: Number(r.bucket) });
  });
  for (let i = 0; i < hourRows.length; i += 5000) await store.writeBatch({ rollupHours: hourRows.slice(i, i + 5000) });
  const holds: HoldRow[] = [];
  for (let k = 0; k < 20_000; k++) {
    const acquiredAt = now - 7 * DAY + k * 30_000;
    holds.push({ lockId: ids[0]!, holdKey: `rev:${k}`, holder: `lease-${k % 9}`, token: String(k), acquiredAt, endedAt: acquiredAt + 20_000, heldMs: 20_000, ttlMs: 60_000, endReason: 'released' });
    if (holds.length >= 5000) await store.writeBatch({ holds: holds.splice(0) });
  }
  return ids[0]!;
}

async function time(label: string, fn: () => Promise<unknown>): Promise<string> {
  await fn();
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    await fn();
    samples.push(performance.now() - t);
  }
  samples.sort((a, b) => a - b);
  const q = (p: number) => samples[Math.min(samples.length - 1, Math.ceil(p * samples.length) - 1)]!.toFixed(1);
  return `${label.padEnd(34)} p50 ${q(0.5).padStart(7)} ms   p95 ${q(0.95).padStart(7)} ms`;
}

async function run(provider: 'sqlite' | 'postgresql'): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'lockscope-qbench-'));
  const pg = provider === 'postgresql' ? await createTestDatabase() : null;
  const store = await openStore({ url: pg ? pg.url : `file:${join(dir, 'bench.db')}` });
  try {
    await store.migrate();
    const now = Date.now();
    const t0 = performance.now();
    const hot = await seed(store, now);
    console.log(`${provider}: ${LOCKS} locks, ${(LOCKS - 1) * 60 + 7 * 24 * 60} rollup rows, 20000 holds seeded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const db = store.prisma;
    for (const line of [
      await time('GET overview', () => getOverview({ db, now })),
      await time('GET locks (50, sort name)', () => listLocks({ db, now })),
      await time('GET locks (50, state=held, expires)', () => listLocks({ db, now, state: 'held', sort: 'expires' })),
      await time('GET locks (name contains "job-9")', () => listLocks({ db, now, name: 'job-9' })),
      await time('GET metrics 7 d (hot lock)', () => getLockMetrics({ db, id: hot, from: now - 7 * DAY, to: now })),
      await time('GET holds 7 d (2000 of 20000)', () => getLockHolds({ db, id: hot, from: now - 7 * DAY, to: now })),
    ])
      console.log(`  ${line}`);
  } finally {
    await store.close();
    await pg?.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await run('sqlite');
await run('postgresql');
