import type { LiveLock } from '@lockscope/core';
import { describe, expect, it } from 'vitest';
import { filterLocks, sortLocks } from './lock-filter.js';
import { freeLockRow, toLockRow, type StoredLockFacts } from './lock-row.js';
import { lockRowSchema } from './lock-row-schema.js';

const now = 1_700_000_100_000;
const opts = { nearExpiryRatio: 0.8 };

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
    // etcd's "1 s" means 1 to 2 s remain: the middle of that second, of a 10 s lease.
    expect(row.leaseUsedRatio).toBeCloseTo(0.85);
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

describe('toLockRow with what the store knows', () => {
  const redisKey = Buffer.from('lock:pay').toString('hex');
  function stored(partial: Partial<StoredLockFacts>): StoredLockFacts {
    return {
      source: 'redis-main', name: 'lock:pay', rawKey: redisKey, dialect: 'redis-string', held: true, holdId: 'tok-1', holder: 'tok-1', token: null,
      acquiredAt: now - 2_700, lastRenewedAt: now - 2_700, ttlMs: 3_000, waiterQueue: null, lastChangeAt: now - 2_700, ...partial,
    };
  }
  // A live Redis read: PTTL only, the grant unseen (ttlMs null beside a remaining time).
  const redisLive = lock({ source: 'redis-main', name: 'lock:pay', dialect: 'redis-string', hold: { holdId: 'tok-1', holder: 'tok-1', token: null, ttlMs: null, remainingMs: 300 } });

  it('takes the granted TTL and the start of the hold from the store, so lease used and near expiry are right', () => {
    const row = toLockRow(redisLive, { ...opts, stored: stored({}) });
    expect(row).toMatchObject({ ttlMs: 3_000, remainingMs: 300, acquiredAt: now - 2_700, heldMs: 2_700, nearExpiry: true });
    expect(row.leaseUsedRatio).toBeCloseTo(0.9);
  });

  it('without the store, a Redis TTL is unknown: never the remaining time, and near expiry unknown', () => {
    const row = toLockRow(redisLive, opts);
    expect(row).toMatchObject({ ttlMs: null, remainingMs: 300, leaseUsedRatio: null, nearExpiry: null, acquiredAt: null, heldMs: null });
  });

  it('ignores a stored row that describes another hold', () => {
    const row = toLockRow(redisLive, { ...opts, stored: stored({ holdId: 'tok-0', holder: 'tok-0' }) });
    expect(row).toMatchObject({ ttlMs: null, acquiredAt: null });
  });

  it('is not near expiry at exactly the ratio (strictly above)', () => {
    const row = toLockRow({ ...redisLive, hold: { ...redisLive.hold!, remainingMs: 600 } }, { ...opts, stored: stored({}) });
    expect(row.leaseUsedRatio).toBeCloseTo(0.8);
    expect(row.nearExpiry).toBe(false);
  });

  const etcd3s = (remainingMs: number) =>
    lock({ name: '/locks/short', dialect: 'etcd-lease-key', hold: { holdId: '@9', holder: '6a', token: '9', ttlMs: 3_000, remainingMs } });

  it('does not read an etcd whole-second remaining time as exact: a 3 s lease one second in is not 67 % used', () => {
    // 1.01 s into a 3 s lease etcd answers TTL 1 (1.99 s truncated).
    const row = toLockRow(etcd3s(1_000), opts);
    expect(row.remainingMs).toBe(1_500);
    expect(row.leaseUsedRatio).toBeCloseTo(0.5);
    expect(row.nearExpiry).toBe(false);
  });

  it('narrows an etcd reading to the millisecond with the last grant the store knows, when they agree', () => {
    // Granted 2.75 s ago; the collector read "2 s" (2.99 truncated) then, so it stored the grant as 1 s earlier.
    const facts = stored({ source: 'etcd-main', name: '/locks/short', rawKey: Buffer.from('/locks/short').toString('hex'), dialect: 'etcd-lease-key', holdId: '@9', lastRenewedAt: now - 3_750, acquiredAt: now - 2_750 });
    const row = toLockRow(etcd3s(0), { ...opts, stored: facts });
    expect(row.remainingMs).toBe(250);
    expect(row.nearExpiry).toBe(true);
    // A keepalive since the store's grant: the reading wins.
    const renewed = toLockRow(etcd3s(2_000), { ...opts, stored: facts });
    expect(renewed.remainingMs).toBe(2_500);
    expect(renewed.nearExpiry).toBe(false);
  });

  it('times waiters from when the store saw them arrive', () => {
    const live = { ...mutex, waiters: mutex.waiters!.map((w) => ({ ...w, since: null })) };
    const facts = stored({ source: 'etcd-main', name: '/locks/job', dialect: 'etcd-mutex', holdId: 'aa@12', waiterQueue: JSON.stringify([{ id: 'bb@13', holder: '694d8a1d', since: now - 9_000 }]) });
    const row = toLockRow(live, { ...opts, stored: facts });
    expect(row.waiterQueue!.map((w) => w.waitedMs)).toEqual([9_000, null]);
  });

  it('shows a lock only the store knows as free, in the contract shape', () => {
    const row = freeLockRow(stored({ held: false, holdId: null, holder: null }), { now });
    expect(lockRowSchema.parse(row)).toEqual(row);
    expect(row).toMatchObject({ name: 'lock:pay', held: false, holder: null, nearExpiry: false, keyHex: redisKey });
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
