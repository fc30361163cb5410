import { describe, expect, it } from 'vitest';
import type { LockObservation } from '@lockscope/core';
import { recogniseLock, type RawLockState } from './redis-dialect.js';
import { absentState, RedisReconciler, UNREAD_HOLDER } from './redis-reconciler.js';

const U1 = '8f0c2a8e-5b7d-4c1e-9a3f-1d2e3f4a5b6c:1';
const U2 = '1b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9:1';
const U3 = '0a1b2c3d-4e5f-4607-8819-2a3b4c5d6e7f:1';
const key = (name: string) => Buffer.from(name, 'utf8');
const hex = (name: string) => key(name).toString('hex');

function reconciler(patterns = ['lock:*']): RedisReconciler {
  return new RedisReconciler({ source: 'redis-test', patterns: patterns.map(key) });
}

function stringState(name: string, value: string, pttl: number): RawLockState {
  return { key: key(name), type: 'string', value: Buffer.from(value), hash: null, pttl, queue: [], timeouts: null, fencingToken: null };
}

function redissonState(name: string, fields: string[], pttl: number, queue: string[] = []): RawLockState {
  return {
    key: key(name),
    type: fields.length > 0 ? 'hash' : 'none',
    value: null,
    hash: fields.length > 0 ? Object.fromEntries(fields.map((f) => [f, Buffer.from('1')])) : null,
    pttl: fields.length > 0 ? pttl : -2,
    queue: queue.map((q) => Buffer.from(q)),
    timeouts: queue.length > 0 ? queue.map((q, i) => [q, 1_000_000 + i] as [string, number]) : null,
    fencingToken: null,
  };
}

/** Notifications for `name`, all at `at` (monotonic time = wall time here). */
function notify(r: RedisReconciler, name: string, events: string[], at: number): void {
  for (const event of events) r.noteEvent(key(name), event, at, at);
}

/** One flush: take the pending keys, read them from `states` (absent when missing), apply. */
function flush(r: RedisReconciler, states: Record<string, RawLockState>, doneAt: number): LockObservation[] {
  const { fetch, observations } = r.takeBatch(true, doneAt, doneAt);
  const read = fetch.map((p) => states[p.key.toString()] ?? absentState(p.key));
  return [...observations, ...r.applyFetched(fetch, read, doneAt, doneAt)];
}

function summary(observations: LockObservation[]) {
  return observations.map((o) => ({ holdId: o.hold?.holdId ?? null, endCause: o.endCause ?? null, replayed: o.replayed ?? false }));
}

function expectIncreasingSeq(observations: LockObservation[]): void {
  for (let i = 1; i < observations.length; i++) expect(observations[i]!.seq > observations[i - 1]!.seq).toBe(true);
}

