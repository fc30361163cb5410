/** Lifecycle events the hold tracker emits and the store appends. */
export type LockEventType =
  | 'acquired'
  | 'renewed'
  | 'released'
  | 'expired'
  | 'force_released'
  | 'ended_unknown'
  | 'waiter_added'
  | 'waiter_left'
  | 'near_expiry'
  | 'ttl_changed';

export interface LockEvent {
  type: LockEventType;
  /** Wall ms. */
  at: number;
  holder: string | null;
  token: string | null;
  ttlMs: number | null;
  /** Type-specific duration: waitMs for acquired, heldMs for ends, elapsed since renewal for near_expiry. */
  valueMs: number | null;
  revision?: string | null;
  detail?: Record<string, unknown>;
}

export type HoldEndReason = 'released' | 'expired' | 'force_released' | 'unknown';

/** A hold that has ended, as written to the store. */
export interface CompletedHold {
  holdKey: string;
  holder: string | null;
  token: string | null;
  acquiredAt: number;
  endedAt: number;
  heldMs: number;
  ttlMs: number | null;
  /** Acquisition latency when the holder was seen waiting first; null when not observable. */
  waitMs: number | null;
  renewals: number;
  maxLeaseUsed: number | null;
  nearExpiry: boolean;
  endReason: HoldEndReason;
  approximate: boolean;
}
