import { describe, expect, it } from 'vitest';
import type { LockObservation } from '@lockscope/core';
import { toEntry, type RawKv } from './etcd-dialect.js';
import { EtcdReconciler, type KeyEvent, type LeaseLookup } from './etcd-reconciler.js';

const LEASE_A = 0x1an;
const LEASE_B = 0x2bn;
const LEASE_C = 0x3cn;

function reconciler(): EtcdReconciler {
  return new EtcdReconciler({ source: 'etcd-test', overrides: [] });
}

function kv(key: string, createRevision: number, lease: bigint, modRevision = createRevision, value = 'v'): RawKv {
  return { key: Buffer.from(key), create_revision: String(createRevision), mod_revision: String(modRevision), lease: lease.toString(), value: Buffer.from(value) };
}

const put = (k: RawKv): KeyEvent => ({ type: 'Put', kv: k });
const del = (k: RawKv): KeyEvent => ({ type: 'Delete', kv: k });

/** A mutex contender key `<lock>/<lease hex>` as Go's concurrency.Mutex and `etcdctl lock` write it. */
const contender = (lock: string, lease: bigint, createRevision: number) => kv(`${lock}/${lease.toString(16)}`, createRevision, lease);

function alive(ttlMs: number, remainingMs: number, at: number): LeaseLookup {
  return { gone: false, grantedMs: ttlMs, remainingMs, at };
}
const gone = (at: number): LeaseLookup => ({ gone: true, grantedMs: null, remainingMs: 0, at });

/** stage + finish, answering the lookups the stage asks for from `leases` (a missing one fails the test). */
function apply(r: EtcdReconciler, events: KeyEvent[], revision: number, at: number, leases: Map<bigint, LeaseLookup>, replayed = false): LockObservation[] {
  const staged = r.stage(events, BigInt(revision), at, replayed);
  const lookups = new Map<bigint, LeaseLookup>();
  for (const lease of staged.leases) {
    const lookup = leases.get(lease);
    if (!lookup) throw new Error(`unexpected lookup of lease ${lease.toString(16)}`);
    lookups.set(lease, lookup);
  }
  return r.finish(staged, lookups);
}

const holders = (observations: LockObservation[]) => observations.map((o) => [o.hold?.holder ?? null, o.waiters?.map((w) => w.holder) ?? null, o.endCause ?? null]);

describe('EtcdReconciler: the mutex recipe', () => {
  it('the lowest create_revision holds, later contenders wait, and a release hands on in order', () => {
    const r = reconciler();
    const a = contender('/locks/job', LEASE_A, 10);
    const b = contender('/locks/job', LEASE_B, 11);
    const c = contender('/locks/job', LEASE_C, 12);
    const leases = new Map([
      [LEASE_A, alive(10_000, 10_000, 1_000)],
      [LEASE_B, alive(10_000, 10_000, 1_000)],
      [LEASE_C, alive(10_000, 10_000, 1_000)],
    ]);
    const [first] = apply(r, [put(a)], 10, 1_000, leases);
    expect(first).toMatchObject({ dialect: 'etcd-mutex', seq: 10n, revision: '10', hold: { token: '10', ttlMs: 10_000, remainingMs: 10_000 }, waiters: [] });
    expect(Buffer.from(first!.key).toString()).toBe('/locks/job');
    const [queued] = apply(r, [put(b), put(c)], 11, 1_100, leases);
    expect(queued!.hold!.token).toBe('10');
    expect(queued!.waiters!.map((w) => [w.token, w.since])).toEqual([
      ['11', 1_100],
      ['12', 1_100],
    ]);
    // A's holder unlocks (deletes its key); its lease lives on (a session lease).
    const [handed] = apply(r, [del(a)], 13, 2_000, leases);
    expect(handed).toMatchObject({ endCause: 'released', hold: { token: '11' } });
    expect(handed!.waiters!.map((w) => w.token)).toEqual(['12']);
    // B waited from 1,100: its waiter record keeps that time.
    expect(handed!.hold!.waiterId).toBe(queued!.waiters![0]!.id);
  });

  it('a waiter that gives up is not a change of holder', () => {
    const r = reconciler();
    const a = contender('/locks/job', LEASE_A, 10);
    const b = contender('/locks/job', LEASE_B, 11);
    const leases = new Map([[LEASE_A, alive(10_000, 10_000, 0)], [LEASE_B, alive(10_000, 10_000, 0)]]);
    apply(r, [put(a), put(b)], 11, 0, leases);
    const [after] = apply(r, [del(b)], 12, 100, new Map());
    expect(after!.endCause).toBeUndefined();
    expect(after!.hold!.token).toBe('10');
    expect(after!.waiters).toEqual([]);
  });
});