describe('RedisReconciler: notifications of one SET NX PX lock', () => {
  it('a set is a hold with the granted TTL inferred from PTTL; a renewal moves renewedAt, not the hold', () => {
    const r = reconciler();
    notify(r, 'lock:a', ['set', 'expire'], 1_000);
    const [held] = flush(r, { 'lock:a': stringState('lock:a', 'tok1', 29_990) }, 1_010);
    expect(held).toMatchObject({ dialect: 'redis-string', at: 1_000, hold: { holdId: 'tok1', holder: 'tok1', ttlMs: 30_000, renewedAt: 1_000, remainingMs: 29_990 } });
    expect(held!.endCause).toBeUndefined();

    notify(r, 'lock:a', ['expire'], 11_000);
    const [renewed] = flush(r, { 'lock:a': stringState('lock:a', 'tok1', 30_000) }, 11_000);
    expect(renewed).toMatchObject({ at: 11_000, hold: { holdId: 'tok1', ttlMs: 30_000, renewedAt: 11_000 } });
    expect(renewed!.endCause).toBeUndefined();
    expect(renewed!.seq).toBeGreaterThan(held!.seq);
  });

  it('a re-read without a grant event keeps the TTL and renewal seen before', () => {
    const r = reconciler();
    notify(r, 'lock:a', ['set'], 1_000);
    flush(r, { 'lock:a': stringState('lock:a', 'tok1', 5_000) }, 1_000);
    // e.g. a `persist`-free change such as a `setrange`, read much later with less TTL left.
    notify(r, 'lock:a', ['setrange'], 3_000);
    const [again] = flush(r, { 'lock:a': stringState('lock:a', 'tok1', 3_000) }, 3_000);
    expect(again!.hold).toMatchObject({ holdId: 'tok1', ttlMs: 5_000, renewedAt: 1_000, remainingMs: 3_000 });
  });

  it('del and expired end the hold without a read, with their causes', () => {
    const r = reconciler();
    notify(r, 'lock:a', ['set'], 1_000);
    notify(r, 'lock:b', ['set'], 1_000);
    flush(r, { 'lock:a': stringState('lock:a', 'tok1', 5_000), 'lock:b': stringState('lock:b', 'tok2', 5_000) }, 1_000);
    notify(r, 'lock:a', ['del'], 2_000);
    notify(r, 'lock:b', ['expired'], 6_000);
    const { fetch, observations } = r.takeBatch(true, 6_000, 6_000);
    expect(fetch).toHaveLength(0);
    expect(observations.map((o) => [o.key.toString(), o.hold, o.endCause, o.at])).toEqual([
      ['lock:a', null, 'released', 2_000],
      ['lock:b', null, 'expired', 6_000],
    ]);
  });

  it('an evicted key ends as unknown, and a hold replaced without any end event ends as unknown', () => {
    const r = reconciler();
    notify(r, 'lock:a', ['set'], 1_000);
    flush(r, { 'lock:a': stringState('lock:a', 'tok1', 5_000) }, 1_000);
    notify(r, 'lock:a', ['set'], 2_000);
    const [replaced] = flush(r, { 'lock:a': stringState('lock:a', 'tok2', 5_000) }, 2_000);
    expect(replaced).toMatchObject({ hold: { holdId: 'tok2' }, endCause: 'unknown' });
    notify(r, 'lock:a', ['evicted'], 3_000);
    const [evicted] = r.takeBatch(true, 3_000, 3_000).observations;
    expect(evicted).toMatchObject({ hold: null, endCause: 'unknown' });
  });

  it('keys outside the patterns and Redisson bookkeeping are ignored', () => {
    const r = reconciler();
    expect(r.noteEvent(key('other:a'), 'set', 1, 1)).toBe(false);
    expect(r.noteEvent(key('redisson_lock_token:{lock:a}'), 'incrby', 1, 1)).toBe(false);
    expect(r.noteEvent(key('lock:a:uuid:1:rwlock_timeout:1'), 'set', 1, 1)).toBe(false);
    expect(r.hasPending()).toBe(false);
    expect(r.takeBatch(true, 1, 1)).toEqual({ fetch: [], observations: [] });
  });
});

describe('RedisReconciler: holds shorter than a read (unread holds)', () => {
  it('each set/del pair between two reads is one acquisition with an unread holder, in order after the known hold ends', () => {
    const r = reconciler();
    notify(r, 'lock:a', ['set'], 1_000);
    flush(r, { 'lock:a': stringState('lock:a', 'tok1', 5_000) }, 1_000);
    notify(r, 'lock:a', ['del', 'set', 'expire', 'del', 'set', 'expire'], 2_000);
    const out = flush(r, { 'lock:a': stringState('lock:a', 'tok3', 5_000) }, 2_010);
    expect(out.map((o) => [o.hold?.holder ?? null, o.endCause ?? null])).toEqual([
      [null, 'released'],
      [UNREAD_HOLDER, null],
      [null, 'released'],
      ['tok3', null],
    ]);
    expectIncreasingSeq(out);
    // The unread hold's id is unique (its seq), so the tracker counts it as its own hold.
    expect(out[1]!.hold!.holdId).toBe(`unread:${out[1]!.seq}`);
  });

  it('a set whose value was gone before the read stays open until its del arrives', () => {
    const r = reconciler();
    notify(r, 'lock:a', ['set', 'expire'], 1_000);
    const [open] = flush(r, {}, 1_005);
    expect(open).toMatchObject({ dialect: 'redis-string', hold: { holder: UNREAD_HOLDER, ttlMs: null } });
    expect(open!.endCause).toBeUndefined();
    notify(r, 'lock:a', ['del'], 1_010);
    const [ended] = r.takeBatch(true, 1_010, 1_010).observations;
    expect(ended).toMatchObject({ hold: null, endCause: 'released', at: 1_010 });
  });

  it('a known hold, then set and del with nothing left: the known hold ends, the short one is counted and ended', () => {
    const r = reconciler();
    notify(r, 'lock:a', ['set'], 1_000);
    flush(r, { 'lock:a': stringState('lock:a', 'tok1', 5_000) }, 1_000);
    notify(r, 'lock:a', ['del', 'set', 'del'], 2_000);
    const out = r.takeBatch(true, 2_000, 2_000).observations;
    expect(out.map((o) => [o.hold?.holder ?? null, o.endCause ?? null])).toEqual([
      [null, 'released'],
      [UNREAD_HOLDER, null],
      [null, 'released'],
      // The final state (free), which ends nothing more.
      [null, null],
    ]);
    expectIncreasingSeq(out);
  });
});

