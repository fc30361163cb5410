import { describe, expect, it } from 'vitest';
import { isLockscopeError } from './errors.js';
import type { LockEvent } from './events.js';
import { LockTracker, type LockTrackerState, type TrackerOptions } from './hold-tracker.js';
import { lockId } from './lock-identity.js';
import type { Dialect, HoldObservation, LockObservation, WaiterObservation } from './observation.js';

const SOURCE = 'src-a';
const KEY = new TextEncoder().encode('lock:jobs');
const OPTS: TrackerOptions = { nearExpiryRatio: 0.8 };

function tracker(dialect: Dialect, options: TrackerOptions = OPTS): LockTracker {
  return LockTracker.create({ source: SOURCE, key: KEY, dialect, at: 0 }, options);
}

function hold(holdId: string, extra: Partial<HoldObservation> = {}): HoldObservation {
  return { holdId, holder: `holder-${holdId}`, token: null, ttlMs: 10_000, remainingMs: null, ...extra };
}

function obs(dialect: Dialect, seq: number | bigint, at: number, h: HoldObservation | null, extra: Partial<LockObservation> = {}): LockObservation {
  return { source: SOURCE, key: KEY, dialect, at, seq: BigInt(seq), hold: h, waiters: null, ...extra };
}

function w(id: string, since: number | null): WaiterObservation {
  return { id, holder: `h-${id}`, since };
}

function types(events: LockEvent[]): string[] {
  return events.map((e) => e.type);
}

describe('LockTracker: holds begin and end', () => {
  it('uses the core lock id and starts free', () => {
    const t = tracker('redis-string');
    expect(t.lockId).toBe(lockId(SOURCE, KEY));
    expect(t.hold).toBeNull();
    expect(t.state().name).toBe('lock:jobs');
    expect([t.source, t.name, t.keyHex, t.dialect]).toEqual([SOURCE, 'lock:jobs', Buffer.from(KEY).toString('hex'), 'redis-string']);
    expect(t.expiresAt()).toBeNull();
    expect(t.nextNearExpiryAt()).toBeNull();
    expect(t.leaseUsedRatio(5)).toBeNull();
  });

  it('free -> held -> free: acquired, then released with the held time', () => {
    const t = tracker('redis-string');
    const a = t.apply(obs('redis-string', 1, 1_000, hold('tok1', { renewedAt: 1_000 })));
    expect(a.changed).toBe(true);
    expect(types(a.events)).toEqual(['acquired']);
    // Plain SET NX leaves no waiters: latency is not observable, never 0.
    expect(a.acquired).toEqual({ waitMs: null });
    expect(a.events[0]).toMatchObject({ at: 1_000, holder: 'holder-tok1', ttlMs: 10_000, valueMs: null });
    expect(t.expiresAt()).toBe(11_000);

    const r = t.apply(obs('redis-string', 2, 4_500, null));
    expect(types(r.events)).toEqual(['released']);
    expect(r.events[0]!.valueMs).toBe(3_500);
    expect(r.completed).toMatchObject({
      holdKey: 'holder-tok1@1000',
      acquiredAt: 1_000,
      endedAt: 4_500,
      heldMs: 3_500,
      endReason: 'released',
      renewals: 0,
      nearExpiry: false,
      approximate: false,
      waitMs: null,
    });
    expect(r.completed!.maxLeaseUsed).toBeCloseTo(0.35, 9);
    expect(t.hold).toBeNull();
    expect(t.state().acquisitions).toBe(1);
  });

  it('a new holdId in one observation ends the old hold and starts the new one', () => {
    const t = tracker('redis-string');
    t.apply(obs('redis-string', 1, 0, hold('a')));
    const r = t.apply(obs('redis-string', 2, 2_000, hold('b')));
    expect(types(r.events)).toEqual(['released', 'acquired']);
    expect(r.completed!.holder).toBe('holder-a');
    expect(r.acquired).toEqual({ waitMs: null });
    expect(t.hold!.holdId).toBe('b');
    expect(t.state().acquisitions).toBe(2);
  });

  it('uses the fencing token as the hold key and maps every end cause to its event', () => {
    const causes = [
      ['released', 'released'],
      ['force_released', 'force_released'],
      ['unknown', 'ended_unknown'],
    ] as const;
    for (const [cause, event] of causes) {
      const t = tracker('etcd-lease-key');
      t.apply(obs('etcd-lease-key', 10, 0, hold('@10', { token: '10', ttlMs: null })));
      const r = t.apply(obs('etcd-lease-key', 11, 100, null, { endCause: cause, revision: '11' }));
      expect(types(r.events)).toEqual([event]);
      expect(r.events[0]!.revision).toBe('11');
      expect(r.completed).toMatchObject({ holdKey: 'rev:10', endReason: cause, token: '10' });
    }
  });

  it('end() records causes the tracker cannot see; ending a free lock is a no-op', () => {
    const t = tracker('redis-string');
    t.apply(obs('redis-string', 1, 0, hold('a')));
    const forced = t.end(700, 'force_released');
    expect(types(forced.events)).toEqual(['force_released']);
    expect(forced.completed).toMatchObject({ endReason: 'force_released', heldMs: 700, approximate: false });
    // The watch's delete arrives afterwards: nothing left to end.
    const late = t.apply(obs('redis-string', 2, 710, null));
    expect(late.events).toEqual([]);
    expect(t.end(800, 'unknown')).toEqual({ events: [], completed: null, acquired: null, changed: false });

    const gone = tracker('redis-string');
    gone.apply(obs('redis-string', 1, 0, hold('a')));
    const u = gone.end(9_000, 'unknown');
    expect(types(u.events)).toEqual(['ended_unknown']);
    // Ended while the collector was down: the end time is only when we noticed.
    expect(u.completed!.approximate).toBe(true);
  });
});

