import { displayKey, fromHex, type Dialect, type HoldState, type LockTracker, type LockTrackerState, type WaiterObservation } from '@lockscope/core';
import type { LockRow, StoredLock } from './types.js';

/**
 * What Lock.trackerState keeps: the tracker state that the row's own columns do not
 * hold exactly (the applied seq; the current hold and the last change time, which
 * columns truncate to whole ms or escape). The rest (source, key, dialect, waiters,
 * counters, first sighting) is read back from the columns and the name from the key. The collector rewrites the
 * live row on every change of a busy lock, so repeating the whole state in it
 * doubled what each write carried to the store thread and into SQLite.
 */
interface PersistedTrackerState {
  v: 2;
  lastSeq: string;
  hold: HoldState | null;
  lastChangeAt: number;
}

/**
 * A tracker's live Lock row, as the collector writes it (and the dashboard's scale bench,
 * which simulates the collector). Reads the tracker's state without a copy.
 */
export function lockRowOf(tracker: LockTracker, now: number): LockRow {
  const state = tracker.view;
  const hold = state.hold;
  const persisted: PersistedTrackerState = { v: 2, lastSeq: state.lastSeq, hold, lastChangeAt: state.lastChangeAt };
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
    trackerState: JSON.stringify(persisted),
    firstSeenAt: state.firstSeenAt,
    lastChangeAt: Math.min(state.lastChangeAt, now),
    acquisitions: state.acquisitions,
    expirations: state.expirations,
  };
}

/**
 * The tracker state a stored Lock row was written from, for the collector to resume
 * with; null when the row has none. Rows written before the state was slimmed carry
 * the whole state in trackerState and are read as they are. Throws on unreadable
 * JSON; LockTracker.restore checks the shape.
 */
export function trackerStateOfRow(row: StoredLock): LockTrackerState | null {
  if (!row.trackerState) return null;
  const saved = JSON.parse(row.trackerState) as PersistedTrackerState | LockTrackerState;
  if (!('v' in saved) || saved.v !== 2) return saved as LockTrackerState;
  return {
    source: row.source,
    keyHex: row.rawKey,
    // The name column escapes U+0000 (PostgreSQL text cannot hold it); the key says exactly.
    name: displayKey(fromHex(row.rawKey)),
    dialect: row.dialect as Dialect,
    lastSeq: saved.lastSeq,
    hold: saved.hold,
    waiters: row.waiterQueue === null ? null : (JSON.parse(row.waiterQueue) as WaiterObservation[]),
    firstSeenAt: row.firstSeenAt,
    lastChangeAt: saved.lastChangeAt,
    acquisitions: row.acquisitions,
    expirations: row.expirations,
  };
}
