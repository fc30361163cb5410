// The alert rules fed by the real hold tracker, with explicit timestamps: the
// contract between LockTracker's events and the engine, without any backend.
import { describe, expect, it } from 'vitest';
import { LockTracker } from '../hold-tracker.js';
import type { HoldObservation, LockObservation, WaiterObservation } from '../observation.js';
import { AlertEngine, type AlertTransition } from './alert-engine.js';
import { AlertPolicy, type LockRef } from './alert-policy.js';

const T0 = 1_800_000_000_000;

function harness(dialect: LockObservation['dialect'], name: string, config: unknown = {}) {
  const policy = AlertPolicy.compile(config);
  const engine = new AlertEngine(policy);
  const key = new TextEncoder().encode(name);
  const tracker = LockTracker.create({ source: 'src', key, dialect, at: T0 }, { nearExpiryRatio: policy.nearExpiryRatioFor('src', name) });
  const ref: LockRef = { lockId: tracker.lockId, source: 'src', name };
  const transitions: AlertTransition[] = [];
  let seq = 0n;
  return {
    engine,
    tracker,
    transitions,
    observe(at: number, hold: HoldObservation | null, waiters: WaiterObservation[] | null = null, endCause?: LockObservation['endCause']) {
      const result = tracker.apply({ source: 'src', key, dialect, at, seq: ++seq, hold, waiters, ...(endCause ? { endCause } : {}) });
      transitions.push(...engine.onApplyResult(ref, result, tracker.waiters?.length ?? null));
    },
    /** What the collector's timer does at the tracker's near-expiry point (no lease check: Redis). */
    checkpoint(at: number) {
      transitions.push(...engine.onApplyResult(ref, tracker.checkpoint(at), tracker.waiters?.length ?? null, at));
      transitions.push(...engine.tick(at));
    },
  };
}

const redisHold = (token: string, remainingMs: number, renewedAt?: number): HoldObservation => ({
  holdId: token,
  holder: token,
  token: null,
  ttlMs: 2_000,
  remainingMs,
  ...(renewedAt !== undefined ? { renewedAt } : {}),
});

describe('LockTracker events drive the alert rules', () => {
  it('SET NX PX 2000 never renewed: near_expiry just after 1.6 s, then lease_expired at expiry', () => {
    const h = harness('redis-string', 'lock:job');
    h.observe(T0, redisHold('tok-1', 2_000));
    const nearAt = h.tracker.nextNearExpiryAt()!;
    // Strictly above 0.8: the first millisecond past it.
    expect(nearAt - T0).toBe(1_601);
    h.checkpoint(nearAt);
    expect(h.transitions).toMatchObject([{ kind: 'open', rule: 'near_expiry', at: T0 + 1_601, value: 0.8005, threshold: 0.8 }]);
    h.observe(T0 + 2_050, null, null, 'expired');
    expect(h.transitions.map((t) => `${t.kind}:${t.rule}`)).toEqual(['open:near_expiry', 'resolve:near_expiry', 'open:lease_expired']);
  });

  it('a lock renewed every second (TTL 2 s) for ten TTLs never fires', () => {
    const h = harness('redis-string', 'lock:renewing');
    h.observe(T0, redisHold('tok-1', 2_000));
    for (let t = 1_000; t <= 20_000; t += 1_000) {
      const near = h.tracker.nextNearExpiryAt();
      if (near !== null && near <= T0 + t) h.checkpoint(near);
      h.observe(T0 + t, redisHold('tok-1', 2_000, T0 + t));
    }
    h.observe(T0 + 20_500, null, null, 'released');
    expect(h.transitions).toEqual([]);
  });

  it('a per-lock override ratio reaches the tracker and the rule', () => {
    const h = harness('redis-string', 'lock:tight', { overrides: [{ match: 'lock:tight', nearExpiryRatio: 0.5 }] });
    h.observe(T0, redisHold('tok-1', 2_000));
    expect(h.tracker.nextNearExpiryAt()! - T0).toBe(1_001);
    h.checkpoint(T0 + 1_001);
    expect(h.transitions).toMatchObject([{ kind: 'open', rule: 'near_expiry', threshold: 0.5 }]);
  });

  it('etcd mutex: eight waits of 120 ms fire slow_acquisition, one alone does not', () => {
    const one = harness('etcd-mutex', '/locks/one');
    const h = harness('etcd-mutex', '/locks/inv');
    const mutexHold = (i: number): HoldObservation => ({ holdId: `k${i}`, holder: `lease-${i}`, token: String(i), ttlMs: 10_000, remainingMs: 10_000, waiterId: `k${i}` });
    const waiter = (i: number, since: number): WaiterObservation => ({ id: `k${i}`, holder: `lease-${i}`, since });

    for (const x of [one, h]) x.observe(T0, mutexHold(0));
    // Contender 1 queues at +10 and holds at +130 (120 ms wait).
    one.observe(T0 + 10, mutexHold(0), [waiter(1, T0 + 10)]);
    one.observe(T0 + 130, mutexHold(1), []);
    expect(one.transitions).toEqual([]);

    let t = T0;
    for (let i = 1; i <= 8; i++) {
      t += 30_000;
      h.observe(t, mutexHold(i - 1), [waiter(i, t)]);
      h.observe(t + 120, mutexHold(i), []);
    }
    const slow = h.transitions.filter((x) => x.rule === 'slow_acquisition');
    expect(slow).toHaveLength(1);
    expect(slow[0]).toMatchObject({ kind: 'open', value: 120, threshold: 50 });
  });
});
