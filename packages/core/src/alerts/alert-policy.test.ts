import { describe, expect, it } from 'vitest';
import { parseConfig } from '../config.js';
import { isLockscopeError } from '../errors.js';
import { AlertPolicy } from './alert-policy.js';

function badConfig(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(isLockscopeError(error, 'BAD_CONFIG')).toBe(true);
    return (error as Error).message;
  }
  throw new Error('expected a BAD_CONFIG error');
}

describe('AlertPolicy', () => {
  it('an unknown rule in a mute is an error naming it, with path and line, from lockscope.yaml', () => {
    const message = badConfig(() => parseConfig('alerts:\n  mutes:\n    - match: "lock:*"\n      rule: near-expiry\n'));
    expect(message).toContain('alerts.mutes[0].rule (line 4): unknown alert rule "near-expiry"; known rules: near_expiry, lease_expired');
  });

  it('an unknown rule is an error naming it when the config is built in code', () => {
    const message = badConfig(() => AlertPolicy.compile({ mutes: [{ match: '*' }, { match: 'x', rule: 'slow_acquisiton' }] }));
    expect(message).toContain('alerts.mutes[1].rule: unknown alert rule "slow_acquisiton"');
  });

  it('an unknown override key and a bad until are clear errors', () => {
    expect(badConfig(() => AlertPolicy.compile({ overrides: [{ match: '*', nearExpiryRation: 0.5 }] }))).toContain('alerts.overrides[0]: unknown key "nearExpiryRation"');
    expect(badConfig(() => AlertPolicy.compile({ mutes: [{ match: '*', until: 'tomorrow' }] }))).toContain('alerts.mutes[0].until: an ISO 8601 time');
  });

  it('resolves thresholds: first matching override wins whole, others keep the defaults', () => {
    const policy = AlertPolicy.compile({
      nearExpiryRatio: 0.8,
      highContentionWaiters: 5,
      overrides: [
        { match: 'etcd-main:/locks/cron/**', nearExpiryRatio: 0.6 },
        { match: '/locks/**', nearExpiryRatio: 0.7, highContentionWaiters: 2 },
      ],
    });
    expect(policy.thresholdsFor('etcd-main', '/locks/cron/nightly')).toMatchObject({ nearExpiryRatio: 0.6, highContentionWaiters: 5 });
    expect(policy.thresholdsFor('etcd-other', '/locks/cron/nightly')).toMatchObject({ nearExpiryRatio: 0.7, highContentionWaiters: 2 });
    expect(policy.thresholdsFor('redis-main', 'lock:a')).toMatchObject({ nearExpiryRatio: 0.8, highContentionWaiters: 5 });
    expect(policy.nearExpiryRatioFor('etcd-main', '/locks/cron/x')).toBe(0.6);
  });

  it('mutes match by rule, glob and time', () => {
    const policy = AlertPolicy.compile({
      mutes: [
        { match: 'lock:batch-*', rule: 'lease_expired' },
        { match: 'redis-main:lock:tmp-*', until: '2026-01-01T00:00:00Z' },
      ],
    });
    const before = Date.parse('2025-12-31T23:59:59Z');
    const after = Date.parse('2026-01-01T00:00:00Z');
    expect(policy.isMuted('lease_expired', 'redis-main', 'lock:batch-7', before)).toBe(true);
    expect(policy.isMuted('near_expiry', 'redis-main', 'lock:batch-7', before)).toBe(false);
    expect(policy.isMuted('near_expiry', 'redis-main', 'lock:tmp-1', before)).toBe(true);
    expect(policy.isMuted('near_expiry', 'redis-main', 'lock:tmp-1', after)).toBe(false);
    expect(policy.isMuted('near_expiry', 'redis-other', 'lock:tmp-1', before)).toBe(false);
    expect(policy.nextMuteEnd(before)).toBe(after);
    expect(policy.nextMuteEnd(after)).toBeNull();
  });

  it('globs do not treat odd lock names as patterns', () => {
    const policy = AlertPolicy.compile({ mutes: [{ match: 'lock:[a]' }] });
    expect(policy.isMuted('near_expiry', 's', 'lock:a', 0)).toBe(true);
    expect(policy.isMuted('near_expiry', 's', 'lock:b', 0)).toBe(false);
    expect(policy.isMuted('near_expiry', 's', '\u0000*\n', 0)).toBe(false);
  });
});
