import { describe, expect, it } from 'vitest';
import type { CompletedHold, LockEvent } from '../events.js';
import type { WaiterObservation } from '../observation.js';
import type { HazardLockRef } from './hazard.js';
import { LiveHazards } from './live-hazards.js';

const lockA: HazardLockRef = { lockId: 'A', source: 'etcd-main', name: '/locks/a' };
const lockB: HazardLockRef = { lockId: 'B', source: 'etcd-main', name: '/locks/b' };

function acquired(at: number, holder: string, token: string | null): LockEvent {
  return { type: 'acquired', at, holder, token, ttlMs: 10_000, valueMs: null };
}

function ended(reason: CompletedHold['endReason'], holder: string, token: string | null, acquiredAt: number, endedAt: number): CompletedHold {
  return { holdKey: `rev:${token}`, holder, token, acquiredAt, endedAt, heldMs: endedAt - acquiredAt, ttlMs: 10_000, waitMs: null, renewals: 0, maxLeaseUsed: 1, nearExpiry: true, endReason: reason, approximate: false };
}

const w = (holder: string): WaiterObservation => ({ id: holder, holder, since: 0 });

describe('LiveHazards: unsafe_handover', () => {
  it('a lease that lapsed under its holder, then another holder: a warning, critical once the old holder shows signs of life, closed when the new hold ends', () => {
    const h = new LiveHazards();
    expect(h.onResult(lockA, 'etcd-lease-key', { events: [acquired(0, 'L1', '5')], completed: null }, 'L1', null)).toEqual([]);
    expect(h.onResult(lockA, 'etcd-lease-key', { events: [{ ...acquired(10_000, 'L1', '5'), type: 'expired' }], completed: ended('expired', 'L1', '5', 0, 10_000) }, null, null)).toEqual([]);
    const opened = h.onResult(lockA, 'etcd-lease-key', { events: [acquired(10_040, 'L2', '9')], completed: null }, 'L2', null);
    expect(opened).toMatchObject([{ action: 'open', hazard: { kind: 'unsafe_handover', severity: 'warning', holders: ['L1', 'L2'], tokens: ['5', '9'], evidence: { gapMs: 40 } } }]);

    // The stalled holder wakes up and writes with its old token; the resource refuses it.
    const report = h.onFencingReport(lockA, { token: '5', resource: 'orders-db', accepted: false }, 12_000);
    expect(report.verdict).toBe('stale_refused');
    expect(report.changes.map((c) => [c.action, c.hazard.kind, c.hazard.severity])).toEqual([
      ['update', 'unsafe_handover', 'critical'],
      ['open', 'stale_token_refused', 'info'],
      ['resolve', 'stale_token_refused', 'info'],
    ]);
    expect(report.changes[1]!.hazard.holders).toEqual(['L1', 'L2']);

    // The new hold ends: the overlap is over.
    const closed = h.onResult(lockA, 'etcd-lease-key', { events: [], completed: ended('released', 'L2', '9', 10_040, 15_000) }, null, null);
    expect(closed).toMatchObject([{ action: 'resolve', hazard: { kind: 'unsafe_handover', severity: 'critical', until: 15_000 } }]);
    expect(h.open()).toEqual([]);
  });

  it('the old holder waking after the new hold ended still makes the handover critical, within 10 minutes', () => {
    const h = new LiveHazards();
    h.onResult(lockA, 'etcd-lease-key', { events: [acquired(0, 'L1', '5')], completed: null }, 'L1', null);
    h.onResult(lockA, 'etcd-lease-key', { events: [], completed: ended('expired', 'L1', '5', 0, 10_000) }, null, null);
    h.onResult(lockA, 'etcd-lease-key', { events: [acquired(10_040, 'L2', '9')], completed: null }, 'L2', null);
    expect(h.onResult(lockA, 'etcd-lease-key', { events: [], completed: ended('released', 'L2', '9', 10_040, 11_000) }, null, null)).toMatchObject([{ action: 'resolve' }]);
    const late = h.onFencingReport(lockA, { token: '5', resource: 'orders-db', accepted: false }, 20_000);
    expect(late.changes[0]).toMatchObject({ action: 'update', hazard: { kind: 'unsafe_handover', severity: 'critical', until: 11_000 } });
    // Much later, a report with the old token is only a stale token.
    const h2 = new LiveHazards();
    h2.onResult(lockA, 'etcd-lease-key', { events: [acquired(0, 'L1', '5')], completed: null }, 'L1', null);
    h2.onResult(lockA, 'etcd-lease-key', { events: [], completed: ended('expired', 'L1', '5', 0, 10_000) }, null, null);
    h2.onResult(lockA, 'etcd-lease-key', { events: [acquired(10_040, 'L2', '9')], completed: null }, 'L2', null);
    h2.onResult(lockA, 'etcd-lease-key', { events: [], completed: ended('released', 'L2', '9', 10_040, 11_000) }, null, null);
    expect(h2.onFencingReport(lockA, { token: '5', resource: 'r', accepted: false }, 11_000 + 11 * 60_000).changes.map((c) => c.hazard.kind)).toEqual(['stale_token_refused', 'stale_token_refused']);
  });

  it('no hazard when the lock was released, or re-taken by the holder it lapsed under', () => {
    const h = new LiveHazards();
    h.onResult(lockA, 'redis-string', { events: [], completed: ended('released', 'a', null, 0, 100) }, null, null);
    expect(h.onResult(lockA, 'redis-string', { events: [acquired(200, 'b', null)], completed: null }, 'b', null)).toEqual([]);
    h.onResult(lockA, 'redis-string', { events: [], completed: ended('expired', 'b', null, 200, 10_200) }, null, null);
    expect(h.onResult(lockA, 'redis-string', { events: [acquired(10_300, 'b', null)], completed: null }, 'b', null)).toEqual([]);
    // Unknown ends (the collector did not see how it ended) prove nothing either.
    h.onResult(lockA, 'redis-string', { events: [], completed: ended('unknown', 'b', null, 10_300, 20_000) }, null, null);
    expect(h.onResult(lockA, 'redis-string', { events: [acquired(20_100, 'c', null)], completed: null }, 'c', null)).toEqual([]);
  });
});