describe('LockTracker: ordering', () => {
  it('ignores duplicate and out-of-order observations by seq', () => {
    const t = tracker('redis-string');
    t.apply(obs('redis-string', 5, 1_000, hold('a')));
    const snapshot = t.state();

    const dup = t.apply(obs('redis-string', 5, 1_000, hold('a')));
    expect(dup).toEqual({ events: [], completed: null, acquired: null, changed: false });

    // Older seq claiming the lock is free (a late event): ignored even though its time is later.
    const stale = t.apply(obs('redis-string', 4, 9_000, null));
    expect(stale.changed).toBe(false);
    expect(stale.events).toEqual([]);
    expect(t.state()).toEqual(snapshot);

    const next = t.apply(obs('redis-string', 6, 2_000, null));
    expect(types(next.events)).toEqual(['released']);
  });

  it('orders by bigint seq beyond 2^53 (etcd revisions)', () => {
    const t = tracker('etcd-lease-key');
    const big = 2n ** 60n;
    t.apply(obs('etcd-lease-key', big, 0, hold('@x')));
    expect(t.apply(obs('etcd-lease-key', big, 1, null)).changed).toBe(false);
    expect(t.apply(obs('etcd-lease-key', big + 1n, 1, null)).changed).toBe(true);
    expect(t.state().lastSeq).toBe((big + 1n).toString());
  });

  it('an observation that changes nothing reports changed=false', () => {
    const t = tracker('redis-string');
    t.apply(obs('redis-string', 1, 0, hold('a', { renewedAt: 0 })));
    const r = t.apply(obs('redis-string', 2, 10, hold('a', { renewedAt: 0 })));
    expect(r).toEqual({ events: [], completed: null, acquired: null, changed: false });
    expect(t.state().lastSeq).toBe('2');
  });

  it('refuses an observation of another lock', () => {
    const t = tracker('redis-string');
    const other = { ...obs('redis-string', 1, 0, null), key: new TextEncoder().encode('lock:other') };
    expect(() => t.apply(other)).toThrow(/routed to the tracker/);
  });

  it('survives wall-clock steps backwards: durations clamp at 0, seq decides order', () => {
    const t = tracker('etcd-mutex');
    t.apply(obs('etcd-mutex', 1, 50_000, hold('A'), { waiters: [{ id: 'B', holder: 'b', since: 60_000 }] }));
    // The clock stepped back ~40 s: B acquires "before" it started waiting, A "before" it acquired.
    const r = t.apply(obs('etcd-mutex', 2, 20_000, hold('B'), { waiters: [] }));
    expect(types(r.events)).toEqual(['released', 'acquired']);
    expect(r.completed!.heldMs).toBe(0);
    expect(r.events[0]!.valueMs).toBe(0);
    expect(r.acquired).toEqual({ waitMs: 0 });
    expect(t.leaseUsedRatio(19_000)).toBe(0);
    const end = t.apply(obs('etcd-mutex', 3, 21_000, null));
    expect(end.completed!.heldMs).toBe(1_000);
  });
});

