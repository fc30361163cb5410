import { LockscopeError } from '@lockscope/core';
import { checkRange } from './lock-range.js';
import { badRequest, ms, readStore, type QueryDb } from './query-db.js';

export interface HoldView {
  holder: string | null;
  token: string | null;
  acquiredAt: number;
  /** Null for the current, still open hold. */
  endedAt: number | null;
  heldMs: number;
  ttlMs: number | null;
  /** Acquisition latency of this hold; null when not observable. */
  waitMs: number | null;
  renewals: number | null;
  maxLeaseUsed: number | null;
  nearExpiry: boolean;
  /** released | expired | force_released | superseded | unknown, or "held" for the current hold. */
  endReason: string;
  approximate: boolean;
  current: boolean;
}

export interface LockHoldsOptions {
  db: QueryDb;
  id: string;
  from: number;
  to: number;
  now?: number;
  limit?: number | undefined;
}

export interface LockHolds {
  lockId: string;
  from: number;
  to: number;
  /** Holds overlapping [from, to) in acquisition order, the current hold last. */
  holds: HoldView[];
  /** True when more completed holds overlap the range than `limit`; the latest are kept. */
  truncated: boolean;
}

export const MAX_HOLDS = 5_000;

export async function getLockHolds({ db, id, from, to, now = Date.now(), limit = 2_000 }: LockHoldsOptions): Promise<LockHolds> {
  checkRange({ from, to });
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_HOLDS) throw badRequest(`limit must be an integer from 1 to ${MAX_HOLDS}`);
  const [lock, rows] = await readStore('lock holds', () =>
    Promise.all([
      db.lock.findUnique({ where: { id } }),
      // endedAt is indexed with lockId; a hold overlaps the range when it ended after `from` and began before `to`.
      db.hold.findMany({
        where: { lockId: id, endedAt: { gte: BigInt(from) }, acquiredAt: { lt: BigInt(to) } },
        orderBy: { endedAt: 'desc' },
        take: limit + 1,
      }),
    ]),
  );
  if (!lock) throw new LockscopeError('LOCK_NOT_FOUND', `no lock with id "${id}" in the store`, { details: { id } });
  const truncated = rows.length > limit;
  const holds: HoldView[] = rows
    .slice(0, limit)
    .reverse()
    .map((h) => ({
      holder: h.holder,
      token: h.token,
      acquiredAt: ms(h.acquiredAt),
      endedAt: ms(h.endedAt),
      heldMs: h.heldMs,
      ttlMs: h.ttlMs,
      waitMs: h.waitMs,
      renewals: h.renewals,
      maxLeaseUsed: h.maxLeaseUsed,
      nearExpiry: h.nearExpiry,
      endReason: h.endReason,
      approximate: h.approximate,
      current: false,
    }));
  holds.sort((a, b) => a.acquiredAt - b.acquiredAt);
  const acquiredAt = ms(lock.acquiredAt);
  if (lock.held && acquiredAt !== null && acquiredAt < to) {
    const leaseStart = ms(lock.lastRenewedAt) ?? acquiredAt;
    const nearExpiryAt = ms(lock.nearExpiryAt);
    holds.push({
      holder: lock.holder,
      token: lock.token,
      acquiredAt,
      endedAt: null,
      heldMs: Math.max(0, now - acquiredAt),
      ttlMs: lock.ttlMs,
      waitMs: null,
      renewals: null,
      maxLeaseUsed: lock.ttlMs ? Math.max(0, (now - leaseStart) / lock.ttlMs) : null,
      nearExpiry: nearExpiryAt !== null && nearExpiryAt <= now,
      endReason: 'held',
      approximate: false,
      current: true,
    });
  }
  return { lockId: id, from, to, holds, truncated };
}
