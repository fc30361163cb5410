import { isLockscopeError, LockscopeError, type LiveLock } from '@lockscope/core';
import { describe, expect, it } from 'vitest';
import { forceRelease, type ReleaseOutcome } from './release-lock.js';
import type { LockSource, ReleaseRequest, ReleaseResult } from './source.js';

// The flow only; the guarded deletes themselves are tested against real etcd and
// Redis in the sources' and lockctl's integration tests, and the dashboard's browser test.

function lockHeldBy(holder: string, token: string | null): LiveLock {
  return { source: 'etcd-main', key: new Uint8Array(), name: '/locks/a', dialect: 'etcd-mutex', hold: { holdId: `${holder}@${token}`, holder, token, ttlMs: 10_000, remainingMs: 5_000 }, waiters: [], at: 0 };
}

function fakeSource(lock: LiveLock | null, release: (r: ReleaseRequest) => Promise<ReleaseResult>): LockSource & { requests: ReleaseRequest[] } {
  const requests: ReleaseRequest[] = [];
  return {
    name: 'etcd-main',
    kind: 'etcd',
    requests,
    get: async () => lock,
    release: async (r: ReleaseRequest) => {
      requests.push(r);
      return release(r);
    },
  } as unknown as LockSource & { requests: ReleaseRequest[] };
}

const ok = (lock: LiveLock) => async (r: ReleaseRequest): Promise<ReleaseResult> => ({ released: !r.dryRun, lock, actions: [r.dryRun ? 'would delete' : 'deleted'] });

async function run(source: LockSource, options: Partial<Parameters<typeof forceRelease>[1]> = {}) {
  const audits: [ReleaseOutcome, Record<string, unknown>][] = [];
  const result = await forceRelease(source, { name: '/locks/a', audit: async (_l, outcome, detail) => void audits.push([outcome, detail]), ...options }).catch((e: unknown) => e);
  return { result, audits };
}

describe('forceRelease', () => {
  it('releases the observed hold with its id, holder and token as the guard, and audits it', async () => {
    const lock = lockHeldBy('694d7a', '101');
    const source = fakeSource(lock, ok(lock));
    const { result, audits } = await run(source, { expectHolder: '694d7a', expectToken: '101' });
    expect(result).toMatchObject({ result: { released: true } });
    expect(source.requests).toEqual([{ name: '/locks/a', expectHoldId: '694d7a@101', expectHolder: '694d7a', expectToken: '101', revokeLease: undefined, dryRun: false }]);
    expect(audits.map((a) => a[0])).toEqual(['released']);
  });

  it('refuses, deleting nothing, when the holder is not the one the person saw, and names the new one', async () => {
    const source = fakeSource(lockHeldBy('new-holder', '205'), ok(lockHeldBy('new-holder', '205')));
    const { result, audits } = await run(source, { expectHolder: 'old-holder', expectToken: '101' });
    expect(isLockscopeError(result, 'HOLDER_CHANGED')).toBe(true);
    expect((result as LockscopeError).message).toContain('new-holder');
    expect((result as LockscopeError).details).toEqual({ holder: 'new-holder', token: '205' });
    expect(source.requests).toEqual([]);
    expect(audits.map((a) => a[0])).toEqual(['holder_changed']);
  });

  it('a change between the read and the delete (the guarded delete refuses) is audited as holder_changed', async () => {
    const source = fakeSource(lockHeldBy('h', '1'), async () => {
      throw new LockscopeError('HOLDER_CHANGED', 'changed meanwhile');
    });
    const { result, audits } = await run(source);
    expect(isLockscopeError(result, 'HOLDER_CHANGED')).toBe(true);
    expect(audits.map((a) => a[0])).toEqual(['holder_changed']);
  });

  it('asks for confirmation with the dry-run plan; a refusal deletes nothing and is audited', async () => {
    const lock = lockHeldBy('h', '1');
    const source = fakeSource(lock, ok(lock));
    const seen: string[][] = [];
    const { result, audits } = await run(source, {
      confirm: async (_l, plan) => {
        seen.push(plan.actions);
        return { outcome: 'aborted', message: 'Not confirmed.' };
      },
    });
    expect(seen).toEqual([['would delete']]);
    expect(isLockscopeError(result, 'CONFIRMATION_REQUIRED')).toBe(true);
    expect(source.requests.map((r) => r.dryRun)).toEqual([true]);
    expect(audits.map((a) => a[0])).toEqual(['aborted']);
  });

  it('an unknown or free lock is an error before anything is attempted', async () => {
    expect(isLockscopeError((await run(fakeSource(null, ok(lockHeldBy('h', '1'))))).result, 'LOCK_NOT_FOUND')).toBe(true);
    const free = { ...lockHeldBy('h', '1'), hold: null };
    const { result, audits } = await run(fakeSource(free, ok(free)));
    expect(isLockscopeError(result, 'LOCK_FREE')).toBe(true);
    expect(audits).toEqual([]);
  });
});
