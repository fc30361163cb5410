import { describe, expect, it } from 'vitest';
import { DEFAULT_NEAR_EXPIRY_RATIO, isNearExpiry, leaseUsedRatio, nearExpiryPoint } from './lease.js';

describe('leaseUsedRatio', () => {
  it('is the time since the last grant over the TTL', () => {
    expect(leaseUsedRatio(10_000, 1_000, 6_000)).toBe(0.5);
    expect(leaseUsedRatio(10_000, 1_000, 1_000)).toBe(0);
    expect(leaseUsedRatio(10_000, 1_000, 21_000)).toBe(2);
  });

  it('is null when the hold has no (usable) TTL', () => {
    expect(leaseUsedRatio(null, 0, 5_000)).toBeNull();
    expect(leaseUsedRatio(0, 0, 5_000)).toBeNull();
    expect(leaseUsedRatio(-5, 0, 5_000)).toBeNull();
    expect(leaseUsedRatio(Number.NaN, 0, 5_000)).toBeNull();
  });

  it('clamps at 0 when the wall clock stepped backwards', () => {
    expect(leaseUsedRatio(10_000, 50_000, 40_000)).toBe(0);
  });
});

describe('isNearExpiry', () => {
  it('fires strictly above 0.8 x TTL by default', () => {
    expect(DEFAULT_NEAR_EXPIRY_RATIO).toBe(0.8);
    expect(isNearExpiry(10_000, 0, 8_000)).toBe(false);
    expect(isNearExpiry(10_000, 0, 8_001)).toBe(true);
  });

  it('honours a configured ratio', () => {
    expect(isNearExpiry(10_000, 0, 6_000, 0.5)).toBe(true);
    expect(isNearExpiry(10_000, 0, 9_500, 0.95)).toBe(false);
  });

  it('never fires for a hold without TTL', () => {
    expect(isNearExpiry(null, 0, 1e12)).toBe(false);
  });

  it('does not fire for a renewing hold held far longer than its TTL', () => {
    // Held for 100 s with a 10 s TTL, renewed every 3 s: measured from the last renewal.
    const acquiredAt = 0;
    const lastRenewedAt = acquiredAt + 99_000;
    expect(isNearExpiry(10_000, lastRenewedAt, 100_000)).toBe(false);
  });
});

describe('nearExpiryPoint', () => {
  it('is the grant plus ratio x TTL', () => {
    expect(nearExpiryPoint(10_000, 5_000)).toBe(13_000);
    expect(nearExpiryPoint(10_000, 5_000, 0.5)).toBe(10_000);
    expect(nearExpiryPoint(null, 5_000)).toBeNull();
  });
});
