import { waitersObservable, type Dialect } from '@lockscope/core';
import type { Lock } from '../generated/postgresql/client/client.js';
import { ms } from './query-db.js';

/** One lock as the API shows it. Unknown values are null, never 0. */
export interface LockSummary {
  id: string;
  source: string;
  name: string;
  /** Raw key bytes, lowercase hex (the identity; shown on demand for binary names). */
  rawKey: string;
  dialect: string;
  held: boolean;
  holder: string | null;
  token: string | null;
  acquiredAt: number | null;
  heldMs: number | null;
  ttlMs: number | null;
  lastRenewedAt: number | null;
  expiresAt: number | null;
  remainingMs: number | null;
  /** Time since the last grant or renewal over the TTL; null without a TTL or when free. */
  leaseUsedRatio: number | null;
  nearExpiry: boolean;
  nearExpiryAt: number | null;
  /** Live waiters; null when the dialect leaves no trace of them. */
  waiters: number | null;
  waitersObservable: boolean;
  firstSeenAt: number;
  lastChangeAt: number;
  acquisitions: number;
  expirations: number;
}

export function dialectShowsWaiters(dialect: string): boolean {
  return waitersObservable(dialect as Dialect);
}

export function toLockSummary(row: Lock, now: number): LockSummary {
  const held = row.held;
  const acquiredAt = ms(row.acquiredAt);
  const lastRenewedAt = ms(row.lastRenewedAt);
  const expiresAt = ms(row.expiresAt);
  const nearExpiryAt = ms(row.nearExpiryAt);
  const ttlMs = row.ttlMs;
  const leaseStart = lastRenewedAt ?? acquiredAt;
  const observable = dialectShowsWaiters(row.dialect);
  return {
    id: row.id,
    source: row.source,
    name: row.name,
    rawKey: row.rawKey,
    dialect: row.dialect,
    held,
    holder: held ? row.holder : null,
    token: held ? row.token : null,
    acquiredAt: held ? acquiredAt : null,
    heldMs: held && acquiredAt !== null ? Math.max(0, now - acquiredAt) : null,
    ttlMs: held ? ttlMs : null,
    lastRenewedAt: held ? lastRenewedAt : null,
    expiresAt: held ? expiresAt : null,
    remainingMs: held && expiresAt !== null ? Math.max(0, expiresAt - now) : null,
    leaseUsedRatio: held && ttlMs !== null && ttlMs > 0 && leaseStart !== null ? Math.max(0, (now - leaseStart) / ttlMs) : null,
    nearExpiry: held && nearExpiryAt !== null && nearExpiryAt <= now,
    nearExpiryAt: held ? nearExpiryAt : null,
    waiters: observable ? row.waiters : null,
    waitersObservable: observable,
    firstSeenAt: ms(row.firstSeenAt),
    lastChangeAt: ms(row.lastChangeAt),
    acquisitions: row.acquisitions,
    expirations: row.expirations,
  };
}