describe('LiveHazards: fencing tokens', () => {
  it('a stale token accepted is critical and stays open for a while; a current one is fine; non-numeric tokens are not compared', () => {
    const h = new LiveHazards();
    h.onResult(lockA, 'etcd-mutex', { events: [acquired(0, 'L1', '7')], completed: null }, 'L1', []);
    h.onResult(lockA, 'etcd-mutex', { events: [acquired(100, 'L2', '12')], completed: ended('released', 'L1', '7', 0, 100) }, 'L2', []);
    expect(h.onFencingReport(lockA, { token: '12', resource: 'r', accepted: true }, 150).verdict).toBe('current');
    const stale = h.onFencingReport(lockA, { token: '7', resource: 's3://bucket', accepted: true }, 200);
    expect(stale).toMatchObject({ verdict: 'stale_accepted', newestToken: '12', changes: [{ action: 'open', hazard: { kind: 'stale_token_accepted', severity: 'critical', tokens: ['7', '12'] } }] });
    expect(h.nextDueAt()).toBe(200 + 5 * 60_000);
    expect(h.tick(200 + 5 * 60_000)).toMatchObject([{ action: 'resolve', hazard: { kind: 'stale_token_accepted' } }]);
    expect(h.onFencingReport(lockA, { token: 'abc', resource: 'r', accepted: true }, 300).verdict).toBe('not_comparable');
    expect(h.onFencingReport(lockB, { token: '1', resource: 'r', accepted: true }, 300).verdict).toBe('not_comparable');
  });

  it('token_regression when a token below the highest granted one is granted; resolved once tokens pass the old mark', () => {
    const h = new LiveHazards();
    h.onResult(lockA, 'redisson', { events: [acquired(0, 'u:1', '41')], completed: null }, 'u:1', null);
    const regressed = h.onResult(lockA, 'redisson', { events: [acquired(1_000, 'u:2', '1')], completed: ended('released', 'u:1', '41', 0, 900) }, 'u:2', null);
    expect(regressed).toMatchObject([{ action: 'open', hazard: { kind: 'token_regression', severity: 'critical', tokens: ['41', '1'] } }]);
    // Still below the old mark: no second hazard.
    expect(h.onResult(lockA, 'redisson', { events: [acquired(2_000, 'u:3', '2')], completed: ended('released', 'u:2', '1', 1_000, 1_900) }, 'u:3', null)).toEqual([]);
    expect(h.onResult(lockA, 'redisson', { events: [acquired(3_000, 'u:4', '42')], completed: ended('released', 'u:3', '2', 2_000, 2_900) }, 'u:4', null)).toMatchObject([
      { action: 'resolve', hazard: { kind: 'token_regression' } },
    ]);
  });
});

describe('LiveHazards: deadlock', () => {
  it('two sessions each holding one lock and waiting for the other: one deadlock while it lasts', () => {
    const h = new LiveHazards();
    const at = (n: number) => [acquired(n, 'x', null)];
    h.onResult(lockA, 'etcd-mutex', { events: at(1), completed: null }, 'S1', []);
    h.onResult(lockB, 'etcd-mutex', { events: at(2), completed: null }, 'S2', []);
    expect(h.onResult(lockA, 'etcd-mutex', { events: [{ ...acquired(3, 'S2', null), type: 'waiter_added' }], completed: null }, 'S1', [w('S2')])).toEqual([]);
    const found = h.onResult(lockB, 'etcd-mutex', { events: [{ ...acquired(4, 'S1', null), type: 'waiter_added' }], completed: null }, 'S2', [w('S1')]);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ action: 'open', hazard: { kind: 'deadlock', severity: 'critical', since: 4 } });
    expect(new Set(found[0]!.hazard.holders)).toEqual(new Set(['S1', 'S2']));
    expect(found[0]!.hazard.detail).toContain('S1 holds "/locks/a" and waits for "/locks/b"');
    // A repeat of the same state changes nothing.
    expect(h.onResult(lockB, 'etcd-mutex', { events: [{ ...acquired(5, 'S1', null), type: 'renewed' }], completed: null }, 'S2', [w('S1')])).toEqual([]);
    // S1 gives up waiting for B: the cycle is gone.
    expect(h.onResult(lockB, 'etcd-mutex', { events: [{ ...acquired(6, 'S1', null), type: 'waiter_left' }], completed: null }, 'S2', [])).toMatchObject([
      { action: 'resolve', hazard: { kind: 'deadlock', until: 6 } },
    ]);
  });

  it('a chain that is not a cycle, and dialects without identities, are not deadlocks', () => {
    const h = new LiveHazards();
    h.onResult(lockA, 'etcd-mutex', { events: [acquired(1, 'S1', null)], completed: null }, 'S1', [w('S2')]);
    expect(h.onResult(lockB, 'etcd-mutex', { events: [acquired(2, 'S2', null)], completed: null }, 'S2', [w('S3')])).toEqual([]);
    const r = new LiveHazards();
    r.onResult(lockA, 'redis-string', { events: [acquired(1, 'S1', null)], completed: null }, 'S1', [w('S2')]);
    expect(r.onResult(lockB, 'redis-string', { events: [acquired(2, 'S2', null)], completed: null }, 'S2', [w('S1')])).toEqual([]);
  });
});