describe('LockTracker: renewals and TTL', () => {
  it('counts visible renewals (Redis expire events) and ignores a repeated renewedAt', () => {
    const t = tracker('redis-string');
    t.apply(obs('redis-string', 1, 0, hold('a', { renewedAt: 0 })));
    const r1 = t.apply(obs('redis-string', 2, 3_000, hold('a', { renewedAt: 3_000 })));
    expect(types(r1.events)).toEqual(['renewed']);
    expect(r1.events[0]).toMatchObject({ valueMs: 3_000, detail: { grantAt: 3_000 } });
    expect(t.hold!.lastRenewedAt).toBe(3_000);
    expect(t.expiresAt()).toBe(13_000);
    expect(t.apply(obs('redis-string', 3, 3_500, hold('a', { renewedAt: 3_000 }))).events).toEqual([]);
    t.apply(obs('redis-string', 4, 6_000, hold('a', { renewedAt: 6_000 })));
    const end = t.apply(obs('redis-string', 5, 7_000, null));
    expect(end.completed!.renewals).toBe(2);
    // The longest stretch between grants was 3 s of a 10 s lease.
    expect(end.completed!.maxLeaseUsed).toBeCloseTo(0.3, 9);
  });

  it('infers renewals from remaining TTL with 1 s granularity without false positives', () => {
    const ttl = 10_000;
    // etcd truncates the remaining TTL to whole seconds. A lease granted at 0 and never
    // renewed must never look renewed, whatever the check time.
    for (let at = 0; at < ttl; at += 37) {
      const t = tracker('etcd-lease-key');
      t.apply(obs('etcd-lease-key', 1, 0, hold('@1', { ttlMs: ttl, remainingMs: ttl })));
      const reported = Math.floor((ttl - at) / 1000) * 1000;
      const r = t.checkpoint(at, { exists: true, remainingMs: reported, ttlMs: ttl });
      expect(types(r.events).includes('renewed'), `false renewal at ${at}`).toBe(false);
      expect(t.hold!.renewals).toBe(0);
    }
  });

  it.each([2_000, 3_000, 5_000])('short TTL %i ms kept alive every TTL/3 never nears expiry; once keepalives stop it fires before the lease lapses', (ttl) => {
    // The collector's loop: a lease check at each nextNearExpiryAt(), with etcd's truncated seconds.
    const t = tracker('etcd-lease-key');
    t.apply(obs('etcd-lease-key', 1, 0, hold('@1', { ttlMs: ttl, remainingMs: ttl })));
    const keepalive = ttl / 3;
    const stopAt = 20 * ttl;
    const lastKeepalive = (now: number) => Math.floor(Math.min(now, stopAt) / keepalive) * keepalive;
    const fired: number[] = [];
    for (let i = 0; i < 200; i++) {
      const at = t.nextNearExpiryAt();
      if (at === null) break;
      const realRemaining = lastKeepalive(at) + ttl - at;
      if (realRemaining <= 0) break;
      const r = t.checkpoint(at, { exists: true, remainingMs: Math.floor(realRemaining / 1000) * 1000, ttlMs: ttl });
      if (types(r.events).includes('near_expiry')) fired.push(at);
    }
    expect(fired).toHaveLength(1);
    expect(fired[0]!).toBeGreaterThan(stopAt);
    expect(fired[0]!).toBeLessThan(lastKeepalive(stopAt) + ttl);
  });

  it('detects a keepalive renewal through the remaining TTL and re-arms near-expiry', () => {
    const ttl = 10_000;
    const t = tracker('etcd-lease-key');
    t.apply(obs('etcd-lease-key', 1, 0, hold('@1', { ttlMs: ttl, remainingMs: ttl })));
    expect(t.nextNearExpiryAt()).toBe(8_000);
    // Keepalives every TTL/3: last one at 6 667; at 8 000 the true remaining is 8 667, reported 8 000.
    const r = t.checkpoint(8_000, { exists: true, remainingMs: 8_000, ttlMs: ttl });
    expect(types(r.events)).toEqual(['renewed']);
    expect(r.events[0]!.detail).toMatchObject({ implied: true, grantAt: 6_000 });
    expect(t.hold!.lastRenewedAt).toBe(6_000);
    expect(t.nextNearExpiryAt()).toBe(14_000);
    // An implied renewal may hide several keepalives: it proves only the lease used now.
    expect(t.hold!.maxLeaseUsed).toBeCloseTo(0.2, 9);
  });

  it('detects a renewal from the remaining TTL carried by an observation', () => {
    const t = tracker('etcd-mutex');
    t.apply(obs('etcd-mutex', 1, 0, hold('k@1', { ttlMs: 10_000, remainingMs: 10_000 }), { waiters: [] }));
    // A waiter arrives; the source read the owner's lease at the same time (1 s granularity).
    const r = t.apply(obs('etcd-mutex', 2, 7_400, hold('k@1', { ttlMs: 10_000, remainingMs: 9_000 }), { waiters: [w('q@2', 7_400)] }));
    expect(types(r.events)).toEqual(['renewed', 'waiter_added']);
    expect(t.hold!.lastRenewedAt).toBe(6_400);
    // Same lease state read again a moment later: no second renewal.
    expect(t.apply(obs('etcd-mutex', 3, 7_900, hold('k@1', { ttlMs: 10_000, remainingMs: 8_000 }), { waiters: [w('q@2', 7_400)] })).events).toEqual([]);
    expect(t.hold!.renewals).toBe(1);
    // A lease already gone reports a negative remaining: treated as 0, not as a grant in the past of the past.
    expect(t.checkpoint(16_000, { exists: true, remainingMs: -1_000, ttlMs: 10_000 }).events.map((e) => e.type)).toEqual(['near_expiry']);
  });

  it('does not take a remaining TTL the source repeats on later observations for a renewal', () => {
    const t = tracker('etcd-mutex');
    t.apply(obs('etcd-mutex', 1, 0, hold('k@1', { ttlMs: 60_000, remainingMs: 59_000 }), { waiters: [] }));
    // 20 s later a waiter arrives; the source re-sends the lease reading it took at 0.
    const r = t.apply(obs('etcd-mutex', 2, 20_000, hold('k@1', { ttlMs: 60_000, remainingMs: 59_000 }), { waiters: [w('q@2', 20_000)] }));
    expect(types(r.events)).toEqual(['waiter_added']);
    expect(t.hold!.renewals).toBe(0);
    expect(t.nextNearExpiryAt()).toBe(-1_000 + 48_000);
    // A fresh, different reading still counts.
    const fresh = t.apply(obs('etcd-mutex', 3, 40_000, hold('k@1', { ttlMs: 60_000, remainingMs: 58_000 }), { waiters: [w('q@2', 20_000)] }));
    expect(types(fresh.events)).toEqual(['renewed']);
    expect(t.hold!.lastRenewedAt).toBe(38_000);
  });

  it('takes the grant time of a hold first seen mid-lease from its remaining TTL', () => {
    const t = tracker('etcd-mutex');
    t.apply(obs('etcd-mutex', 1, 100_000, hold('k@5', { ttlMs: 60_000, remainingMs: 20_000 }), { replayed: true }));
    expect(t.hold!.lastRenewedAt).toBe(60_000);
    expect(t.nextNearExpiryAt()).toBe(108_000);
    expect(t.hold!.approximate).toBe(true);
    expect(t.leaseUsedRatio(100_000)).toBeCloseTo(2 / 3, 9);
  });

  it('emits ttl_changed when the granted TTL changes', () => {
    const t = tracker('redis-string');
    t.apply(obs('redis-string', 1, 0, hold('a', { ttlMs: 5_000, renewedAt: 0 })));
    const r = t.apply(obs('redis-string', 2, 1_000, hold('a', { ttlMs: 30_000, renewedAt: 1_000 })));
    expect(types(r.events)).toEqual(['ttl_changed', 'renewed']);
    expect(r.events[0]).toMatchObject({ ttlMs: 30_000, detail: { from: 5_000, to: 30_000 } });
    expect(t.expiresAt()).toBe(31_000);
    // An estimate that wobbles by a few ms (Redis keeps no granted TTL) is not a change.
    expect(t.apply(obs('redis-string', 10, 1_500, hold('a', { ttlMs: 30_010, renewedAt: 1_000 }))).events).toEqual([]);
    expect(t.hold!.ttlMs).toBe(30_000);
    // PERSIST: the key no longer has a TTL.
    const p = t.apply(obs('redis-string', 11, 2_000, hold('a', { ttlMs: null, renewedAt: 1_000 })));
    expect(types(p.events)).toEqual(['ttl_changed']);
    expect(t.expiresAt()).toBeNull();
    expect(t.nextNearExpiryAt()).toBeNull();
  });
});

