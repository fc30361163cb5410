import type { LockTracker } from '@lockscope/core';
import type { LockRow } from './types.js';

/**
 * A tracker's live Lock row, as the collector writes it (and the dashboard's scale bench,
 * which simulates the collector). Reads the tracker's state without a copy.
 */
export function lockRowOf(tracker: LockTracker, now: number): LockRow {
  const state = tracker.view;
  const hold = state.hold;
  return {
    id: tracker.lockId,
    source: state.source,
    name: state.name,
    rawKey: state.keyHex,
    dialect: state.dialect,
    held: hold !== null,
    holder: hold?.holder ?? null,
    token: hold?.token ?? null,
    acquiredAt: hold?.acquiredAt ?? null,
    lastRenewedAt: hold?.lastRenewedAt ?? null,
    ttlMs: hold?.ttlMs ?? null,
    expiresAt: tracker.expiresAt(),
    nearExpiryAt: hold?.nearExpiryAt ?? null,
    waiters: state.waiters?.length ?? 0,
    waiterQueue: state.waiters ? JSON.stringify(state.waiters) : null,
    holdId: hold?.holdId ?? null,
    trackerState: tracker.stateJson(),
    firstSeenAt: state.firstSeenAt,
    lastChangeAt: Math.min(state.lastChangeAt, now),
    acquisitions: state.acquisitions,
    expirations: state.expirations,
  };
}
