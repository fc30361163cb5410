/**
 * When a held lease counts as near expiry, aware of how its holder renews.
 *
 * Lease used = time since the last grant or renewal / TTL. A hold is near expiry when
 * the lease used is strictly above its near-expiry point:
 * - the configured ratio (default 0.8) while nothing is known of the holder's schedule;
 * - once the holder's usual renewal point u is known (u = lease used at its last
 *   renewal the source saw, or the default of a library recognised by its key and
 *   token), halfway between that renewal and expiry: max(ratio, u + (1 − u) / 2).
 * A holder that renews on its schedule is renewed before it gets there; one that misses
 * its renewal is flagged with at least min(1 − ratio, (1 − u) / 2) x TTL of the lease left.
 */

/** Lock libraries recognised by their key and token whose renewal schedule is in their source. */
export type RenewingLibrary = 'redis-semaphore' | 'redlock';

/**
 * The lease used at which a library renews by default.
 * redis-semaphore Mutex: refreshInterval = round(0.8 x lockTimeout).
 * redlock v5 using(): extends `automaticExtensionThreshold` (500 ms) before its own expiry
 * estimate, which is the duration less the drift allowance round(0.01 x duration) + 2 ms.
 */
export function libraryRenewalPoint(library: RenewingLibrary, ttlMs: number): number | null {
  if (!(ttlMs > 0)) return null;
  if (library === 'redis-semaphore') return 0.8;
  const drift = Math.round(0.01 * ttlMs) + 2;
  const point = (ttlMs - drift - 500) / ttlMs;
  // using() refuses durations under threshold + 100 ms; anything shorter is not its schedule.
  return point > 0 ? point : null;
}

/** The share of the lease after which a hold is near expiry (see the file comment). */
export function nearExpiryFraction(ratio: number, renewalPoint: number | null | undefined): number {
  if (renewalPoint == null || !Number.isFinite(renewalPoint) || renewalPoint <= 0 || renewalPoint >= 1) return ratio;
  return Math.max(ratio, renewalPoint + (1 - renewalPoint) / 2);
}

/**
 * The wall ms at which a grant at `lastRenewedAt` has passed the near-expiry point: the first
 * ms strictly above it where renewals are seen as they happen (Redis). Where they are not
 * (etcd keepalives), the grant itself is a whole-second lower bound read back from the lease
 * at each check, and the point is reached when that reading puts the lease at it: a strict
 * "+1 ms" there would move with every re-read of the same truncated value.
 */
export function nearExpiryDueAt(lastRenewedAt: number, ttlMs: number, fraction: number, renewalsSeen: boolean): number {
  const point = lastRenewedAt + fraction * ttlMs;
  return renewalsSeen ? Math.floor(point) + 1 : point;
}