describe('LockTracker: near-expiry', () => {
  it('fires exactly once per grant, strictly above the ratio, and after a renewal at the holder\'s own schedule', () => {
    const t = tracker('redis-string');
    t.apply(obs('redis-string', 1, 0, hold('a', { renewedAt: 0 })));
    // Exactly 0.8 is not above 0.8 (redis-semaphore renews at exactly that mark).
    expect(t.nextNearExpiryAt()).toBe(8_001);
    expect(t.checkpoint(8_000).events).toEqual([]);
    const first = t.checkpoint(8_001);
    expect(types(first.events)).toEqual(['near_expiry']);
    expect(first.events[0]).toMatchObject({ at: 8_001, valueMs: 8_001, detail: { ratio: 0.8 } });
    expect(t.isNearExpiry()).toBe(true);
    expect(t.nextNearExpiryAt()).toBeNull();
    expect(t.checkpoint(8_500).events).toEqual([]);
    expect(t.checkpoint(9_900).events).toEqual([]);

    // The holder renews at 9 s, 90 % into its lease: that is its schedule now, so the next
    // grant is near expiry halfway from there to expiry (95 %), not at 80 %.
    const ren = t.apply(obs('redis-string', 2, 9_000, hold('a', { renewedAt: 9_000 })));
    expect(types(ren.events)).toEqual(['renewed']);
    expect(t.isNearExpiry()).toBe(false);
    expect(t.nextNearExpiryAt()).toBe(18_501);
    expect(t.checkpoint(17_500).events).toEqual([]);
    expect(types(t.checkpoint(18_600).events)).toEqual(['near_expiry']);
    expect(t.checkpoint(18_700).events).toEqual([]);

    const end = t.apply(obs('redis-string', 3, 18_800, null));
    expect(end.completed).toMatchObject({ nearExpiry: true, renewals: 1 });
    expect(end.completed!.maxLeaseUsed).toBeCloseTo(0.98, 9);
  });

  it('waits for a recognised library\'s default renewal before the first one is seen', () => {
    // redis-semaphore refreshes at exactly 0.8 x TTL: its near-expiry point is 0.9.
    const sem = tracker('redis-string');
    sem.apply(obs('redis-string', 1, 0, hold('a', { renewedAt: 0, renewedBy: 'redis-semaphore' })));
    expect(sem.nextNearExpiryAt()).toBe(9_001);
    // redlock using() extends 500 ms (plus its drift allowance of 102 ms) before expiry: halfway from there.
    const red = tracker('redis-string');
    red.apply(obs('redis-string', 1, 0, hold('b', { renewedAt: 0, renewedBy: 'redlock' })));
    expect(red.nextNearExpiryAt()).toBe(Math.floor(9_398 + 602 / 2) + 1);
  });

  it('never fires for a renewing hold held far longer than its TTL', () => {
    const t = tracker('redis-string');
    t.apply(obs('redis-string', 1, 0, hold('a', { renewedAt: 0 })));
    let fired = 0;
    for (let i = 1; i <= 30; i++) {
      const at = i * 3_000;
      t.apply(obs('redis-string', i + 1, at, hold('a', { renewedAt: at })));
      fired += t.checkpoint(at + 2_000).events.filter((e) => e.type === 'near_expiry').length;
    }
    expect(fired).toBe(0);
    const end = t.apply(obs('redis-string', 100, 91_000, null));
    expect(end.completed).toMatchObject({ heldMs: 91_000, renewals: 30, nearExpiry: false });
  });

  it('a hold with no TTL never nears expiry', () => {
    const t = tracker('redis-string');
    t.apply(obs('redis-string', 1, 0, hold('a', { ttlMs: null })));
    expect(t.nextNearExpiryAt()).toBeNull();
    expect(t.expiresAt()).toBeNull();
    expect(t.leaseUsedRatio(1e9)).toBeNull();
    expect(t.checkpoint(1e9).events).toEqual([]);
    expect(t.checkpoint(1e9, { exists: true, remainingMs: null, ttlMs: null }).events).toEqual([]);
    const end = t.apply(obs('redis-string', 2, 1e9, null));
    expect(end.completed).toMatchObject({ ttlMs: null, maxLeaseUsed: null, nearExpiry: false, heldMs: 1e9 });
  });

  it('uses the configured ratio', () => {
    const t = tracker('redis-string', { nearExpiryRatio: 0.5 });
    t.apply(obs('redis-string', 1, 0, hold('a', { renewedAt: 0 })));
    expect(t.nextNearExpiryAt()).toBe(5_001);
    expect(types(t.checkpoint(5_001).events)).toEqual(['near_expiry']);
    expect(() => tracker('redis-string', { nearExpiryRatio: 1.2 })).toThrow(/between 0 and 1/);
  });

  it('a lease check that reveals a renewal prevents a false near-expiry', () => {
    const t = tracker('etcd-mutex');
    t.apply(obs('etcd-mutex', 1, 0, hold('k@1', { ttlMs: 10_000, remainingMs: 10_000 })));
    const r = t.checkpoint(8_000, { exists: true, remainingMs: 9_000, ttlMs: 10_000 });
    expect(types(r.events)).toEqual(['renewed']);
    expect(t.nextNearExpiryAt()).toBe(15_000);
    // The same check without a renewal: fires, and reports the remaining lease it saw.
    const u = tracker('etcd-mutex');
    u.apply(obs('etcd-mutex', 1, 0, hold('k@1', { ttlMs: 10_000, remainingMs: 10_000 })));
    const f = u.checkpoint(8_000, { exists: true, remainingMs: 2_000, ttlMs: 10_000 });
    expect(types(f.events)).toEqual(['near_expiry']);
    expect(f.events[0]!.detail).toMatchObject({ remainingMs: 2_000 });
  });
});

