import { isLockscopeError, LockscopeError, type LiveLock } from '@lockscope/core';
import { findLockByName } from './find-lock-by-name.js';
import type { LockSource, ReleaseResult } from './source.js';

/** How an attempt on a held lock ended; the audit record's `result`. */
export type ReleaseOutcome = 'released' | 'holder_changed' | 'already_free' | 'failed' | 'refused_unconfirmed' | 'aborted';

export interface ForceReleaseOptions {
  /** Lock name as list() shows it. */
  name: string;
  /** Refuse unless the holder / fencing token is still exactly this (what the person saw). */
  expectHolder?: string | undefined;
  expectToken?: string | null | undefined;
  /** etcd: also revoke the holder's lease. */
  revokeLease?: boolean | undefined;
  /**
   * Called with the lock and the dry-run plan before anything is deleted. Return null
   * to go ahead, or the outcome and sentence to refuse with (nothing deleted).
   */
  confirm?: (lock: LiveLock, plan: ReleaseResult) => Promise<{ outcome: 'refused_unconfirmed' | 'aborted'; message: string } | null>;
  /** Records every attempt on a held lock (lockctl: store or spool; dashboard: store). */
  audit(lock: LiveLock, outcome: ReleaseOutcome, detail: Record<string, unknown>): Promise<void>;
}

export interface ForceReleaseResult {
  /** The lock as observed before the release. */
  lock: LiveLock;
  result: ReleaseResult;
}

/**
 * The one force-release flow, shared by `lockctl release` and the dashboard: read
 * the lock, check it is still the hold the person saw, plan, confirm, then the
 * source's guarded compare-and-delete (etcd: a transaction on the owner key's
 * create_revision; Redis: a Lua compare of the value), which refuses again if the
 * holder changed in between. The old holder is not told.
 */
export async function forceRelease(source: LockSource, options: ForceReleaseOptions): Promise<ForceReleaseResult> {
  // The same by-name lookup as lockctl show: a name that could mean two keys is refused, never guessed.
  const found = await findLockByName(source, options.name);
  if (!found) throw new LockscopeError('LOCK_NOT_FOUND', `No lock named ${options.name} on ${source.name}; run \`lockctl ls --source ${source.name}\` to see the names.`);
  const { lock, lookupName } = found;
  const hold = lock.hold;
  if (!hold) throw new LockscopeError('LOCK_FREE', `${options.name} on ${source.name} is already free: nothing to release.`);

  const { expectHolder, expectToken } = options;
  if ((expectHolder !== undefined && expectHolder !== hold.holder) || (expectToken !== undefined && expectToken !== hold.token)) {
    const error = new LockscopeError(
      'HOLDER_CHANGED',
      `${options.name} is held by ${hold.holder} with token ${hold.token ?? 'none'}, not the ${expectHolder !== undefined && expectHolder !== hold.holder ? `holder ${expectHolder}` : `token ${expectToken}`} you expected; nothing was deleted. Look again before releasing.`,
      { details: { holder: hold.holder, token: hold.token } },
    );
    await options.audit(lock, 'holder_changed', { error: error.message });
    throw error;
  }

  const request = { name: lookupName, expectHoldId: hold.holdId, expectHolder: hold.holder, expectToken: hold.token, revokeLease: options.revokeLease };
  if (options.confirm) {
    const plan = await source.release({ ...request, dryRun: true });
    const refused = await options.confirm(lock, plan);
    if (refused) {
      await options.audit(lock, refused.outcome, {});
      throw new LockscopeError('CONFIRMATION_REQUIRED', refused.message);
    }
  }

  let result: ReleaseResult;
  try {
    result = await source.release({ ...request, dryRun: false });
  } catch (error) {
    const outcome: ReleaseOutcome = isLockscopeError(error, 'HOLDER_CHANGED') ? 'holder_changed' : isLockscopeError(error, 'LOCK_FREE') ? 'already_free' : 'failed';
    await options.audit(lock, outcome, { error: error instanceof Error ? error.message : String(error) });
    throw error;
  }
  await options.audit(lock, 'released', { actions: result.actions, leaseKeys: result.leaseKeys ?? null });
  return { lock, result };
}
