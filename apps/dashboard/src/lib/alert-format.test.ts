import { describe, expect, it } from 'vitest';
import { formatAlertValue } from './alert-format';

describe('formatAlertValue', () => {
  it('uses each rule\'s unit', () => {
    expect(formatAlertValue({ rule: 'near_expiry', value: 0.91, threshold: 0.8 })).toBe('91% / 80%');
    expect(formatAlertValue({ rule: 'slow_acquisition', value: 92, threshold: 50 })).toBe('92 ms / 50 ms');
    expect(formatAlertValue({ rule: 'high_contention', value: 7, threshold: 5 })).toBe('7 waiters / 5 waiters');
    expect(formatAlertValue({ rule: 'source_down', value: 1_800_000, threshold: 30_000 })).toBe('30 m / 30 s');
  });

  it('shows a dash for missing figures instead of 0', () => {
    expect(formatAlertValue({ rule: 'near_expiry', value: null, threshold: null })).toBe('—');
    expect(formatAlertValue({ rule: 'long_hold', value: 700_000, threshold: null })).toMatch(/ \/ —$/);
  });
});