describe('EtcdReconciler: why a hold ended', () => {
  const key = (createRevision: number, lease = LEASE_A) => kv('/locks/single', createRevision, lease);

  it('a delete with the lease alive is a release; with the lease gone at its predicted expiry, an expiry', () => {
    const r = reconciler();
    apply(r, [put(key(5))], 5, 0, new Map([[LEASE_A, alive(2_000, 2_000, 0)]]));
    const [released] = apply(r, [del(key(5))], 6, 500, new Map([[LEASE_A, alive(2_000, 1_000, 500)]]));
    expect(released).toMatchObject({ dialect: 'etcd-lease-key', hold: null, endCause: 'released' });

    apply(r, [put(key(7))], 7, 1_000, new Map([[LEASE_A, alive(2_000, 2_000, 1_000)]]));
    const [expired] = apply(r, [del(key(7))], 8, 3_000, new Map([[LEASE_A, gone(3_000)]]));
    expect(expired).toMatchObject({ hold: null, endCause: 'expired' });
  });

  it('a lease gone well before it could have lapsed was revoked: released, not expired', () => {
    const r = reconciler();
    apply(r, [put(key(5))], 5, 0, new Map([[LEASE_A, alive(30_000, 30_000, 0)]]));
    const [revoked] = apply(r, [del(key(5))], 6, 1_000, new Map([[LEASE_A, gone(1_000)]]));
    expect(revoked!.endCause).toBe('released');
  });

  it('in a replay nobody can tell a revoke from a lapse: unknown', () => {
    const r = reconciler();
    r.load([toEntry(key(5), null)]);
    const [replayed] = apply(r, [del(key(5))], 6, 1_000, new Map([[LEASE_A, gone(1_000)]]), true);
    expect(replayed).toMatchObject({ endCause: 'unknown', replayed: true });
  });

  it('a key without a lease is released without a lookup; a hold replaced in one revision ends as unknown', () => {
    const r = reconciler();
    apply(r, [put(key(5, 0n))], 5, 0, new Map());
    const [released] = apply(r, [del(key(5, 0n))], 6, 10, new Map());
    expect(released!.endCause).toBe('released');
    apply(r, [put(key(7, 0n))], 7, 20, new Map());
    // Deleted and created again in one transaction: the old hold's delete is in the same revision.
    const [replaced] = apply(r, [del(key(7, 0n)), put(key(8, 0n))], 8, 30, new Map());
    expect(replaced).toMatchObject({ endCause: 'released', hold: { token: '8' } });
    // A put that changes the create revision without a delete seen (history lost): unknown.
    const [jumped] = apply(r, [put(kv('/locks/single', 9, 0n))], 9, 40, new Map());
    expect(jumped).toMatchObject({ endCause: 'unknown', hold: { token: '9' } });
  });

  it('a renewal (same key, new mod revision) is not a new hold and needs no lookup', () => {
    const r = reconciler();
    apply(r, [put(key(5))], 5, 0, new Map([[LEASE_A, alive(2_000, 2_000, 0)]]));
    const staged = r.stage([put(kv('/locks/single', 5, LEASE_A, 9, 'new value'))], 9n, 500, false);
    expect(staged.leases).toEqual([]);
    const [same] = r.finish(staged, new Map());
    expect(same!.endCause).toBeUndefined();
    expect(same!.hold).toMatchObject({ token: '5', ttlMs: 2_000 });
  });

  it('reports a remaining TTL only while its lookup is fresh', () => {
    const r = reconciler();
    const [fresh] = apply(r, [put(key(5))], 5, 0, new Map([[LEASE_A, alive(10_000, 9_000, 0)]]));
    expect(fresh!.hold!.remainingMs).toBe(9_000);
    const [stale] = apply(r, [put(kv('/locks/single', 5, LEASE_A, 6))], 6, 5_000, new Map());
    expect(stale!.hold).toMatchObject({ ttlMs: 10_000, remainingMs: null });
  });

  it('a lease check proving the lease renewed moves the predicted expiry: a later revoke is a release', () => {
    const r = reconciler();
    apply(r, [put(key(5))], 5, 0, new Map([[LEASE_A, alive(2_000, 2_000, 0)]]));
    r.noteLeaseCheck(`@5`, alive(2_000, 2_000, 10_000));
    // At 10.5 s the first lookup alone would predict expiry at 2 s; the check says not before 12 s.
    const [ended] = apply(r, [del(key(5))], 6, 10_500, new Map([[LEASE_A, gone(10_500)]]));
    expect(ended!.endCause).toBe('released');
  });
});