describe('RedisReconciler: reads and notifications that overlap', () => {
  it('a key being read is not read again until that read is applied; what arrived meanwhile goes in the next read', () => {
    const r = reconciler();
    notify(r, 'lock:a', ['set'], 1_000);
    const first = r.takeBatch(true, 1_000, 1_000);
    expect(first.fetch.map((p) => p.key.toString())).toEqual(['lock:a']);
    notify(r, 'lock:a', ['del', 'set'], 1_001);
    expect(r.takeBatch(true, 1_001, 1_001).fetch).toHaveLength(0);
    const applied = r.applyFetched(first.fetch, [stringState('lock:a', 'tok2', 5_000)], 1_002, 1_002);
    expect(applied.map((o) => o.hold?.holdId)).toEqual(['tok2']);
    // The second read sees the same hold: tok1 was never read, the del/set pair belongs to it.
    const second = flush(r, { 'lock:a': stringState('lock:a', 'tok2', 4_990) }, 1_003);
    expect(summary(second)).toEqual([
      { holdId: null, endCause: 'released', replayed: false },
      { holdId: 'tok2', endCause: null, replayed: false },
    ]);
    expectIncreasingSeq([...applied, ...second]);
  });

  it('a failed read frees its keys for the next one; with no read slot free, gone keys are still reported', () => {
    const r = reconciler();
    notify(r, 'lock:a', ['set'], 1_000);
    const batch = r.takeBatch(true, 1_000, 1_000).fetch;
    r.fetchFailed(batch);
    notify(r, 'lock:a', ['expire'], 1_001);
    notify(r, 'lock:b', ['set'], 1_001);
    flush(r, { 'lock:b': stringState('lock:b', 'b1', 5_000) }, 1_001);
    notify(r, 'lock:b', ['del'], 1_002);
    notify(r, 'lock:c', ['set'], 1_002);
    const { fetch, observations } = r.takeBatch(false, 1_002, 1_002);
    expect(fetch).toHaveLength(0);
    expect(observations.map((o) => [o.key.toString(), o.endCause])).toEqual([['lock:b', 'released']]);
    expect(r.hasPending()).toBe(true);
  });
});

describe('RedisReconciler: Redisson', () => {
  it('a fair lock stays fair when its queue empties, and a companion del is not the end of the lock', () => {
    const r = reconciler();
    notify(r, 'lock:f', ['hset', 'pexpire'], 1_000);
    r.noteEvent(key('redisson_lock_queue:{lock:f}'), 'rpush', 1_000, 1_000);
    const [first] = flush(r, { 'lock:f': redissonState('lock:f', [U1], 30_000, [U2]) }, 1_000);
    expect(first).toMatchObject({ dialect: 'redisson-fair', hold: { holdId: U1 }, waiters: [{ id: U2, since: 1_000 }] });
    r.noteEvent(key('redisson_lock_queue:{lock:f}'), 'del', 2_000, 2_000);
    const [emptied] = flush(r, { 'lock:f': redissonState('lock:f', [U1], 29_000) }, 2_000);
    expect(emptied).toMatchObject({ dialect: 'redisson-fair', hold: { holdId: U1 }, waiters: [] });
    expect(emptied!.endCause).toBeUndefined();
  });

  it('a waiter keeps the time it was first seen across reads', () => {
    const r = reconciler();
    notify(r, 'lock:f', ['hset'], 1_000);
    flush(r, { 'lock:f': redissonState('lock:f', [U1], 30_000, [U2]) }, 1_000);
    notify(r, 'lock:f', ['hincrby'], 5_000);
    const [later] = flush(r, { 'lock:f': redissonState('lock:f', [U1], 30_000, [U2, U3]) }, 5_000);
    expect(later!.waiters!.map((w) => [w.id, w.since])).toEqual([
      [U2, 1_000],
      [U3, 5_000],
    ]);
  });
});