describe('LockTracker: expired versus revoked', () => {
  function leased(): LockTracker {
    const t = tracker('etcd-lease-key');
    t.apply(obs('etcd-lease-key', 1, 0, hold('@1', { token: '1', ttlMs: 10_000, remainingMs: 10_000 })));
    return t;
  }

  it('an "expired" end well before the predicted expiry was a revoke: recorded as released', () => {
    const t = leased();
    const r = t.apply(obs('etcd-lease-key', 2, 3_000, null, { endCause: 'expired' }));
    expect(types(r.events)).toEqual(['released']);
    expect(r.events[0]!.detail).toMatchObject({ revoked: true, reportedCause: 'expired' });
    expect(r.completed).toMatchObject({ endReason: 'released', heldMs: 3_000 });
    expect(t.state().expirations).toBe(0);
  });

  it('an "expired" end at the predicted expiry (within tolerance) is an expiry', () => {
    for (const at of [8_600, 10_000, 10_400]) {
      const t = leased();
      const r = t.apply(obs('etcd-lease-key', 2, at, null, { endCause: 'expired' }));
      expect(types(r.events), `at ${at}`).toEqual(['expired']);
      expect(r.completed).toMatchObject({ endReason: 'expired', endedAt: at, maxLeaseUsed: 1 });
      expect(t.state().expirations).toBe(1);
    }
  });

  it('a late Redis expired notification ends the hold at the predicted expiry', () => {
    const t = tracker('redis-string');
    t.apply(obs('redis-string', 1, 0, hold('a', { ttlMs: 5_000, renewedAt: 0 })));
    const r = t.apply(obs('redis-string', 2, 5_700, null, { endCause: 'expired' }));
    expect(r.completed).toMatchObject({ endReason: 'expired', endedAt: 5_000, heldMs: 5_000 });
    expect(r.events[0]).toMatchObject({ type: 'expired', at: 5_000, valueMs: 5_000 });
  });

  it('a lease check that finds the hold gone at its expiry ends it as expired at the expiry', () => {
    const t = leased();
    const r = t.checkpoint(10_300, { exists: false, remainingMs: null, ttlMs: null });
    expect(types(r.events)).toEqual(['expired']);
    expect(r.completed).toMatchObject({ endReason: 'expired', endedAt: 10_000, heldMs: 10_000 });
    // The watch's delete arrives later: already ended.
    expect(t.apply(obs('etcd-lease-key', 2, 10_350, null, { endCause: 'expired' })).events).toEqual([]);
  });

  it('a lease check that finds the hold gone early waits for the watch to tell why', () => {
    const t = leased();
    const r = t.checkpoint(8_000, { exists: false, remainingMs: null, ttlMs: null });
    expect(r.events).toEqual([]);
    expect(t.hold).not.toBeNull();
    const del = t.apply(obs('etcd-lease-key', 2, 8_010, null, { endCause: 'force_released' }));
    expect(del.completed!.endReason).toBe('force_released');
  });
});

