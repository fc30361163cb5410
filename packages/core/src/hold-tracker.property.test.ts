import { describe, expect, it } from 'vitest';
import type { LockEvent } from './events.js';
import { LockTracker, type ApplyResult, type LockTrackerState } from './hold-tracker.js';
import { DIALECTS, type Dialect, type EndCause, type LockObservation, type WaiterObservation } from './observation.js';

/** Deterministic pseudo-random numbers (mulberry32): a failing seed reproduces. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Step = { kind: 'obs'; obs: LockObservation } | { kind: 'checkpoint'; at: number; check?: { exists: boolean; remainingMs: number | null; ttlMs: number | null } } | { kind: 'end'; at: number; reason: EndCause };

const KEY = new TextEncoder().encode('fuzz/lock');
const END_TYPES = new Set(['released', 'expired', 'force_released', 'ended_unknown']);

/**
 * A random but plausible life of one lock: holders come and go, renew or not, waiters queue,
 * the source re-delivers and reorders observations, the wall clock jumps both ways.
 */
function scenario(seed: number): { dialect: Dialect; steps: Step[] } {
  const r = rng(seed);
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const dialect = pick(DIALECTS);
  const steps: Step[] = [];
  let seq = 1;
  let at = 1_000_000;
  let holder: string | null = null;
  let ttl: number | null = 10_000;
  let renewedAt = at;
  let waiters: WaiterObservation[] = [];
  let nextId = 0;
  const delivered: LockObservation[] = [];
  for (let i = 0; i < 120; i++) {
    const roll = r();
    at += Math.floor(r() * 4_000);
    if (r() < 0.04) at -= Math.floor(r() * 60_000); // clock stepped back
    if (roll < 0.08 && delivered.length > 0) {
      // Duplicate or stale re-delivery of an earlier observation.
      steps.push({ kind: 'obs', obs: pick(delivered) });
      continue;
    }
    if (roll < 0.2) {
      const check = r() < 0.5 ? undefined : { exists: r() < 0.8, remainingMs: ttl === null ? null : Math.floor(r() * ttl), ttlMs: ttl };
      steps.push({ kind: 'checkpoint', at, ...(check ? { check } : {}) });
      continue;
    }
    if (roll < 0.23) {
      steps.push({ kind: 'end', at, reason: pick(['released', 'expired', 'force_released', 'unknown'] as const) });
      continue;
    }
    let endCause: EndCause | undefined;
    if (holder === null || r() < 0.25) {
      if (holder !== null) endCause = pick(['released', 'expired', 'force_released', 'unknown'] as const);
      const promote = waiters.length > 0 && r() < 0.7;
      holder = r() < 0.2 && holder !== null ? null : promote ? waiters.shift()!.id : `h${nextId++}`;
      ttl = r() < 0.15 ? null : pick([2_000, 10_000, 30_000]);
      renewedAt = at;
    } else if (r() < 0.4) {
      renewedAt = at;
    }
    if (r() < 0.3) waiters.push({ id: `w${nextId++}`, holder: 'w', since: r() < 0.2 ? null : at });
    if (r() < 0.1) waiters = waiters.slice(1);
    const o: LockObservation = {
      source: 'fuzz',
      key: KEY,
      dialect,
      at,
      seq: BigInt(seq++),
      hold: holder === null ? null : { holdId: holder, holder, token: null, ttlMs: ttl, remainingMs: r() < 0.3 && ttl !== null ? Math.max(0, ttl - (at - renewedAt)) : null, renewedAt: r() < 0.5 ? renewedAt : null, waiterId: holder },
      waiters: dialect === 'etcd-mutex' || dialect === 'redisson-fair' ? waiters.map((w) => ({ ...w })) : null,
      ...(endCause ? { endCause } : {}),
      ...(r() < 0.1 ? { replayed: true } : {}),
    };
    delivered.push(o);
    steps.push({ kind: 'obs', obs: o });
  }
  return { dialect, steps };
}