describe('RedisReconciler: resyncs', () => {
  const scanned = (...states: RawLockState[]) => states.map((s) => ({ key: s.key, lock: recogniseLock(s)! }));

  it('replays every lock found, keeps what it knew of a hold it already saw, and reports only found keys as live', () => {
    const r = reconciler();
    notify(r, 'lock:a', ['set'], 1_000);
    notify(r, 'lock:gone', ['set'], 1_000);
    flush(r, { 'lock:a': stringState('lock:a', 'tok1', 10_000), 'lock:gone': stringState('lock:gone', 'g1', 10_000) }, 1_000);
    r.beginResync();
    const out = r.resyncBatch(scanned(stringState('lock:a', 'tok1', 4_000), stringState('lock:new', 'n1', 7_000)), 7_000);
    const live = r.endResync();
    expect(out.map((o) => [o.key.toString(), o.hold?.holdId, o.hold?.ttlMs, o.hold?.renewedAt, o.replayed])).toEqual([
      ['lock:a', 'tok1', 10_000, 1_000, true],
      // First seen by a resync: the remaining TTL is the best lower bound, the grant time unknown.
      ['lock:new', 'n1', 7_000, null, true],
    ]);
    expect([...live].sort()).toEqual([hex('lock:a'), hex('lock:new')].sort());
    // lock:gone is forgotten: a later notification for it is a new lock, with no end of an old hold.
    expect(r.knows(key('lock:gone'))).toBe(false);
  });

  it('a lock taken while the resync runs (after the SCAN passed it) is live, not ended by the resync', () => {
    const r = reconciler();
    r.beginResync();
    notify(r, 'lock:late', ['set'], 2_000);
    const held = flush(r, { 'lock:late': stringState('lock:late', 'l1', 5_000) }, 2_000);
    expect(held.map((o) => o.hold?.holdId)).toEqual(['l1']);
    r.resyncBatch(scanned(stringState('lock:a', 'a1', 5_000)), 1_900);
    const live = r.endResync();
    expect(live.has(hex('lock:late'))).toBe(true);
    expect(live.has(hex('lock:a'))).toBe(true);
  });

  it('a lock still waiting to be read when the resync ends is live (its read reports it)', () => {
    const r = reconciler();
    r.beginResync();
    notify(r, 'lock:late', ['set'], 2_000);
    const live = r.endResync();
    expect(live.has(hex('lock:late'))).toBe(true);
    const out = flush(r, { 'lock:late': stringState('lock:late', 'l1', 5_000) }, 2_001);
    expect(out.map((o) => o.hold?.holdId)).toEqual(['l1']);
  });

  it('a SCAN read older than a notification read is not replayed over it (no resurrected or stale hold)', () => {
    const r = reconciler();
    notify(r, 'lock:a', ['set'], 1_000);
    notify(r, 'lock:b', ['set'], 1_000);
    flush(r, { 'lock:a': stringState('lock:a', 'a1', 5_000), 'lock:b': stringState('lock:b', 'b1', 5_000) }, 1_000);
    r.beginResync();
    // While the SCAN runs: lock:a is released, lock:b changes holder; both reported by notifications.
    notify(r, 'lock:a', ['del'], 2_000);
    notify(r, 'lock:b', ['del', 'set'], 2_000);
    const live = flush(r, { 'lock:b': stringState('lock:b', 'b2', 5_000) }, 2_000);
    expect(summary(live)).toEqual([
      { holdId: null, endCause: 'released', replayed: false },
      { holdId: null, endCause: 'released', replayed: false },
      { holdId: 'b2', endCause: null, replayed: false },
    ]);
    // The SCAN had read both before those changes.
    const replay = r.resyncBatch(scanned(stringState('lock:a', 'a1', 4_000), stringState('lock:b', 'b1', 4_000)), 1_500);
    expect(replay).toEqual([]);
    const liveKeys = r.endResync();
    expect(liveKeys.has(hex('lock:b'))).toBe(true);
    // lock:a was seen by the SCAN (it existed then); the sink already has its release.
    expect(r.grantedTtl(key('lock:b'), 'b2')).toBe(5_000);
    expect(r.grantedTtl(key('lock:a'), 'a1')).toBeNull();
  });

  it('after a resync, notifications read as before (the resync state is gone)', () => {
    const r = reconciler();
    r.beginResync();
    r.resyncBatch(scanned(stringState('lock:a', 'a1', 5_000)), 1_000);
    r.endResync();
    notify(r, 'lock:a', ['del'], 2_000);
    const [ended] = r.takeBatch(true, 2_000, 2_000).observations;
    expect(ended).toMatchObject({ hold: null, endCause: 'released' });
    expect(() => r.resyncBatch([], 3_000)).toThrow(/outside a resync/);
  });
});
