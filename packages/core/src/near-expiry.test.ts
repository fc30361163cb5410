import { describe, expect, it } from 'vitest';
import { libraryRenewalPoint, nearExpiryDueAt, nearExpiryFraction } from './near-expiry.js';

describe('near-expiry point', () => {
  it('is the ratio until a schedule is known, then halfway from the usual renewal to expiry', () => {
    expect(nearExpiryFraction(0.8, null)).toBe(0.8);
    // Renewing at a third (Redisson, etcd keepalives): the ratio still applies.
    expect(nearExpiryFraction(0.8, 1 / 3)).toBe(0.8);
    expect(nearExpiryFraction(0.8, 0.8)).toBeCloseTo(0.9, 9);
    expect(nearExpiryFraction(0.8, 0.9)).toBeCloseTo(0.95, 9);
    // Nonsense schedules are ignored.
    expect(nearExpiryFraction(0.8, 1.2)).toBe(0.8);
    expect(nearExpiryFraction(0.8, Number.NaN)).toBe(0.8);
  });

  it('knows the default schedules of redis-semaphore and redlock', () => {
    expect(libraryRenewalPoint('redis-semaphore', 10_000)).toBe(0.8);
    // redlock: 5 000 − (50 + 2) drift − 500 threshold = 4 448 ms.
    expect(libraryRenewalPoint('redlock', 5_000)).toBeCloseTo(4_448 / 5_000, 9);
    expect(libraryRenewalPoint('redlock', 400)).toBeNull();
  });

  it('is strictly above the point where renewals are seen, at it where the grant is a whole-second bound', () => {
    expect(nearExpiryDueAt(1_000, 10_000, 0.8, true)).toBe(9_001);
    expect(nearExpiryDueAt(1_000, 10_000, 0.8, false)).toBe(9_000);
  });
});
