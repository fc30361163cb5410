import { toHex, waitersObservable, type Dialect, type LiveLock } from '@lockscope/core';

/** One waiter as printed by ls --json / show. */
export interface WaiterRow {
  holder: string;
  token: string | null;
  /** Wall ms the contender appeared; null when unknown (seen only on a snapshot). */
  since: number | null;
  waitedMs: number | null;
}

/**
 * The `lockctl ls --json` element (DESIGN.md contract). Every field is always
 * present; what the backend cannot tell is null.
 */
export interface LockRow {
  source: string;
  name: string;
  /** Raw key bytes as hex: exact even when the name needed escaping. */
  keyHex: string;
  dialect: Dialect;
  held: boolean;
  holder: string | null;
  token: string | null;
  /** Wall ms the hold began, when known. */
  acquiredAt: number | null;
  heldMs: number | null;
  ttlMs: number | null;
  remainingMs: number | null;
  /** Share of the current lease used since the last grant or renewal. */
  leaseUsedRatio: number | null;
  /** Number of visible waiters; null when the dialect cannot show them. */
  waiters: number | null;
  waiterQueue: WaiterRow[] | null;
  /** Lease used above the configured ratio while held; null when the TTL or remaining time is unknown. */
  nearExpiry: boolean | null;
  observedAt: number;
}

export interface ToLockRowOptions {
  now: number;
  nearExpiryRatio: number;
}

/**
 * Turns a live snapshot into the printed contract. Remaining time is as the
 * backend reported it at observation; the lease used is (TTL − remaining) / TTL,
 * which is DESIGN's "time since the last grant or renewal over the TTL".
 */
export function toLockRow(lock: LiveLock, { now, nearExpiryRatio }: ToLockRowOptions): LockRow {
  const hold = lock.hold;
  const ttlMs = hold?.ttlMs ?? null;
  const remainingMs = hold?.remainingMs ?? null;
  let leaseUsedRatio: number | null = null;
  if (hold && ttlMs !== null && ttlMs > 0 && remainingMs !== null) {
    leaseUsedRatio = Math.min(1, Math.max(0, (ttlMs - remainingMs) / ttlMs));
  }
  let nearExpiry: boolean | null;
  if (!hold) nearExpiry = false;
  else if (ttlMs === null) nearExpiry = false; // no TTL: it cannot expire
  else nearExpiry = leaseUsedRatio === null ? null : leaseUsedRatio > nearExpiryRatio;

  // Neither etcd nor Redis records when a hold began (etcd keeps revisions, not
  // times), so a live snapshot cannot know; `show` adds it from the store.
  const acquiredAt: number | null = null;
  const waiterQueue =
    lock.waiters === null
      ? waitersObservable(lock.dialect) && hold
        ? []
        : null
      : lock.waiters.map((w) => ({
          holder: w.holder,
          token: w.token ?? null,
          since: w.since,
          waitedMs: w.since === null ? null : Math.max(0, now - w.since),
        }));
  return {
    source: lock.source,
    name: lock.name,
    keyHex: toHex(lock.key),
    dialect: lock.dialect,
    held: hold !== null,
    holder: hold?.holder ?? null,
    token: hold?.token ?? null,
    acquiredAt,
    heldMs: acquiredAt === null ? null : Math.max(0, now - acquiredAt),
    ttlMs,
    remainingMs,
    leaseUsedRatio,
    waiters: waiterQueue === null ? null : waiterQueue.length,
    waiterQueue,
    nearExpiry,
    observedAt: lock.at,
  };
}
