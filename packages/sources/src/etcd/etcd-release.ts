import { displayKey, LockscopeError } from '@lockscope/core';
import type { ReleaseRequest, ReleaseResult } from '../source.js';
import { errorText } from './etcd-client.js';
import { leaseHex } from './etcd-dialect.js';
import { findGroup, heldBefore, liveLocks, type ReadContext } from './etcd-read.js';

/**
 * Guarded force-release: deletes the owner key only if its create_revision is
 * still the one observed (a transaction), optionally revoking its lease.
 */
export async function releaseLock(ctx: ReadContext, prefixes: string[], request: ReleaseRequest): Promise<ReleaseResult> {
  const source = ctx.source;
  const group = await findGroup(ctx, request.name);
  if (!group) {
    if ((request.expectHoldId || request.expectToken) && (await heldBefore(ctx, request))) {
      throw new LockscopeError('LOCK_FREE', `${request.name} on ${source} is free now: the hold you saw has ended, nothing to release.`, {
        details: { source, name: request.name },
      });
    }
    throw new LockscopeError('LOCK_NOT_FOUND', `No lock named ${request.name} under ${prefixes.join(', ')} on etcd source "${source}". Run \`lockctl ls\` to see the names.`, {
      details: { source, name: request.name },
    });
  }
  const [lock] = await liveLocks(ctx, [group]);
  const owner = group.entries[0]!;
  const hold = lock!.hold!;
  const mismatch =
    (request.expectHoldId != null && request.expectHoldId !== hold.holdId) ||
    (request.expectToken != null && request.expectToken !== hold.token) ||
    (request.expectHolder != null && request.expectHolder !== hold.holder);
  if (mismatch) {
    throw new LockscopeError(
      'HOLDER_CHANGED',
      `${request.name} changed holder since you looked: now held by ${hold.holder} (token ${hold.token}). Nothing was deleted; look again and retry if you still mean it.`,
      { details: { source, name: request.name, holdId: hold.holdId, token: hold.token, holder: hold.holder } },
    );
  }
  const ownerName = displayKey(owner.key);
  const actions = [`delete ${JSON.stringify(ownerName)} only if its create_revision is still ${owner.createRevision} (holder ${hold.holder})`];
  let leaseKeys: string[] | undefined;
  if (request.revokeLease && owner.lease !== 0n) {
    const lookup = await ctx.leases.lookup(owner.lease, true);
    leaseKeys = lookup.keys.map((k) => displayKey(k));
    actions.push(`revoke lease ${leaseHex(owner.lease)}, which deletes ${leaseKeys.length} key(s): ${leaseKeys.map((k) => JSON.stringify(k)).join(', ')}`);
  } else if (request.revokeLease) {
    leaseKeys = [];
    actions.push('no lease to revoke: the key has none');
  }
  if (lock!.waiters && lock!.waiters.length > 0) actions.push(`the next waiter (${lock!.waiters[0]!.holder}) then acquires on its own`);
  actions.push(`the old holder (${hold.holder}) is not told: it may still believe it holds the lock`);
  if (request.dryRun) return { released: false, lock: lock!, actions, ...(leaseKeys ? { leaseKeys } : {}) };

  const c = ctx.client();
  const res = await c.call('the guarded delete', (cl) =>
    cl.kv.txn({
      compare: [{ key: owner.key, target: 'Create', result: 'Equal', create_revision: owner.createRevision.toString() }],
      success: [{ request_delete_range: { key: owner.key } }],
      failure: [{ request_range: { key: owner.key } }],
    }),
  );
  if (!res.succeeded) {
    const current = res.responses[0]?.response_range?.kvs[0];
    throw new LockscopeError(
      'HOLDER_CHANGED',
      `${request.name} changed between the read and the delete (${current ? `key now has create_revision ${current.create_revision}` : 'the owner key is gone'}). Nothing was deleted.`,
      { details: { source, name: request.name } },
    );
  }
  if (request.revokeLease && owner.lease !== 0n) {
    await c
      .call(
        'revoking the lease',
        (cl) => cl.leaseClient.leaseRevoke({ ID: owner.lease.toString() }),
        (e) => /lease not found/i.test(errorText(e)),
      )
      .catch((error: unknown) => {
        if (!/lease not found/i.test(errorText(error))) throw error;
      });
  }
  return { released: true, lock: lock!, actions, ...(leaseKeys ? { leaseKeys } : {}) };
}
