import type { Dialect } from '../observation.js';
import type { Hazard, HazardLockRef } from './hazard.js';

/** One ended hold, as far as the hygiene rules read it. */
export interface HoldFacts {
  heldMs: number;
  ttlMs: number | null;
  renewals: number;
  waitMs: number | null;
  token: string | null;
  endedAt: number;
}

/** A lock's recent history and what it is doing now. */
export interface LockHistory {
  ref: HazardLockRef;
  dialect: Dialect;
  holds: HoldFacts[];
  /** The current hold, if any. */
  current: { holder: string | null; token: string | null; acquiredAt: number; ttlMs: number | null } | null;
}

export interface HygieneOptions {
  now: number;
  /** Fewest ended holds before a rule that needs a distribution (p99, shares) speaks (default 20). */
  minHolds?: number;
}

/** Dialects where a fencing token exists (etcd revisions); Redis has none unless a counter is kept. */
function fencingAvailable(dialect: Dialect): boolean {
  return dialect === 'etcd-mutex' || dialect === 'etcd-lease-key';
}

function p99(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(0.99 * sorted.length) - 1)]!;
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function ms(n: number): string {
  if (n < 1_000) return `${Math.round(n)} ms`;
  if (n < 120_000) return `${(n / 1_000).toFixed(n < 10_000 ? 1 : 0)} s`;
  if (n < 7_200_000) return `${Math.round(n / 60_000)} min`;
  return `${(n / 3_600_000).toFixed(1)} h`;
}

/**
 * Hygiene hazards of one lock from its history: how it is used, not one incident.
 * `no_ttl`, `ttl_too_short`, `ttl_too_long`, `no_fencing`, `hot_lock`, `renewed_forever`.
 * The thresholds are in docs/hazards.md; each finding carries the figures it was judged on.
 */
export function hygieneHazards(lock: LockHistory, options: HygieneOptions): Hazard[] {
  const { ref, holds, current } = lock;
  const minHolds = options.minHolds ?? 20;
  const out: Hazard[] = [];
  const base = (kind: Hazard['kind'], severity: Hazard['severity'], detail: string, evidence: Record<string, unknown>, holders: string[] = []): Hazard => ({
    id: `${kind}|${ref.lockId}`,
    kind,
    severity,
    source: ref.source,
    lockId: ref.lockId,
    lockName: ref.name,
    since: holds.length > 0 ? Math.min(...holds.map((h) => h.endedAt)) : (current?.acquiredAt ?? options.now),
    until: null,
    holders,
    tokens: [],
    detail,
    evidence,
  });

  const withoutTtl = holds.filter((h) => h.ttlMs === null).length;
  if (withoutTtl > 0 || (current && current.ttlMs === null)) {
    out.push(
      base(
        'no_ttl',
        'warning',
        `${withoutTtl} of ${holds.length} recent holds${current && current.ttlMs === null ? ' and the current one' : ''} had no TTL: a holder that crashes keeps the lock until someone deletes it by hand.`,
        { holdsWithoutTtl: withoutTtl, holds: holds.length, currentWithoutTtl: current?.ttlMs === null },
        current?.ttlMs === null && current.holder ? [current.holder] : [],
      ),
    );
  }

  const unrenewed = holds.filter((h) => h.renewals === 0 && h.ttlMs !== null);
  const ttl = median(holds.filter((h) => h.ttlMs !== null).map((h) => h.ttlMs!));
  if (unrenewed.length >= minHolds && ttl !== null) {
    const p = p99(unrenewed.map((h) => h.heldMs))!;
    if (p > 0.8 * ttl) {
      out.push(
        base('ttl_too_short', 'warning', `Holds that are never renewed take up to ${ms(p)} (p99 of ${unrenewed.length}), more than 0.8 of their ${ms(ttl)} TTL: leases will lapse under working holders. Raise the TTL or renew.`, {
          p99HeldMs: p,
          ttlMs: ttl,
          holds: unrenewed.length,
        }),
      );
    }
  }

  const allHeld = holds.map((h) => h.heldMs);
  const p99Held = holds.length >= minHolds ? p99(allHeld) : null;
  if (p99Held !== null && ttl !== null && ttl >= 60_000 && ttl > 20 * Math.max(p99Held, 1)) {
    out.push(
      base('ttl_too_long', 'info', `The TTL (${ms(ttl)}) is more than 20 times the usual hold (p99 ${ms(p99Held)}): a holder that crashes blocks everyone for up to ${ms(ttl)}. A shorter TTL with renewal recovers sooner.`, {
        ttlMs: ttl,
        p99HeldMs: p99Held,
        holds: holds.length,
      }),
    );
  }

  if (holds.length > 0 && !fencingAvailable(lock.dialect) && holds.every((h) => h.token === null)) {
    out.push(
      base('no_fencing', 'info', `This ${lock.dialect} lock gives its holders no fencing token: a resource cannot tell a stale holder from the current one. Use a lock with tokens (etcd revisions, Redisson RFencedLock) for work that must not overlap.`, {
        dialect: lock.dialect,
        holds: holds.length,
      }),
    );
  }

  const observed = holds.filter((h) => h.waitMs !== null);
  if (observed.length >= minHolds) {
    const waited = observed.filter((h) => h.waitMs! > 0).length;
    if (waited / observed.length > 0.5) {
      out.push(
        base('hot_lock', 'warning', `${waited} of ${observed.length} acquisitions had to wait: the lock is too coarse for its traffic (split it, or hold it for less).`, {
          waited,
          acquisitions: observed.length,
          share: waited / observed.length,
        }),
      );
    }
  }

  if (current && current.ttlMs !== null && p99Held !== null) {
    const heldFor = options.now - current.acquiredAt;
    if (heldFor > 10 * current.ttlMs && heldFor > 10 * Math.max(p99Held, 1)) {
      out.push(
        base(
          'renewed_forever',
          'warning',
          `Held for ${ms(heldFor)} by renewals, more than 10 TTLs (${ms(current.ttlMs)}) and 10 times the usual hold (p99 ${ms(p99Held)}): an orphaned renewal loop, or a hung worker whose watchdog still runs.`,
          { heldMs: heldFor, ttlMs: current.ttlMs, p99HeldMs: p99Held },
          current.holder ? [current.holder] : [],
        ),
      );
    }
  }
  return out;
}
