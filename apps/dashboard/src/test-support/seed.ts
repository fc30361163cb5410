import { bucketOf, lockId, RollupAccumulator } from '@lockscope/core';
import type { HoldRow, LockRow, RollupRow, SourceRow, Store } from '@lockscope/store';

// A small fleet written through the store's own write path (writeBatch), with
// figures the tests can compute by hand. Times are relative to `now` so a live
// server (which uses the wall clock) sees the same picture.

export const SCRIPT_NAME = '<script>window.__pwned = 1</script>';
export const LONG_NAME = `batch/${'x'.repeat(400)}\u0007\u202eend`;
/** Lease of the contended lock and its holds: long enough that the live browser tests run well before it nears expiry. */
export const TTL_MS = 300_000;
/** Acquisition waits recorded for the contended etcd lock, in ms, spread over the last 4 minutes (inside every "last 5 min"). */
export const WAITS_MS = Array.from({ length: 100 }, (_, i) => i + 1);
export const BULK_LOCKS = 120;

export interface Seeded {
  now: number;
  ids: { contended: string; nearExpiry: string; script: string; long: string; bulk: string[] };
  /** Completed holds of the contended lock within the last hour. */
  completedHolds: HoldRow[];
  total: number;
}

const enc = (s: string) => new TextEncoder().encode(s);
const toRollupRow = (acc: RollupAccumulator): RollupRow => {
  const r = acc.toRow();
  return { ...r, bucket: Number(r.bucket) };
};

