/** The default near-expiry threshold: 80 % of the lease used (remaining below 20 %). */
export const DEFAULT_NEAR_EXPIRY_RATIO = 0.8;

/**
 * How much of the current lease is used: time since the last grant or renewal
 * over the TTL. Null when the hold has no TTL (it cannot expire). A wall clock
 * that stepped backwards gives 0, never a negative share.
 */
export function leaseUsedRatio(ttlMs: number | null, lastRenewedAt: number, now: number): number | null {
  if (ttlMs === null || !Number.isFinite(ttlMs) || ttlMs <= 0) return null;
  return Math.max(0, now - lastRenewedAt) / ttlMs;
}

/**
 * A held lock is near expiry once the time since its last grant or renewal
 * exceeds `ratio` x TTL. A renewal moves `lastRenewedAt`, so holds that keep
 * renewing never qualify however long they are held.
 */
export function isNearExpiry(
  ttlMs: number | null,
  lastRenewedAt: number,
  now: number,
  ratio: number = DEFAULT_NEAR_EXPIRY_RATIO,
): boolean {
  const used = leaseUsedRatio(ttlMs, lastRenewedAt, now);
  return used !== null && used > ratio;
}

/** The wall time at which a grant crosses `ratio` x TTL; null without a TTL. */
export function nearExpiryPoint(
  ttlMs: number | null,
  lastRenewedAt: number,
  ratio: number = DEFAULT_NEAR_EXPIRY_RATIO,
): number | null {
  if (ttlMs === null || !Number.isFinite(ttlMs) || ttlMs <= 0) return null;
  return lastRenewedAt + ratio * ttlMs;
}