describe('EtcdReconciler: resyncs', () => {
  it('replays every lock, keeps what it knew of unchanged holds, asks lookups only for new ones, and lists the live keys', () => {
    const r = reconciler();
    const a = kv('/locks/a', 5, LEASE_A);
    apply(r, [put(a)], 5, 0, new Map([[LEASE_A, alive(60_000, 60_000, 0)]]));
    const b = kv('/locks/b', 8, LEASE_B);
    const entries = [toEntry(a, null), toEntry(b, null)];
    expect(r.unknownOwners(entries).map((e) => e.key.toString())).toEqual(['/locks/b']);
    const { observations, live } = r.resync(entries, new Map([[LEASE_B, alive(5_000, 4_000, 100)]]), 9n, 100);
    expect(observations.map((o) => [Buffer.from(o.key).toString(), o.hold?.ttlMs, o.replayed, o.seq])).toEqual([
      ['/locks/a', 60_000, true, 9n],
      ['/locks/b', 5_000, true, 9n],
    ]);
    expect([...live].map((h) => Buffer.from(h, 'hex').toString()).sort()).toEqual(['/locks/a', '/locks/b']);
  });

  it('a lock deleted while disconnected is absent from the live keys, and later events start from the resynced state', () => {
    const r = reconciler();
    const a = kv('/locks/a', 5, 0n);
    apply(r, [put(a)], 5, 0, new Map());
    const { observations, live } = r.resync([], new Map(), 20n, 100);
    expect(observations).toEqual([]);
    expect(live.size).toBe(0);
    // Its delete replayed late changes nothing: the key is not known any more.
    expect(apply(r, [del(a)], 21, 200, new Map())).toEqual([]);
  });

  it('events out of order within a revision: a contender put before the owner still sorts by create_revision', () => {
    const r = reconciler();
    const a = contender('/locks/job', LEASE_A, 10);
    const b = contender('/locks/job', LEASE_B, 11);
    const leases = new Map([[LEASE_A, alive(10_000, 10_000, 0)], [LEASE_B, alive(10_000, 10_000, 0)]]);
    const [o] = apply(r, [put(b), put(a)], 11, 0, leases);
    expect(o!.hold!.token).toBe('10');
    expect(holders([o!])[0]![1]).toHaveLength(1);
    expect(o!.waiters![0]!.token).toBe('11');
  });
});