describe('LockTracker: waiters and acquisition latency', () => {
  it('measures a waiter becoming holder from its appearance; it did not "leave"', () => {
    const t = tracker('etcd-mutex');
    const a = t.apply(obs('etcd-mutex', 1, 0, hold('A'), { waiters: [] }));
    expect(a.acquired).toEqual({ waitMs: 0 });
    const add = t.apply(obs('etcd-mutex', 2, 1_000, hold('A'), { waiters: [w('B', 1_000), w('C', 1_000)] }));
    expect(types(add.events)).toEqual(['waiter_added', 'waiter_added']);
    expect(add.events[1]!.detail).toMatchObject({ waiterId: 'C', position: 1 });

    const handover = t.apply(obs('etcd-mutex', 3, 4_000, hold('B', { waiterId: 'B' }), { waiters: [w('C', 1_000)] }));
    expect(types(handover.events)).toEqual(['released', 'acquired']);
    expect(handover.acquired).toEqual({ waitMs: 3_000 });
    expect(handover.events[1]!.valueMs).toBe(3_000);

    // C gives up: it left, after waiting 5 s.
    const left = t.apply(obs('etcd-mutex', 4, 6_000, hold('B', { waiterId: 'B' }), { waiters: [] }));
    expect(types(left.events)).toEqual(['waiter_left']);
    expect(left.events[0]).toMatchObject({ holder: 'h-C', valueMs: 5_000 });

    const end = t.apply(obs('etcd-mutex', 5, 7_000, null, { waiters: [] }));
    expect(end.completed!.waitMs).toBe(3_000);
  });

  it('latency is unknown (null, not 0) for replays, waiters of unknown age and invisible-waiter dialects', () => {
    const replay = tracker('etcd-mutex');
    expect(replay.apply(obs('etcd-mutex', 1, 0, hold('A'), { waiters: [], replayed: true })).acquired).toEqual({ waitMs: null });

    const unknownAge = tracker('redisson-fair');
    unknownAge.apply(obs('redisson-fair', 1, 0, hold('A'), { waiters: [w('B', null)] }));
    expect(unknownAge.apply(obs('redisson-fair', 2, 500, hold('B'), { waiters: [] })).acquired).toEqual({ waitMs: null });

    const invisible = tracker('redisson');
    expect(invisible.apply(obs('redisson', 1, 0, hold('A'))).acquired).toEqual({ waitMs: null });
  });

  it('keeps the appearance time it saw when a resync reports a waiter without one', () => {
    const t = tracker('redisson-fair');
    t.apply(obs('redisson-fair', 1, 0, hold('A'), { waiters: [w('B', 2_000)] }));
    const resync = t.apply(obs('redisson-fair', 2, 9_000, hold('A'), { waiters: [w('B', null)], replayed: true }));
    expect(resync.events).toEqual([]);
    expect(t.waiters).toEqual([w('B', 2_000)]);
    expect(t.apply(obs('redisson-fair', 3, 10_000, hold('B'), { waiters: [] })).acquired).toEqual({ waitMs: 8_000 });
  });

  it('forgets waiters when the source stops showing them (null)', () => {
    const t = tracker('etcd-mutex');
    t.apply(obs('etcd-mutex', 1, 0, hold('A'), { waiters: [w('B', 0)] }));
    expect(t.apply(obs('etcd-mutex', 2, 1, hold('A'), { waiters: null })).changed).toBe(true);
    expect(t.waiters).toBeNull();
  });
});