/** Plain checks: hundreds of thousands of `expect` calls would dominate the run time. */
function check(ok: boolean, message: string): void {
  if (!ok) throw new Error(message);
}

function run(t: LockTracker, step: Step): ApplyResult {
  if (step.kind === 'obs') return t.apply(step.obs);
  if (step.kind === 'checkpoint') return t.checkpoint(step.at, step.check);
  return t.end(step.at, step.reason);
}

describe('LockTracker under random histories', () => {
  it('keeps its invariants, and restoring at any point continues identically', () => {
    let totalEvents = 0;
    for (let seed = 1; seed <= 300; seed++) {
      const { dialect, steps } = scenario(seed);
      const options = { nearExpiryRatio: 0.8 };
      const t = LockTracker.create({ source: 'fuzz', key: KEY, dialect, at: 0 }, options);
      const restoreAt = Math.floor(steps.length / 2);
      let restored: LockTracker | null = null;
      let restoredAfterSeq = -1n;
      let open = 0;
      let acquired = 0;
      let nearSinceGrant = 0;
      for (let i = 0; i < steps.length; i++) {
        const step = steps[i]!;
        const result = run(t, step);
        const where = `seed ${seed} step ${i}`;
        // Observations numbered at or below the saved seq belong to the process that saved it:
        // a new process never delivers them (the original tracker ignores them as stale).
        const fromOldProcess = step.kind === 'obs' && step.obs.seq <= restoredAfterSeq;
        if (fromOldProcess) check(!result.changed, `${where}: a stale observation changed the original`);
        if (restored && !fromOldProcess) check(JSON.stringify(run(restored, step)) === JSON.stringify(result), `${where}: restored tracker diverged`);
        if (i === restoreAt) {
          const persisted = JSON.parse(JSON.stringify(t.state())) as LockTrackerState;
          expect(persisted, where).toEqual(t.state());
          restored = LockTracker.restore(persisted, options);
          restoredAfterSeq = BigInt(persisted.lastSeq);
        }
        totalEvents += result.events.length;
        if (!result.changed) check(result.events.length === 0, `${where}: events without a change`);
        const ends = result.events.filter((e: LockEvent) => END_TYPES.has(e.type));
        check(ends.length === (result.completed ? 1 : 0), `${where}: end events and completed holds disagree`);
        for (const e of result.events) {
          if (e.valueMs !== null) check(e.valueMs >= 0, `${where}: negative valueMs on ${e.type}`);
          if (e.type === 'acquired') {
            acquired += 1;
            open += 1;
            nearSinceGrant = 0;
          } else if (END_TYPES.has(e.type)) {
            open -= 1;
          } else if (e.type === 'renewed') {
            nearSinceGrant = 0;
          } else if (e.type === 'near_expiry') {
            nearSinceGrant += 1;
            check(nearSinceGrant === 1, `${where}: near_expiry twice for one grant`);
            check(t.hold !== null && t.hold.ttlMs !== null, `${where}: near_expiry without a TTL`);
          }
        }
        if (result.completed) {
          check(result.completed.heldMs >= 0 && result.completed.heldMs === ends[0]!.valueMs, `${where}: heldMs`);
          check(result.completed.maxLeaseUsed === null || result.completed.maxLeaseUsed >= 0, `${where}: maxLeaseUsed`);
        }
        if (result.acquired) check(result.events.some((e) => e.type === 'acquired'), `${where}: acquired without event`);
        // One hold at a time, and the tracker agrees about whether there is one.
        check(open === (t.hold ? 1 : 0), `${where}: ${open} open holds but tracker hold ${t.hold?.holdId ?? 'none'}`);
        check(t.state().acquisitions === acquired, `${where}: acquisitions counter`);
        if (t.nextNearExpiryAt() !== null) check(t.hold!.ttlMs !== null, `${where}: near-expiry point without a TTL`);
      }
    }
    // The histories really exercised the machine.
    expect(totalEvents).toBeGreaterThan(10_000);
  });
});
