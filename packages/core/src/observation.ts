import type { RenewingLibrary } from './near-expiry.js';

/**
 * What sources report. A source turns backend state into one LockObservation
 * per lock change: the whole visible state of that lock (hold and waiters) at
 * that moment, not a delta. The hold tracker diffs consecutive observations,
 * which makes duplicates harmless and resync after a reconnect trivial.
 */

/** How a lock stores its state; decides what can be observed. */
export type Dialect =
  /** Go concurrency.Mutex / Election, `etcdctl lock`: `<prefix>/<lease hex>`, lowest create_revision holds. */
  | 'etcd-mutex'
  /** One key held under a lease (npm etcd3 Lock, python-etcd3). No visible waiters. */
  | 'etcd-lease-key'
  /** Redis SET key token NX PX (redis-py, single-node redlock/redsync). No visible waiters. */
  | 'redis-string'
  /** Redisson RLock: HASH with field `<uuid>:<threadId>` = re-entry count. */
  | 'redisson'
  /** Redisson RFairLock: as redisson plus a visible FIFO queue of waiters. */
  | 'redisson-fair'
  /** redis-semaphore Semaphore / MultiSemaphore: ZSET `semaphore:<name>`, one member per permit held, scored by acquisition ms. Several holders. */
  | 'redis-semaphore'
  /** Redisson RPermitExpirableSemaphore: STRING `<name>` = permits available, ZSET `{<name>}:timeout` = permit ids by expiry. Several holders. */
  | 'redisson-semaphore'
  /** A key under the patterns whose layout no known library uses: listed with its Redis type, never dropped. */
  | 'unknown';

export const DIALECTS: readonly Dialect[] = ['etcd-mutex', 'etcd-lease-key', 'redis-string', 'redisson', 'redisson-fair', 'redis-semaphore', 'redisson-semaphore', 'unknown'];

/** Whether the dialect leaves a trace of waiters (and so of acquisition latency). */
export function waitersObservable(dialect: Dialect): boolean {
  return dialect === 'etcd-mutex' || dialect === 'redisson-fair';
}

export interface HoldObservation {
  /**
   * Identity of this hold; a different value means a different hold.
   * etcd-mutex: `<owner key hex>@<create_revision>`; etcd-lease-key: `@<create_revision>`;
   * redis-string: the value; redisson: the `<uuid>:<threadId>` field.
   */
  holdId: string;
  /** Who holds it, for display (lease id hex, token, uuid:thread). */
  holder: string;
  /** Fencing token where the dialect has one (etcd create_revision), else null. */
  token: string | null;
  /**
   * Granted TTL in ms; null when the hold has no TTL (e.g. redis-py default). In a live
   * snapshot (`LiveLock`) null beside a known remainingMs means the grant was not seen: unknown.
   */
  ttlMs: number | null;
  /** Remaining lease in ms at `at`, when the source knows it (PTTL, LeaseTimeToLive). */
  remainingMs: number | null;
  /** Wall ms of the last grant or renewal when the source saw it happen (Redis `expire`). */
  renewedAt?: number | null;
  /** etcd lease id (hex) behind the hold, for lease checks and revoke. */
  lease?: string | null;
  /** Semaphores: every holder (holdId and holder then describe the whole set). */
  holders?: string[] | null;
  /** Semaphores: permits in use, and in all when the backend keeps the limit (null: only the clients know it). */
  permits?: { used: number; total: number | null } | null;
  /** The lock library, when the key and token say so unambiguously (decides the default renewal schedule). */
  renewedBy?: RenewingLibrary | null;
  /** Which waiter id this hold was, when it was one (etcd-mutex: same as holdId). */
  waiterId?: string | null;
}

export interface WaiterObservation {
  /** Stable id of the contender within the lock. */
  id: string;
  holder: string;
  /** Wall ms when the contender appeared; null when unknown (seen only on resync). */
  since: number | null;
  token?: string | null;
  /** Redisson fair lock: the waiter's deadline (wall ms, score in redisson_lock_timeout). */
  deadline?: number | null;
}

export type EndCause = 'released' | 'expired' | 'force_released' | 'unknown';

export interface LockObservation {
  source: string;
  /** Raw key bytes of the lock (etcd-mutex: the prefix, without trailing slash). */
  key: Uint8Array;
  dialect: Dialect;
  /** Wall-clock ms when the change happened or was observed. */
  at: number;
  /**
   * Ordering within one source: etcd revision, or the source's own counter.
   * An observation whose seq is not greater than the last applied one for the
   * same lock is a duplicate or arrived out of order and is ignored.
   */
  seq: bigint;
  /** Current hold, or null when the lock is free. */
  hold: HoldObservation | null;
  /** Visible waiters in queue order; null when the dialect cannot show them. */
  waiters: WaiterObservation[] | null;
  /** When this observation ends the previous hold: why, as far as the source knows. */
  endCause?: EndCause;
  /** etcd revision of the change, for the event log. */
  revision?: string;
  /** Replayed after a restart or resync: the times are those of observation. */
  replayed?: boolean;
}

/** A live lock as listed by a source for `lockctl ls` (no store needed). */
export interface LiveLock {
  source: string;
  key: Uint8Array;
  name: string;
  dialect: Dialect;
  hold: HoldObservation | null;
  waiters: WaiterObservation[] | null;
  /** Observed at (wall ms). */
  at: number;
}
