import { describe, expect, it } from 'vitest';
import { hygieneHazards, type HoldFacts, type LockHistory } from './history-hazards.js';

const ref = { lockId: 'L', source: 's', name: 'lock:x' };
const NOW = 10_000_000;

function holds(n: number, fact: (i: number) => Partial<HoldFacts>): HoldFacts[] {
  return Array.from({ length: n }, (_, i) => ({ heldMs: 100, ttlMs: 10_000, renewals: 0, waitMs: null, token: null, endedAt: NOW - 1_000 * (n - i), ...fact(i) }));
}

const kinds = (lock: LockHistory) => hygieneHazards(lock, { now: NOW }).map((h) => h.kind).sort();

describe('hygieneHazards', () => {
  it('a healthy etcd lock: nothing', () => {
    expect(kinds({ ref, dialect: 'etcd-mutex', holds: holds(50, (i) => ({ token: String(i + 1), waitMs: i % 5 === 0 ? 10 : 0 })), current: null })).toEqual([]);
  });

  it('redis-py at its default (no TTL): no_ttl, and no_fencing', () => {
    const found = hygieneHazards({ ref, dialect: 'redis-string', holds: holds(3, () => ({ ttlMs: null })), current: { holder: 'tok', token: null, acquiredAt: NOW - 5, ttlMs: null } }, { now: NOW });
    expect(found.map((h) => h.kind).sort()).toEqual(['no_fencing', 'no_ttl']);
    expect(found.find((h) => h.kind === 'no_ttl')).toMatchObject({ severity: 'warning', holders: ['tok'], evidence: { holdsWithoutTtl: 3, currentWithoutTtl: true } });
  });

  it('ttl_too_short: unrenewed holds whose p99 passes 0.8 x TTL; not with fewer than 20 holds', () => {
    const slow = holds(40, (i) => ({ heldMs: i === 39 ? 9_500 : 8_500, token: '1' }));
    expect(kinds({ ref, dialect: 'etcd-lease-key', holds: slow, current: null })).toEqual(['ttl_too_short']);
    expect(kinds({ ref, dialect: 'etcd-lease-key', holds: slow.slice(0, 10), current: null })).toEqual([]);
    // Renewed holds are allowed to run long.
    expect(kinds({ ref, dialect: 'etcd-lease-key', holds: slow.map((h) => ({ ...h, renewals: 3 })), current: null })).toEqual([]);
  });

  it('ttl_too_long, hot_lock and renewed_forever from their figures', () => {
    expect(kinds({ ref, dialect: 'etcd-mutex', holds: holds(30, () => ({ ttlMs: 600_000, heldMs: 200, token: '1' })), current: null })).toEqual(['ttl_too_long']);
    expect(kinds({ ref, dialect: 'etcd-mutex', holds: holds(30, (i) => ({ waitMs: i < 20 ? 500 : 0, token: '1' })), current: null })).toEqual(['hot_lock']);
    const renewed = hygieneHazards({ ref, dialect: 'etcd-mutex', holds: holds(30, () => ({ token: '1' })), current: { holder: 'L9', token: '77', acquiredAt: NOW - 200_000, ttlMs: 10_000 } }, { now: NOW });
    expect(renewed).toMatchObject([{ kind: 'renewed_forever', holders: ['L9'], evidence: { heldMs: 200_000 } }]);
  });
});
