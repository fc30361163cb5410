import { fromHex, toHex, waitersObservable, type Dialect, type LiveLock, type WaiterObservation } from '@lockscope/core';
import type { StoredLock } from '@lockscope/store';

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

/** What the store knows of a lock: the collector's live row (only the fields used here). */
export type StoredLockFacts = Pick<
  StoredLock,
  'source' | 'name' | 'rawKey' | 'dialect' | 'held' | 'holdId' | 'holder' | 'token' | 'acquiredAt' | 'lastRenewedAt' | 'ttlMs' | 'waiterQueue' | 'lastChangeAt'
>;

export interface ToLockRowOptions {
  nearExpiryRatio: number;
  /**
   * The store's live row for this lock, when the store could be read. It is used only
   * where it describes the same hold (same holdId) and the same waiters (same ids).
   */
  stored?: StoredLockFacts | null | undefined;
}

/**
 * etcd's LeaseTimeToLive answers in whole seconds, rounded down: a reading of r means
 * between r and r + 1 s remain. Redis PTTL is exact to the millisecond.
 */
const ETCD_REMAINING_STEP_MS = 1000;

function wholeSecondRemaining(dialect: Dialect): boolean {
  return dialect === 'etcd-mutex' || dialect === 'etcd-lease-key';
}

/**
 * Remaining lease at observation. etcd's reading r says between r and r + 1 s remain. The
 * store's last known grant is itself a whole-second lower bound (the collector reads the
 * same truncated TTL), so it says the grant lies within 1 s after it. Where the two agree,
 * the latest grant both allow is taken: exact for a lease nobody renewed since the collector
 * saw it granted, and never more used than the truth. Where they do not agree (a keepalive
 * since), the middle of the reading's second is the estimate (off by 0.5 s at most).
 * Reading the truncated value as exact made a 3 s lease look 67 % used one second in.
 */
function estimateRemaining(lock: LiveLock, ttlMs: number | null, lastRenewedAt: number | null): number | null {
  const read = lock.hold?.remainingMs ?? null;
  if (read === null || !wholeSecondRemaining(lock.dialect)) return read;
  const readHigh = read + ETCD_REMAINING_STEP_MS - 1;
  if (ttlMs !== null && lastRenewedAt !== null) {
    const storedLow = ttlMs - (lock.at - lastRenewedAt);
    const storedHigh = storedLow + ETCD_REMAINING_STEP_MS;
    if (storedHigh >= read && storedLow <= readHigh) return Math.max(0, Math.round(Math.min(storedHigh, readHigh)));
  }
  const middle = read + ETCD_REMAINING_STEP_MS / 2;
  return ttlMs === null ? middle : Math.min(ttlMs, middle);
}

function storedWaiters(stored: StoredLockFacts | null | undefined): Map<string, WaiterObservation> {
  if (!stored?.waiterQueue) return new Map();
  try {
    const parsed = JSON.parse(stored.waiterQueue) as unknown;
    if (!Array.isArray(parsed)) return new Map();
    return new Map(
      (parsed as Partial<WaiterObservation>[])
        .filter((w): w is WaiterObservation => typeof w?.id === 'string' && (typeof w.since === 'number' || w.since === null))
        .map((w) => [w.id, w]),
    );
  } catch {
    // A row written by another version; the live read still stands without it.
    return new Map();
  }
}

/**
 * Turns a live snapshot, and what the store knows of the same hold, into the printed
 * contract. The backends say who holds and what remains; only the collector saw when
 * the hold began, what TTL was granted (Redis PTTL is what remains, not what was
 * granted) and when each waiter arrived. The lease used is (TTL − remaining) / TTL,
 * DESIGN's "time since the last grant or renewal over the TTL".
 */
export function toLockRow(lock: LiveLock, { nearExpiryRatio, stored }: ToLockRowOptions): LockRow {
  const hold = lock.hold;
  // Every duration is as of the backend read, like the remaining time it sits beside.
  const at = lock.at;
  const same = hold && stored?.held && stored.holdId === hold.holdId ? stored : null;
  const live = hold?.remainingMs ?? null;
  // A live TTL with no remaining time means no TTL at all (PERSISTed key, lease 0).
  const ttlMs = hold ? (hold.ttlMs ?? (live !== null ? (same?.ttlMs ?? null) : null)) : null;
  const remainingMs = hold ? estimateRemaining(lock, ttlMs, same?.lastRenewedAt ?? null) : null;
  let leaseUsedRatio: number | null = null;
  if (hold && ttlMs !== null && ttlMs > 0 && remainingMs !== null) {
    leaseUsedRatio = Math.min(1, Math.max(0, (ttlMs - remainingMs) / ttlMs));
  }
  let nearExpiry: boolean | null;
  if (!hold) nearExpiry = false;
  else if (ttlMs === null && live === null) nearExpiry = false; // no TTL: it cannot expire
  else nearExpiry = leaseUsedRatio === null ? null : leaseUsedRatio > nearExpiryRatio;

  // Neither etcd nor Redis records when a hold began (etcd keeps revisions, not times).
  const acquiredAt = same?.acquiredAt ?? null;
  const known = storedWaiters(stored);
  const waiterQueue =
    lock.waiters === null
      ? waitersObservable(lock.dialect) && hold
        ? []
        : null
      : lock.waiters.map((w) => {
          const since = w.since ?? known.get(w.id)?.since ?? null;
          return { holder: w.holder, token: w.token ?? null, since, waitedMs: since === null ? null : Math.max(0, at - since) };
        });
  return {
    source: lock.source,
    name: lock.name,
    keyHex: toHex(lock.key),
    dialect: lock.dialect,
    held: hold !== null,
    holder: hold?.holder ?? null,
    token: hold?.token ?? null,
    acquiredAt,
    heldMs: acquiredAt === null ? null : Math.max(0, at - acquiredAt),
    ttlMs,
    remainingMs,
    leaseUsedRatio,
    waiters: waiterQueue === null ? null : waiterQueue.length,
    waiterQueue,
    nearExpiry,
    observedAt: lock.at,
  };
}

/**
 * A lock the store knows that the backend does not list now: free (its key is gone).
 * Only for sources that answered; an unreachable source's locks are not known to be free.
 */
export function freeLockRow(stored: StoredLockFacts, { now }: { now: number }): LockRow {
  const dialect = stored.dialect as Dialect;
  return toLockRow(
    { source: stored.source, key: fromHex(stored.rawKey), name: stored.name, dialect, hold: null, waiters: waitersObservable(dialect) ? [] : null, at: now },
    { nearExpiryRatio: 1 },
  );
}
