import { isLockscopeError } from '@lockscope/core';
import { describe, expect, it } from 'vitest';
import type { AlertJson } from './alert-schema.js';
import { ackAndSilence, parseCliDuration, valueAndThreshold } from './alerts-shared.js';

const base: AlertJson = {
  id: '7',
  rule: 'near_expiry',
  state: 'firing',
  source: 'redis-main',
  lockId: 'abc',
  lockName: 'lock:a',
  startedAt: 1_000,
  resolvedAt: null,
  value: 0.83,
  threshold: 0.8,
  message: 'm',
  ackedAt: null,
  ackedBy: null,
  silencedUntil: null,
};

describe('parseCliDuration', () => {
  it('reads ms, s, m, h and d', () => {
    expect(parseCliDuration('500ms', '--for')).toBe(500);
    expect(parseCliDuration('30s', '--for')).toBe(30_000);
    expect(parseCliDuration('30m', '--for')).toBe(1_800_000);
    expect(parseCliDuration('1.5h', '--for')).toBe(5_400_000);
    expect(parseCliDuration('2d', '--for')).toBe(172_800_000);
    expect(parseCliDuration('3650d', '--for')).toBe(3650 * 86_400_000);
  });

  it('rejects anything else as a BAD_REQUEST naming the flag', () => {
    for (const text of ['', '30', '0m', '-5m', '30 minutes', '1h30m', 'm', '\x1b[2J', '99999999999999h', '3651d', `${'9'.repeat(400)}d`]) {
      let caught: unknown;
      try {
        parseCliDuration(text, '--silence');
      } catch (error) {
        caught = error;
      }
      expect(isLockscopeError(caught, 'BAD_REQUEST'), text).toBe(true);
      expect((caught as Error).message).toContain('--silence takes a duration');
    }
    expect(() => parseCliDuration('99999999999999h', '--since')).toThrow('--since takes a duration of at most 3650d (got "99999999999999h").');
  });
});

describe('alert cells', () => {
  it('shows value / threshold in the unit of the rule', () => {
    expect(valueAndThreshold(base)).toBe('83% / 80%');
    expect(valueAndThreshold({ ...base, rule: 'lease_expired', value: 2_000, threshold: 2_000 })).toBe('2.0s / 2.0s');
    expect(valueAndThreshold({ ...base, rule: 'high_contention', value: 7, threshold: 5 })).toBe('7 / 5');
    expect(valueAndThreshold({ ...base, rule: 'long_hold', value: 700_000, threshold: 600_000 })).toBe('11m40s / 10m00s');
    expect(valueAndThreshold({ ...base, value: null, threshold: null })).toBe('- / -');
  });

  it('names who acknowledged and a silence only while it lasts', () => {
    expect(ackAndSilence(base, 5_000)).toBeNull();
    expect(ackAndSilence({ ...base, ackedAt: 2_000, ackedBy: 'alice' }, 5_000)).toBe('acked by alice');
    const silenced = { ...base, ackedAt: 2_000, ackedBy: 'alice', silencedUntil: 10_000 };
    expect(ackAndSilence(silenced, 5_000)).toBe(`acked by alice, silenced until ${new Date(10_000).toISOString()}`);
    expect(ackAndSilence(silenced, 10_000)).toBe('acked by alice');
  });
});
