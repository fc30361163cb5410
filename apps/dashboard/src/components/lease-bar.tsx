/**
 * Lease used: time since the last grant or renewal over the TTL. The mark is
 * the near-expiry ratio (0.8 by default); a renewing lock resets with each renewal.
 */
export function LeaseBar({ ratio, nearExpiryRatio = 0.8, nearExpiry }: { ratio: number | null; nearExpiryRatio?: number; nearExpiry: boolean }) {
  if (ratio === null) return <span className="muted" title="no TTL, or the lock is free">—</span>;
  const pct = Math.min(ratio, 1) * 100;
  const tone = ratio >= 1 ? 'bad' : nearExpiry || ratio >= nearExpiryRatio ? 'warn' : '';
  return (
    <span className="lease" role="meter" aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(ratio * 100)} aria-label="lease used">
      <span className="track">
        <span className={`fill ${tone}`} style={{ width: `${pct}%` }} />
        <span className="mark" style={{ left: `${nearExpiryRatio * 100}%` }} title={`${nearExpiryRatio} × TTL`} />
      </span>
      <span className="pct">{Math.round(ratio * 100)}%</span>
    </span>
  );
}