describe('LockTracker: replay and persistence', () => {
  it('replayed observations mark the hold approximate', () => {
    const t = tracker('redis-string');
    const a = t.apply(obs('redis-string', 1, 0, hold('a'), { replayed: true }));
    expect(a.events[0]!.detail).toMatchObject({ approximate: true });
    const end = t.apply(obs('redis-string', 2, 10, null));
    expect(end.completed!.approximate).toBe(true);

    const u = tracker('redis-string');
    u.apply(obs('redis-string', 1, 0, hold('a')));
    expect(u.apply(obs('redis-string', 2, 10, null, { replayed: true })).completed!.approximate).toBe(true);
  });

  it('restore(state()) through JSON continues exactly like the original', () => {
    const dialect: Dialect = 'redisson-fair';
    const script: Array<LockObservation | { checkpoint: number }> = [
      obs(dialect, 1, 0, hold('A', { renewedAt: 0 }), { waiters: [] }),
      obs(dialect, 2, 1_000, hold('A', { renewedAt: 0 }), { waiters: [w('B', 1_000)] }),
      obs(dialect, 3, 3_000, hold('A', { renewedAt: 3_000 }), { waiters: [w('B', 1_000), w('C', 2_500)] }),
      { checkpoint: 11_050 },
      // -- the collector restarts here; the new process numbers its observations from 1 --
      obs(dialect, 1, 3_000, hold('A', { renewedAt: 3_000 }), { waiters: [w('B', 1_000), w('C', 2_500)] }),
      { checkpoint: 11_100 },
      obs(dialect, 2, 12_000, hold('B', { renewedAt: 12_000 }), { waiters: [w('C', 2_500)] }),
      obs(dialect, 3, 14_000, hold('B', { renewedAt: 14_000, ttlMs: 20_000 }), { waiters: [w('C', 2_500)] }),
      { checkpoint: 30_050 },
      obs(dialect, 4, 34_200, null, { waiters: [], endCause: 'expired' }),
    ];
    const run = (t: LockTracker, steps: typeof script) =>
      steps.map((s) => ('checkpoint' in s ? t.checkpoint(s.checkpoint) : t.apply(s)));

    const original = tracker(dialect);
    const first = run(original, script.slice(0, 4));
    const persisted = JSON.parse(JSON.stringify(original.state())) as LockTrackerState;
    const restored = LockTracker.restore(persisted, OPTS);
    expect(restored.lockId).toBe(original.lockId);
    // Everything but the last seq, which belonged to the process that saved it.
    expect({ ...restored.state(), lastSeq: original.state().lastSeq }).toEqual(original.state());
    expect(restored.state().lastSeq).toBe('-1');

    const a = run(restored, script.slice(4));

    // The scenario really exercised the machine.
    const all = [...first, ...a].flatMap((r) => types(r.events));
    expect(all).toEqual([
      'acquired',
      'waiter_added',
      'renewed',
      'waiter_added',
      'near_expiry',
      'released',
      'acquired', // B had queued: it did not leave
      'ttl_changed',
      'renewed',
      'near_expiry',
      'expired',
      'waiter_left', // C gave up when the lock expired
    ]);
    expect(a.at(-1)!.completed).toMatchObject({ endReason: 'expired', endedAt: 34_000, renewals: 1, nearExpiry: true });
    // The new process's first observation repeated the saved state: nothing changed, and B's
    // wait still counts from when it queued before the restart.
    expect(a[0]!.changed).toBe(false);
    expect(a[2]!.acquired).toEqual({ waitMs: 11_000 });
  });

  it('a restored tracker applies a new process whose numbering started again (issue 13)', () => {
    // The old process had applied seq 5000; the new one counts from 1.
    const old = tracker('redis-string');
    old.apply(obs('redis-string', 5_000, 1_000, hold('t1', { renewedAt: 1_000 })));
    old.apply(obs('redis-string', 5_001, 1_200, null));
    const restored = LockTracker.restore(JSON.parse(JSON.stringify(old.state())) as LockTrackerState, OPTS);

    const acquired = restored.apply(obs('redis-string', 1, 20_000, hold('t2', { renewedAt: 20_000 })));
    expect(types(acquired.events)).toEqual(['acquired']);
    const released = restored.apply(obs('redis-string', 2, 20_070, null));
    expect(types(released.events)).toEqual(['released']);
    expect(released.completed).toMatchObject({ holder: 'holder-t2', heldMs: 70, endReason: 'released', approximate: false });
    // Within the new process, order still holds: a late duplicate is ignored.
    expect(restored.apply(obs('redis-string', 1, 20_000, hold('t2', { renewedAt: 20_000 }))).changed).toBe(false);
    expect(restored.state().acquisitions).toBe(2);
  });

  it('a restored hold replaced before this process saw it ends unknown; once seen, a replacement is a release', () => {
    const old = tracker('redis-string');
    old.apply(obs('redis-string', 7, 1_000, hold('x', { renewedAt: 1_000 })));
    const saved = JSON.parse(JSON.stringify(old.state())) as LockTrackerState;

    // The new process hears the next holder's `set` first: the restored hold's end was not seen.
    const a = LockTracker.restore(saved, OPTS);
    const replaced = a.apply(obs('redis-string', 1, 30_000, hold('y', { renewedAt: 30_000 })));
    expect(replaced.completed).toMatchObject({ holder: 'holder-x', endReason: 'unknown', approximate: true });
    // ...unless the source says how it ended (the `del` came with the `set`).
    const b = LockTracker.restore(saved, OPTS);
    expect(b.apply(obs('redis-string', 1, 30_000, hold('y'), { endCause: 'released' })).completed).toMatchObject({ endReason: 'released', approximate: false });
    // Seen alive by this process first: a later replacement is an ordinary release.
    const c = LockTracker.restore(saved, OPTS);
    expect(c.apply(obs('redis-string', 1, 30_000, hold('x', { renewedAt: 1_000 }))).changed).toBe(false);
    expect(c.apply(obs('redis-string', 2, 31_000, hold('z'))).completed).toMatchObject({ endReason: 'released', approximate: false });
  });

  it('an end learnt with a time before the hold began ends at its start, never before', () => {
    const t = tracker('redis-string');
    t.apply(obs('redis-string', 1, 5_000, hold('a')));
    const ended = t.end(4_900, 'unknown');
    expect(ended.completed).toMatchObject({ acquiredAt: 5_000, endedAt: 5_000, heldMs: 0, endReason: 'unknown' });
  });

  it('a resync that finds another holder ends the old hold as unknown, not released', () => {
    const t = tracker('redis-string');
    t.apply(obs('redis-string', 1, 1_000, hold('a', { renewedAt: 1_000 })));
    const r = t.apply(obs('redis-string', 2, 9_000, hold('b', { renewedAt: 8_000 }), { replayed: true }));
    expect(types(r.events)).toEqual(['ended_unknown', 'acquired']);
    expect(r.completed).toMatchObject({ holder: 'holder-a', endReason: 'unknown', approximate: true });
    // A cause the source did see wins.
    const u = tracker('redis-string');
    u.apply(obs('redis-string', 1, 1_000, hold('a', { renewedAt: 1_000 })));
    expect(u.apply(obs('redis-string', 2, 1_500, null, { replayed: true, endCause: 'released' })).completed).toMatchObject({ endReason: 'released' });
  });

  it('refuses unusable stored state with a clear error', () => {
    const good = tracker('redis-string').state();
    const bads: unknown[] = [
      null,
      { ...good, keyHex: 'zz' },
      { ...good, dialect: 'memcached' },
      { ...good, lastSeq: '1.5' },
      { ...good, hold: { nope: true } },
    ];
    for (const bad of bads) {
      let thrown: unknown;
      try {
        LockTracker.restore(bad as LockTrackerState, OPTS);
      } catch (error) {
        thrown = error;
      }
      expect(isLockscopeError(thrown, 'INTERNAL'), JSON.stringify(bad)).toBe(true);
    }
  });

  it('handles keys that are not UTF-8', () => {
    const key = new Uint8Array([0x6c, 0xff, 0x00, 0x0a]);
    const t = LockTracker.create({ source: SOURCE, key, dialect: 'redis-string', at: 0 }, OPTS);
    expect(t.state().name).toBe('l\\xff\u0000\n');
    expect(t.state().keyHex).toBe('6cff000a');
    const r = LockTracker.restore(t.state(), OPTS);
    expect(r.lockId).toBe(lockId(SOURCE, key));
    expect(r.apply({ source: SOURCE, key, dialect: 'redis-string', at: 1, seq: 1n, hold: hold('x'), waiters: null }).changed).toBe(true);
  });
});
