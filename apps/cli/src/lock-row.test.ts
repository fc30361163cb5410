import type { LiveLock } from '@lockscope/core';
import { describe, expect, it } from 'vitest';
import { filterLocks, sortLocks } from './lock-filter.js';
import { toLockRow } from './lock-row.js';
import { lockRowSchema } from './lock-row-schema.js';

const now = 1_700_000_100_000;
const opts = { now, nearExpiryRatio: 0.8 };

function lock(partial: Partial<LiveLock> & Pick<LiveLock, 'name'>): LiveLock {
  return { source: 'etcd-main', key: new TextEncoder().encode(partial.name), dialect: 'etcd-mutex', hold: null, waiters: null, at: now, ...partial };
}

const mutex = lock({
  name: '/locks/job',
  hold: { holdId: 'aa@12', holder: '694d8a1c', token: '12', ttlMs: 10_000, remainingMs: 1_000, lease: '694d8a1c' },
  waiters: [
    { id: 'bb@13', holder: '694d8a1d', since: now - 4_000, token: '13' },
    { id: 'cc@14', holder: '694d8a1e', since: null, token: '14' },
  ],
});
const plain = lock({
  source: 'redis-main',
  name: 'lock:orders',
  dialect: 'redis-string',
  hold: { holdId: 'tok', holder: 'tok', token: null, ttlMs: null, remainingMs: null },
});

describe('toLockRow', () => {
  it('fills every contract field, with null for what the backend cannot tell', () => {
    const row = toLockRow(plain, opts);
    expect(lockRowSchema.parse(row)).toEqual(row);
    expect(row).toMatchObject({ holder: 'tok', token: null, ttlMs: null, remainingMs: null, leaseUsedRatio: null, waiters: null, waiterQueue: null, acquiredAt: null, heldMs: null });
    // No TTL: the hold cannot expire, so it is definitely not near expiry.
    expect(row.nearExpiry).toBe(false);
  });

  it('computes lease used from TTL and remaining, flags near expiry, and times waiters', () => {
    const row = toLockRow(mutex, opts);
    expect(row.leaseUsedRatio).toBeCloseTo(0.9);
    expect(row.nearExpiry).toBe(true);
    expect(row.waiters).toBe(2);
    expect(row.waiterQueue).toEqual([
      { holder: '694d8a1d', token: '13', since: now - 4_000, waitedMs: 4_000 },
      { holder: '694d8a1e', token: '14', since: null, waitedMs: null },
    ]);
    expect(row.keyHex).toBe(Buffer.from('/locks/job').toString('hex'));
  });

  it('says near expiry is unknown when the TTL is known but the remaining time is not', () => {
    const row = toLockRow(lock({ name: 'x', hold: { holdId: 'x', holder: 'h', token: '1', ttlMs: 5_000, remainingMs: null } }), opts);
    expect(row.nearExpiry).toBeNull();
  });

  it('shows an observable-waiters dialect with an empty queue as zero waiters, not unknown', () => {
    const row = toLockRow({ ...mutex, waiters: [] }, opts);
    expect(row.waiters).toBe(0);
  });
});

describe('filterLocks and sortLocks', () => {
  const rows = [toLockRow(mutex, opts), toLockRow(plain, opts), toLockRow(lock({ name: '/locks/.hidden/x' }), opts)];

  it('filters by source, glob (names with dots too), near expiry and contention', () => {
    expect(filterLocks(rows, { sources: ['redis-main'] }).map((r) => r.name)).toEqual(['lock:orders']);
    expect(filterLocks(rows, { match: '/locks/**' }).map((r) => r.name)).toEqual(['/locks/job', '/locks/.hidden/x']);
    expect(filterLocks(rows, { match: 'redis-main:*' }).map((r) => r.name)).toEqual(['lock:orders']);
    expect(filterLocks(rows, { nearExpiry: true }).map((r) => r.name)).toEqual(['/locks/job']);
    expect(filterLocks(rows, { contended: true }).map((r) => r.name)).toEqual(['/locks/job']);
  });

  it('sorts what needs attention first and unknown values last', () => {
    expect(sortLocks(rows, 'remaining').map((r) => r.name)[0]).toBe('/locks/job');
    expect(sortLocks(rows, 'waiters').map((r) => r.name)).toEqual(['/locks/job', '/locks/.hidden/x', 'lock:orders']);
    expect(sortLocks(rows, 'name').map((r) => r.name)).toEqual(['/locks/.hidden/x', '/locks/job', 'lock:orders']);
  });
});