export async function seedFleet(store: Store, now = Date.now()): Promise<Seeded> {
  const sources: SourceRow[] = [
    { name: 'etcd-main', kind: 'etcd', connected: true, lastEventAt: now - 1_000, lastSeenAt: now - 500, ingestLagMs: 12, lockCount: 2, updatedAt: now - 500 },
    { name: 'redis-main', kind: 'redis', connected: true, lastEventAt: now - 2_000, lastSeenAt: now - 700, ingestLagMs: 3, lockCount: 3 + BULK_LOCKS, updatedAt: now - 700 },
    { name: 'redis-old', kind: 'redis', connected: false, lastError: 'connect ECONNREFUSED 127.0.0.1:6390', lastSeenAt: now - 600_000, lockCount: 0, updatedAt: now - 600_000 },
  ];
  const contended = lockId('etcd-main', enc('/locks/cron-leader'));
  const nearExpiry = lockId('redis-main', enc('lock:payments'));
  const script = lockId('redis-main', enc(SCRIPT_NAME));
  const long = lockId('redis-main', enc(LONG_NAME));
  const base = { firstSeenAt: now - 3_600_000, lastChangeAt: now - 20_000 };
  const locks: LockRow[] = [
    {
      ...base,
      id: contended,
      source: 'etcd-main',
      name: '/locks/cron-leader',
      rawKey: Buffer.from('/locks/cron-leader').toString('hex'),
      dialect: 'etcd-mutex',
      held: true,
      holder: '694d7b0e9f1c2a01',
      token: '1042',
      acquiredAt: now - 20_000,
      ttlMs: TTL_MS,
      expiresAt: now - 20_000 + TTL_MS,
      nearExpiryAt: now - 20_000 + 0.8 * TTL_MS,
      waiters: 2,
      waiterQueue: JSON.stringify([
        { holder: '694d7b0e9f1c2a02', since: now - 15_000, token: '1043' },
        { holder: '694d7b0e9f1c2a03', since: now - 5_000, token: '1044' },
      ]),
      acquisitions: 7,
      expirations: 1,
    },
    {
      ...base,
      id: nearExpiry,
      source: 'redis-main',
      name: 'lock:payments',
      rawKey: Buffer.from('lock:payments').toString('hex'),
      dialect: 'redis-string',
      held: true,
      holder: 'c0ffee-token',
      acquiredAt: now - 9_000,
      ttlMs: 10_000,
      expiresAt: now + 1_000,
      nearExpiryAt: now - 1_000,
      acquisitions: 1,
    },
    { ...base, id: script, source: 'redis-main', name: SCRIPT_NAME, rawKey: Buffer.from(SCRIPT_NAME).toString('hex'), dialect: 'redis-string', held: false },
    {
      ...base,
      id: long,
      source: 'redis-main',
      name: LONG_NAME,
      rawKey: Buffer.from(LONG_NAME).toString('hex'),
      dialect: 'redis-string',
      held: true,
      holder: `holder-${'h'.repeat(200)}`,
      acquiredAt: now - 1_000,
      ttlMs: null,
    },
  ];
  const bulk: string[] = [];
  for (let i = 0; i < BULK_LOCKS; i++) {
    const name = `bulk/job-${String(i).padStart(3, '0')}`;
    const id = lockId('redis-main', enc(name));
    bulk.push(id);
    // Every third one held with a TTL that varies, so sorts by TTL and expiry have nulls and ties.
    const held = i % 3 === 0;
    locks.push({
      ...base,
      id,
      source: 'redis-main',
      name,
      rawKey: Buffer.from(name).toString('hex'),
      dialect: 'redis-string',
      held,
      holder: held ? `worker-${i}` : null,
      acquiredAt: held ? now - 1_000 * (i + 1) : null,
      ttlMs: held ? 30_000 + (i % 4) * 10_000 : null,
      expiresAt: held ? now - 1_000 * (i + 1) + 30_000 + (i % 4) * 10_000 : null,
      lastChangeAt: now - i * 1_000,
    });
  }

  // Six completed holds of the contended lock in the last hour, one of each interesting kind.
  const hold = (k: number, heldMs: number, endReason: string, extra: Partial<HoldRow> = {}): HoldRow => {
    const acquiredAt = now - 3_000_000 + k * 400_000;
    return { lockId: contended, holdKey: `rev:${1000 + k}`, holder: `694d7b0e9f1c2b0${k}`, token: String(1000 + k), acquiredAt, endedAt: acquiredAt + heldMs, heldMs, ttlMs: TTL_MS, waitMs: 10 * k, maxLeaseUsed: heldMs / TTL_MS, endReason, ...extra };
  };
  const completedHolds = [
    hold(0, 50_000, 'released'),
    hold(1, 100_000, 'released'),
    hold(2, 150_000, 'released'),
    hold(3, 275_000, 'released', { nearExpiry: true }),
    hold(4, 300_000, 'expired', { nearExpiry: true }),
    hold(5, 75_000, 'force_released'),
  ];
  // An old hold outside the last hour, to prove the range filter.
  const oldHold: HoldRow = { ...hold(0, 5_000, 'released'), holdKey: 'rev:900', acquiredAt: now - 3 * 3_600_000, endedAt: now - 3 * 3_600_000 + 5_000 };

  // Rollups: the waits spread over the last 4 minutes; hold ends in their minutes.
  const accs = new Map<number, RollupAccumulator>();
  const acc = (at: number) => {
    const b = bucketOf(at);
    let a = accs.get(b);
    if (!a) accs.set(b, (a = new RollupAccumulator({ lockId: contended, bucket: b, source: 'etcd-main' })));
    return a;
  };
  WAITS_MS.forEach((w, i) => {
    const a = acc(now - 30_000 - (i % 4) * 60_000);
    a.recordAcquisition(w);
    a.sampleWaiters(i % 4);
  });
  for (const h of completedHolds) acc(h.endedAt).recordHoldEnd(h.heldMs, h.endReason as 'released' | 'expired' | 'force_released');
  const payments = new RollupAccumulator({ lockId: nearExpiry, bucket: bucketOf(now - 120_000), source: 'redis-main' });
  // redis-string: acquisitions without an observable wait.
  payments.recordAcquisition(null);
  payments.recordAcquisition(null);

  await store.writeBatch({
    sources,
    locks,
    holds: [...completedHolds, oldHold],
    rollups: [...[...accs.values()].map(toRollupRow), toRollupRow(payments)],
  });
  return { now, ids: { contended, nearExpiry, script, long, bulk }, completedHolds, total: locks.length };
}

/** Nearest-rank quantile of plain numbers, to check merged sketches against. */
export function exactQuantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
}
