import type { Hazard } from '@lockscope/core';
// Row shapes for the collector's write path and the read helpers. They mirror
// prisma/schema.prisma, with JS numbers for the epoch-ms BigInt columns (the
// store converts at the edge; epoch ms fit a double exactly until year 287396).
// Nullable columns are optional on input; columns with a default may be omitted.

export interface SourceRow {
  name: string;
  kind: string;
  connected?: boolean;
  lastError?: string | null;
  lastEventAt?: number | null;
  lastSeenAt?: number | null;
  ingestLagMs?: number | null;
  /** etcd revision as text, or null. */
  resumeRevision?: string | null;
  lockCount?: number;
  updatedAt: number;
}

export interface LockRow {
  id: string;
  source: string;
  name: string;
  /** Raw key bytes as lowercase hex. */
  rawKey: string;
  dialect: string;
  held?: boolean;
  holder?: string | null;
  token?: string | null;
  acquiredAt?: number | null;
  lastRenewedAt?: number | null;
  ttlMs?: number | null;
  expiresAt?: number | null;
  nearExpiryAt?: number | null;
  waiters?: number;
  /** JSON text. */
  waiterQueue?: string | null;
  holdId?: string | null;
  /** JSON text of the tracker's per-lock state, for resume. */
  trackerState?: string | null;
  firstSeenAt: number;
  lastChangeAt: number;
  acquisitions?: number;
  expirations?: number;
}

export interface HoldRow {
  lockId: string;
  /** Idempotency key, unique per lock. */
  holdKey: string;
  holder?: string | null;
  token?: string | null;
  acquiredAt: number;
  endedAt: number;
  heldMs: number;
  ttlMs?: number | null;
  waitMs?: number | null;
  renewals?: number;
  maxLeaseUsed?: number | null;
  nearExpiry?: boolean;
  endReason: string;
  approximate?: boolean;
}

export interface EventRow {
  lockId: string;
  source: string;
  at: number;
  type: string;
  holder?: string | null;
  token?: string | null;
  ttlMs?: number | null;
  valueMs?: number | null;
  revision?: string | null;
  detail?: string | null;
}

/** A hazard as the collector writes it: core's Hazard (lists and evidence stored as JSON text). */
export type HazardRow = Hazard;

export interface RollupRow {
  lockId: string;
  /** Start of the minute, epoch ms. */
  bucket: number;
  source: string;
  acquisitions?: number;
  waitedAcquisitions?: number;
  releases?: number;
  expirations?: number;
  nearExpiries?: number;
  waitersMax?: number;
  waitersSum?: number;
  waitersSamples?: number;
  /** Serialized DDSketch (protobuf) bytes. */
  acqLatencySketch?: Uint8Array | null;
  holdTimeSketch?: Uint8Array | null;
}

export interface WriteBatch {
  sources?: SourceRow[];
  locks?: LockRow[];
  holds?: HoldRow[];
  events?: EventRow[];
  /** Per-minute rollups (bucket = minute start). */
  rollups?: RollupRow[];
  /** Per-hour rollups (bucket = hour start): the same row shape, table RollupHour. */
  rollupHours?: RollupRow[];
  /** Hazards found or changed since the last flush (upserted by id). */
  hazards?: HazardRow[];
}

export interface WriteBatchResult {
  sources: number;
  locks: number;
  /** Holds actually inserted (duplicates on (lockId, holdKey) are skipped). */
  holdsInserted: number;
  events: number;
  rollups: number;
  rollupHours: number;
  hazards: number;
}

/** Stored rows as read back: every column present, nulls as null. */
export type StoredSource = Required<{ [K in keyof SourceRow]: Exclude<SourceRow[K], undefined> }>;
export type StoredLock = Required<{ [K in keyof LockRow]: Exclude<LockRow[K], undefined> }>;
export type StoredHold = Required<{ [K in keyof HoldRow]: Exclude<HoldRow[K], undefined> }> & { id: number };
export type StoredEvent = Required<{ [K in keyof EventRow]: Exclude<EventRow[K], undefined> }> & { id: number };
export type StoredRollup = Required<{ [K in keyof RollupRow]: Exclude<RollupRow[K], undefined> }>;

/** A lockctl action (force release) and its outcome. */
export interface AuditInput {
  at: number;
  actor: string;
  host: string;
  action: string;
  source: string;
  lockName: string;
  holder?: string | null;
  token?: string | null;
  reason: string;
  result: string;
  detail?: string | null;
  /** Dashboard role of the actor; absent for lockctl. */
  role?: string | null;
  /** What a non-lock action acted on ("alert 12", "token 3"). */
  target?: string | null;
}

export type StoredAudit = Required<{ [K in keyof AuditInput]: Exclude<AuditInput[K], undefined> }> & { id: number };

export interface ListAuditOptions {
  source?: string;
  lockName?: string;
  actor?: string;
  action?: string;
  /** Only records at or after this epoch ms. */
  since?: number;
  /** Newest first; default 100, max 1000. */
  limit?: number;
}

export interface PurgeResult {
  events: number;
  holds: number;
  hazards: number;
}
