import { describe, expect, it } from 'vitest';
import { checkHolds, formatTable, type StoredHold } from './checker.js';
import type { TruthHold } from './load-driver.js';

const T0 = 1_800_000_000_000;

function truth(over: Partial<TruthHold>): TruthHold {
  return { backend: 'redis', lock: 'lock:a', holder: 'h1', token: null, acquiredAt: T0, endedAt: T0 + 50, end: 'released', ...over };
}

function stored(over: Partial<StoredHold>): StoredHold {
  return { lock: 'lock:a', holder: 'h1', token: null, acquiredAt: T0 + 1, endedAt: T0 + 51, endReason: 'released', approximate: false, ...over };
}

const base = { fault: 'f', backend: 'redis' as const, ambiguous: [], blind: [], leaseExpiredAlerts: 0 };

describe('the fault checker', () => {
  it('passes a hold stored once with its holder and end', () => {
    const r = checkHolds({ ...base, truth: [truth({})], stored: [stored({})] });
    expect([r.lost, r.duplicated, r.spurious, r.wrongEnd, r.wrongHolder]).toEqual([0, 0, 0, 0, 0]);
  });

  it('counts lost, duplicated and spurious holds', () => {
    const r = checkHolds({
      ...base,
      truth: [truth({}), truth({ holder: 'h2', acquiredAt: T0 + 10_000, endedAt: T0 + 10_050 })],
      stored: [stored({}), stored({}), stored({ holder: 'nobody' })],
    });
    expect([r.lost, r.duplicated, r.spurious]).toEqual([1, 1, 1]);
    expect(r.evidence.lost[0]!.hold).toContain('h2');
  });

  it('wants a Redis release the collector could not see stored as unknown and approximate, not expired', () => {
    const blind = [{ from: T0 - 10_000, to: T0 + 10_000, what: 'collector down' }];
    const hold = truth({ acquiredAt: T0 - 20_000 });
    expect(checkHolds({ ...base, blind, truth: [hold], stored: [stored({ endReason: 'expired' })] }).wrongEnd).toBe(1);
    expect(checkHolds({ ...base, blind, truth: [hold], stored: [stored({ endReason: 'unknown' })] }).wrongEnd).toBe(1);
    expect(checkHolds({ ...base, blind, truth: [hold], stored: [stored({ endReason: 'unknown', approximate: true })] }).wrongEnd).toBe(0);
  });

  it('wants a hold lockctl took from its holder stored force_released', () => {
    const hold = truth({ end: 'force_released' });
    expect(checkHolds({ ...base, truth: [hold], stored: [stored({ endReason: 'released' })] }).wrongEnd).toBe(1);
    expect(checkHolds({ ...base, truth: [hold], stored: [stored({ endReason: 'force_released' })] }).wrongEnd).toBe(0);
  });

  it('excepts Redis holds begun and ended while blind, but not etcd ones', () => {
    const blind = [{ from: T0 - 10_000, to: T0 + 10_000, what: 'collector down' }];
    const r = checkHolds({ ...base, blind, truth: [truth({})], stored: [] });
    expect([r.excepted, r.lost]).toEqual([1, 0]);
    const e = checkHolds({ ...base, backend: 'etcd', blind: [], truth: [truth({ backend: 'etcd', token: '7' })], stored: [] });
    expect(e.lost).toBe(1);
  });

  it('flags an etcd hold stored with another fencing token, and an unread Redis holder apart from lost', () => {
    const e = checkHolds({ ...base, backend: 'etcd', truth: [truth({ backend: 'etcd', token: '7' })], stored: [stored({ token: '8' })] });
    expect(e.wrongHolder).toBe(1);
    const r = checkHolds({ ...base, truth: [truth({})], stored: [stored({ holder: '(unread: released before it could be read)' })] });
    expect([r.lost, r.spurious, r.unreadHolder]).toEqual([0, 0, 1]);
  });

  it('counts an earlier hold stored under the next holder value as a wrong holder, not lost and duplicated', () => {
    const first = truth({ holder: 'h1', acquiredAt: T0, endedAt: T0 + 50 });
    const second = truth({ holder: 'h2', acquiredAt: T0 + 60, endedAt: T0 + 110 });
    const r = checkHolds({
      ...base,
      truth: [first, second],
      stored: [stored({ holder: 'h2', acquiredAt: T0, endedAt: T0 + 50 }), stored({ holder: 'h2', acquiredAt: T0 + 60, endedAt: T0 + 110 })],
    });
    expect([r.lost, r.duplicated, r.wrongHolder]).toEqual([0, 0, 1]);
    expect(r.evidence.wrongHolder[0]!.detail).toContain('under the holder of h2');
  });

  it('prints one row per result', () => {
    const r = checkHolds({ ...base, truth: [truth({})], stored: [stored({})] });
    const table = formatTable([r, { ...r, backend: 'etcd' }]);
    expect(table.split('\n')).toHaveLength(4);
    expect(table).toMatch(/\| f +\| redis +\| +1 \|/);
  });
});
