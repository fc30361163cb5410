import { LockscopeError } from './errors.js';
import type { CompletedHold, HoldEndReason, LockEvent, LockEventType } from './events.js';
import { DEFAULT_NEAR_EXPIRY_RATIO, leaseUsedRatio } from './lease.js';
import { libraryRenewalPoint, nearExpiryDueAt, nearExpiryFraction, type RenewingLibrary } from './near-expiry.js';
import { displayKey, fromHex, lockId, toHex } from './lock-identity.js';
import { DIALECTS, waitersObservable, type Dialect, type LockObservation, type WaiterObservation } from './observation.js';

export interface TrackerOptions {
  nearExpiryRatio: number;
  /** How far before the predicted expiry an "expired" end still counts as a lapse rather than a revoke (default 1500 ms). */
  expiryToleranceMs?: number;
  /**
   * How much later than the last known grant a grant implied by a remaining TTL must be to count as a
   * renewal (default 1000 ms). etcd reports remaining TTL in whole seconds, truncated, so an implied
   * grant can be up to 1 s early without any renewal having happened.
   */
  renewalToleranceMs?: number;
}

export interface HoldState {
  holdId: string;
  holder: string;
  token: string | null;
  acquiredAt: number;
  /** Wall ms of the last known grant or renewal of the lease. */
  lastRenewedAt: number;
  ttlMs: number | null;
  /** Renewals seen. A lower bound where keepalives are invisible (etcd): only those a lease check revealed. */
  renewals: number;
  waitMs: number | null;
  maxLeaseUsed: number | null;
  nearExpiryFiredForGrant: boolean;
  /** When near_expiry last fired for this hold (any grant); null if it never did. */
  nearExpiryAt: number | null;
  lease: string | null;
  approximate: boolean;
  /**
   * The remainingMs of the last observation of this hold. A source may repeat the reading it
   * took when it first saw the hold on later observations (a waiter arriving, say); read
   * against the later `at` it would look like a renewal, so a repeated value is not evidence.
   */
  remainingSeen?: number | null;
  /** Lease used at the holder's last renewal the source saw: its schedule (near-expiry.ts). */
  renewalUsed?: number | null;
  /** The holder's library, when its key and token tell (its default schedule until a renewal is seen). */
  renewedBy?: RenewingLibrary | null;
}

/** JSON-safe snapshot, persisted as Lock.trackerState. */
export interface LockTrackerState {
  source: string;
  keyHex: string;
  name: string;
  dialect: Dialect;
  /** Last applied seq as a decimal string ("-1" before the first observation). */
  lastSeq: string;
  hold: HoldState | null;
  waiters: WaiterObservation[] | null;
  firstSeenAt: number;
  lastChangeAt: number;
  acquisitions: number;
  expirations: number;
}

export interface ApplyResult {
  events: LockEvent[];
  completed: CompletedHold | null;
  acquired: { waitMs: number | null } | null;
  /** Whether anything worth persisting changed (the live lock row, events). */
  changed: boolean;
}

/** Live lease facts at a checkpoint (the sources' LeaseCheck). */
export interface CheckpointLease {
  exists: boolean;
  remainingMs: number | null;
  ttlMs: number | null;
}

const DEFAULT_EXPIRY_TOLERANCE_MS = 1500;
// etcd reports remaining TTL in whole seconds (truncated): an implied grant more than 1 s after the
// last known one proves a renewal happened.
const DEFAULT_RENEWAL_TOLERANCE_MS = 1000;

const END_EVENT: Record<HoldEndReason, LockEventType> = {
  released: 'released',
  expired: 'expired',
  force_released: 'force_released',
  unknown: 'ended_unknown',
};

/**
 * Whether every renewal of a hold is visible to the source as it happens (Redis `expire`
 * notifications). etcd keepalives never show in the key space, so there the time since the
 * last known grant is only an upper bound of the lease used.
 */
export function renewalsVisible(dialect: Dialect): boolean {
  return dialect === 'redis-string' || dialect === 'redisson' || dialect === 'redisson-fair';
}

/**
 * The per-lock hold state machine. Sources report whole-lock snapshots; the tracker diffs
 * consecutive ones into lifecycle events and completed holds. It does no I/O and reads no
 * clock: every time comes from the observation or the caller, so it is replayable and testable.
 */
export class LockTracker {
  readonly lockId: string;
  private s: LockTrackerState;
  /** s.lastSeq as a bigint, and the raw key: compared on every observation. */
  private lastSeq: bigint;
  private readonly keyBytes: Buffer;
  /** See currentFingerprint(); null when not known. */
  private lastFingerprint: unknown[] | null = null;
  private readonly ratio: number;
  private readonly expiryTolerance: number;
  private readonly renewalTolerance: number;
  /**
   * The hold restored from the store that this process has not seen yet. If a change
   * replaces it without saying how it ended (a Redis source in a new process hears the next
   * holder's `set`, not the restored holder's `del`), that end happened unobserved: unknown.
   */
  private unconfirmedHoldId: string | null = null;

  private constructor(state: LockTrackerState, options: TrackerOptions) {
    const ratio = options.nearExpiryRatio ?? DEFAULT_NEAR_EXPIRY_RATIO;
    if (!(ratio > 0 && ratio < 1)) {
      throw new LockscopeError('BAD_CONFIG', `nearExpiryRatio must be between 0 and 1 (exclusive), got ${ratio}.`);
    }
    this.ratio = ratio;
    this.expiryTolerance = Math.max(0, options.expiryToleranceMs ?? DEFAULT_EXPIRY_TOLERANCE_MS);
    this.renewalTolerance = Math.max(0, options.renewalToleranceMs ?? DEFAULT_RENEWAL_TOLERANCE_MS);
    this.s = state;
    this.keyBytes = Buffer.from(fromHex(state.keyHex));
    this.lockId = lockId(state.source, this.keyBytes);
    this.lastSeq = BigInt(state.lastSeq);
  }

  static create(init: { source: string; key: Uint8Array; dialect: Dialect; at: number }, options: TrackerOptions): LockTracker {
    return new LockTracker(
      {
        source: init.source,
        keyHex: toHex(init.key),
        name: displayKey(init.key),
        dialect: init.dialect,
        lastSeq: '-1',
        hold: null,
        waiters: null,
        firstSeenAt: init.at,
        lastChangeAt: init.at,
        acquisitions: 0,
        expirations: 0,
      },
      options,
    );
  }

  /**
   * A tracker from a persisted state. Its last seq is forgotten: seqs order observations within
   * one process's stream (a Redis source counts from 1 in every process), so a number saved by
   * an earlier process says nothing about a new one's, and comparing them discarded every
   * change until the new counter caught up. What a restart may replay is already safe: etcd
   * resumes after the revision committed with these rows, and replaying an unchanged state
   * changes nothing.
   */
  static restore(state: LockTrackerState, options: TrackerOptions): LockTracker {
    validateState(state);
    const tracker = new LockTracker({ ...structuredClone(state), lastSeq: '-1' }, options);
    tracker.unconfirmedHoldId = state.hold?.holdId ?? null;
    return tracker;
  }

  state(): LockTrackerState {
    return structuredClone(this.s);
  }

  /** The live state, read-only and without a copy (for building a row; do not keep it). */
  get view(): Readonly<LockTrackerState> {
    return this.s;
  }

  // Cheap read-only views for hot paths: state() deep-copies.
  get source(): string {
    return this.s.source;
  }

  get keyHex(): string {
    return this.s.keyHex;
  }

  get name(): string {
    return this.s.name;
  }

  get dialect(): Dialect {
    return this.s.dialect;
  }

  /** The current hold, read-only (null when free). */
  get hold(): Readonly<HoldState> | null {
    return this.s.hold;
  }

  get waiters(): readonly WaiterObservation[] | null {
    return this.s.waiters;
  }

  apply(obs: LockObservation): ApplyResult {
    if (obs.source !== this.s.source || !this.keyBytes.equals(obs.key)) {
      throw new LockscopeError('INTERNAL', `An observation of ${obs.source}/${displayKey(obs.key)} was routed to the tracker of ${this.s.source}/${this.s.name}.`);
    }
    if (obs.seq <= this.lastSeq) return unchanged();
    // A hold that begins or ends always produces events, which say "changed" without a
    // fingerprint: the common case under churn skips building one.
    const holdChanges = (this.s.hold?.holdId ?? null) !== (obs.hold?.holdId ?? null);
    const before = holdChanges ? NO_FINGERPRINT : this.currentFingerprint();
    this.lastSeq = obs.seq;
    this.s.lastSeq = obs.seq.toString();
    this.s.dialect = obs.dialect;

    const at = obs.at;
    const events: LockEvent[] = [];
    let completed: CompletedHold | null = null;
    let acquired: { waitMs: number | null } | null = null;
    const rev = obs.revision ?? null;
    const prev = this.s.hold;
    const next = obs.hold;

    const unconfirmed = prev !== null && prev.holdId === this.unconfirmedHoldId;
    this.unconfirmedHoldId = null;
    if (prev && (!next || next.holdId !== prev.holdId)) {
      // A resync that finds another holder (or none), or a new process hearing of the next
      // holder first, did not see the hold end: how it ended is unknown.
      const reported = obs.endCause ?? (obs.replayed || unconfirmed ? 'unknown' : 'released');
      let reason: HoldEndReason = reported;
      const expiresAt = this.expiresAt();
      const detail: Record<string, unknown> = { holdId: prev.holdId };
      if (reported === 'expired' && expiresAt !== null && at < expiresAt - this.expiryTolerance) {
        // The lease vanished well before it could have lapsed: revoked (or deleted), not expired.
        reason = 'released';
        detail.reportedCause = 'expired';
        detail.revoked = true;
      }
      // Redis reports lapses late (lazy/sampled expiry); when every renewal is visible the
      // predicted expiry is the better end time.
      const endedAt =
        reason === 'expired' && expiresAt !== null && expiresAt < at && renewalsVisible(obs.dialect) ? Math.max(expiresAt, prev.acquiredAt) : at;
      if (obs.replayed || reason === 'unknown') prev.approximate = true;
      const ended = this.finishHold(endedAt, reason, rev, detail);
      events.push(ended.event);
      completed = ended.completed;
    }

    if (next && (!prev || next.holdId !== prev.holdId)) {
      const waitMs = this.waitFor(next.waiterId ?? next.holdId, at, obs.replayed === true);
      let lastRenewedAt = at;
      if (next.renewedAt != null) lastRenewedAt = next.renewedAt;
      else if (next.remainingMs != null && next.ttlMs != null) lastRenewedAt = Math.min(at, at - (next.ttlMs - Math.max(0, next.remainingMs)));
      const hold: HoldState = {
        holdId: next.holdId,
        holder: next.holder,
        token: next.token,
        acquiredAt: at,
        lastRenewedAt,
        ttlMs: next.ttlMs,
        renewals: 0,
        waitMs,
        maxLeaseUsed: null,
        nearExpiryFiredForGrant: false,
        nearExpiryAt: null,
        lease: next.lease ?? null,
        approximate: obs.replayed === true,
        remainingSeen: next.remainingMs ?? null,
        renewedBy: next.renewedBy ?? null,
      };
      this.s.hold = hold;
      this.s.acquisitions += 1;
      this.noteLeaseUsed(next.remainingMs != null || renewalsVisible(obs.dialect) ? leaseUsedAt(hold, at, next.remainingMs) : null);
      acquired = { waitMs };
      events.push({
        type: 'acquired',
        at,
        holder: hold.holder,
        token: hold.token,
        ttlMs: hold.ttlMs,
        valueMs: waitMs,
        revision: rev,
        detail: { holdId: hold.holdId, ...(hold.approximate ? { approximate: true } : {}) },
      });
    } else if (next && prev) {
      prev.holder = next.holder;
      prev.token = next.token;
      if (next.lease !== undefined) prev.lease = next.lease;
      if (ttlDiffers(prev.ttlMs, next.ttlMs)) events.push(this.ttlChanged(at, next.ttlMs, rev));
      let renewed = false;
      if (next.renewedAt != null && next.renewedAt > prev.lastRenewedAt) {
        events.push(this.renew(at, next.renewedAt, false, rev));
        renewed = true;
      }
      const remaining = next.remainingMs != null && next.remainingMs !== prev.remainingSeen ? next.remainingMs : null;
      if (next.remainingMs != null) prev.remainingSeen = next.remainingMs;
      if (!renewed) {
        const implied = this.applyRemaining(at, remaining, rev);
        if (implied) events.push(implied);
      }
      if (remaining !== null || renewalsVisible(obs.dialect)) this.noteLeaseUsed(leaseUsedAt(prev, at, remaining));
    }

    events.push(...this.diffWaiters(obs.waiters, next ? (next.waiterId ?? next.holdId) : null, at, rev));
    return this.result(before, at, events, completed, acquired);
  }

  checkpoint(at: number, check?: CheckpointLease): ApplyResult {
    const hold = this.s.hold;
    if (!hold) return unchanged();
    const before = this.currentFingerprint();
    const events: LockEvent[] = [];

    if (check) {
      if (!check.exists) {
        const expiresAt = this.expiresAt();
        if (expiresAt !== null && at >= expiresAt - this.expiryTolerance) {
          const ended = this.finishHold(Math.max(hold.acquiredAt, Math.min(at, expiresAt)), 'expired', null, {
            holdId: hold.holdId,
            via: 'lease-check',
          });
          return this.result(before, at, [ended.event], ended.completed, null);
        }
        // Gone before it could have lapsed: deleted or revoked. The watch reports that delete
        // with its cause; ending it here would lose the cause, so wait for it.
        return this.result(before, at, events, null, null);
      }
      if (check.ttlMs !== null && ttlDiffers(hold.ttlMs, check.ttlMs)) events.push(this.ttlChanged(at, check.ttlMs, null));
      const implied = this.applyRemaining(at, check.remainingMs, null);
      if (implied) events.push(implied);
      if (check.remainingMs != null) this.noteLeaseUsed(leaseUsedAt(hold, at, check.remainingMs));
    }

    const due = this.nextNearExpiryAt();
    if (due !== null && at >= due) {
      const used = leaseUsedRatio(hold.ttlMs, hold.lastRenewedAt, at);
      hold.nearExpiryFiredForGrant = true;
      hold.nearExpiryAt = at;
      this.noteLeaseUsed(used);
      events.push({
        type: 'near_expiry',
        at,
        holder: hold.holder,
        token: hold.token,
        ttlMs: hold.ttlMs,
        valueMs: Math.max(0, at - hold.lastRenewedAt),
        detail: {
          holdId: hold.holdId,
          leaseUsed: used,
          ratio: this.ratio,
          ...(check?.remainingMs != null ? { remainingMs: check.remainingMs } : {}),
        },
      });
    }
    return this.result(before, at, events, null, null);
  }

  end(at: number, reason: HoldEndReason): ApplyResult {
    if (!this.s.hold) return unchanged();
    const before = this.currentFingerprint();
    if (reason === 'unknown') this.s.hold.approximate = true;
    const ended = this.finishHold(at, reason, null, { holdId: this.s.hold.holdId });
    return this.result(before, at, [ended.event], ended.completed, null);
  }

  nextNearExpiryAt(): number | null {
    const hold = this.s.hold;
    if (!hold || hold.ttlMs === null || hold.ttlMs <= 0 || hold.nearExpiryFiredForGrant) return null;
    // Strictly above the point, and after the holder's usual renewal (issue 15: no crying wolf).
    const usual = hold.renewalUsed ?? (hold.renewedBy ? libraryRenewalPoint(hold.renewedBy, hold.ttlMs) : null);
    return nearExpiryDueAt(hold.lastRenewedAt, hold.ttlMs, nearExpiryFraction(this.ratio, usual), renewalsVisible(this.s.dialect));
  }

  expiresAt(): number | null {
    const hold = this.s.hold;
    if (!hold || hold.ttlMs === null || hold.ttlMs <= 0) return null;
    return hold.lastRenewedAt + hold.ttlMs;
  }

  leaseUsedRatio(now: number): number | null {
    const hold = this.s.hold;
    return hold ? leaseUsedRatio(hold.ttlMs, hold.lastRenewedAt, now) : null;
  }

  /** Whether the current grant has crossed the near-expiry point (fired at a checkpoint). */
  isNearExpiry(): boolean {
    return this.s.hold?.nearExpiryFiredForGrant === true;
  }

  private waitFor(waiterKey: string, at: number, replayed: boolean): number | null {
    const seen = this.s.waiters?.find((w) => w.id === waiterKey);
    if (seen) return seen.since === null ? null : Math.max(0, at - seen.since);
    if (!waitersObservable(this.s.dialect) || replayed) return null;
    // Waiters are visible and this holder never queued: it got the lock straight away.
    return 0;
  }

  /** A grant implied by a remaining TTL: a renewal when clearly later, a correction when clearly earlier. */
  private applyRemaining(at: number, remainingMs: number | null | undefined, rev: string | null): LockEvent | null {
    const hold = this.s.hold;
    if (!hold || remainingMs == null || hold.ttlMs === null) return null;
    const grant = Math.min(at, at - (hold.ttlMs - Math.max(0, remainingMs)));
    if (grant > hold.lastRenewedAt + this.renewalTolerance) return this.renew(at, grant, true, rev);
    if (grant > hold.lastRenewedAt) {
      // Within the reading's granularity: not provably a renewal, but the implied grant is a
      // lower bound of the real one (remaining TTL is truncated), so it is the better estimate.
      // Without this, a lease kept alive every TTL/3 would look near expiry at every check.
      hold.lastRenewedAt = grant;
      return null;
    }
    if (grant < hold.lastRenewedAt - this.renewalTolerance) {
      // Our grant estimate was too late (first seen mid-lease, or the wall clock stepped back):
      // the lease itself says how old the grant is.
      hold.lastRenewedAt = grant;
    }
    return null;
  }

  private renew(at: number, grantAt: number, implied: boolean, rev: string | null): LockEvent {
    const hold = this.s.hold!;
    const previous = hold.lastRenewedAt;
    // With visible renewals the lease really ran this long before being renewed; an implied
    // renewal may hide several invisible keepalives, so it proves nothing about the lease used.
    if (!implied) {
      const used = leaseUsedRatio(hold.ttlMs, previous, grantAt);
      this.noteLeaseUsed(used);
      // Its schedule; a renewal after the lease ran out teaches nothing about when it renews.
      if (used !== null && used > 0 && used < 1) hold.renewalUsed = used;
    }
    hold.lastRenewedAt = grantAt;
    hold.renewals += 1;
    hold.nearExpiryFiredForGrant = false;
    return {
      type: 'renewed',
      at,
      holder: hold.holder,
      token: hold.token,
      ttlMs: hold.ttlMs,
      valueMs: Math.max(0, grantAt - previous),
      revision: rev,
      detail: { holdId: hold.holdId, grantAt, ...(implied ? { implied: true } : {}) },
    };
  }

  private ttlChanged(at: number, ttlMs: number | null, rev: string | null): LockEvent {
    const hold = this.s.hold!;
    const from = hold.ttlMs;
    hold.ttlMs = ttlMs;
    return {
      type: 'ttl_changed',
      at,
      holder: hold.holder,
      token: hold.token,
      ttlMs,
      valueMs: null,
      revision: rev,
      detail: { holdId: hold.holdId, from, to: ttlMs },
    };
  }

  private noteLeaseUsed(used: number | null): void {
    const hold = this.s.hold;
    if (!hold || used === null || !Number.isFinite(used)) return;
    hold.maxLeaseUsed = hold.maxLeaseUsed === null ? used : Math.max(hold.maxLeaseUsed, used);
  }

  private finishHold(
    endedAt: number,
    reason: HoldEndReason,
    rev: string | null,
    detail: Record<string, unknown>,
  ): { event: LockEvent; completed: CompletedHold } {
    const hold = this.s.hold!;
    if (reason === 'expired') {
      this.s.expirations += 1;
      // It lapsed: the whole lease was used.
      if (hold.ttlMs !== null) this.noteLeaseUsed(1);
    } else if (renewalsVisible(this.s.dialect)) {
      this.noteLeaseUsed(leaseUsedRatio(hold.ttlMs, hold.lastRenewedAt, endedAt));
    }
    // An end learnt late (a resync begun before the hold was seen) never comes before its start.
    endedAt = Math.max(endedAt, hold.acquiredAt);
    const heldMs = endedAt - hold.acquiredAt;
    this.s.hold = null;
    const completed: CompletedHold = {
      holdKey: hold.token !== null ? `rev:${hold.token}` : `${hold.holder}@${hold.acquiredAt}`,
      holder: hold.holder,
      token: hold.token,
      acquiredAt: hold.acquiredAt,
      endedAt,
      heldMs,
      ttlMs: hold.ttlMs,
      waitMs: hold.waitMs,
      renewals: hold.renewals,
      maxLeaseUsed: hold.maxLeaseUsed,
      nearExpiry: hold.nearExpiryAt !== null,
      endReason: reason,
      approximate: hold.approximate,
    };
    const event: LockEvent = {
      type: END_EVENT[reason],
      at: endedAt,
      holder: hold.holder,
      token: hold.token,
      ttlMs: hold.ttlMs,
      valueMs: heldMs,
      revision: rev,
      detail: { ...detail, renewals: hold.renewals, ...(hold.approximate ? { approximate: true } : {}) },
    };
    return { event, completed };
  }

  /** `holderKey`: the waiter id of the current holder, which did not leave: it got the lock. */
  private diffWaiters(next: WaiterObservation[] | null, holderKey: string | null, at: number, rev: string | null): LockEvent[] {
    const prev = this.s.waiters;
    if (next === null) {
      this.s.waiters = null;
      return [];
    }
    const prevById = new Map((prev ?? []).map((w) => [w.id, w]));
    const nextIds = new Set(next.map((w) => w.id));
    const events: LockEvent[] = [];
    const merged: WaiterObservation[] = next.map((w, position) => {
      const known = prevById.get(w.id);
      // A resync reports `since: null`; keep the appearance time we saw ourselves.
      const since = w.since ?? known?.since ?? null;
      const waiter: WaiterObservation = { ...w, since };
      if (!known) {
        events.push({
          type: 'waiter_added',
          at,
          holder: w.holder,
          token: w.token ?? null,
          ttlMs: null,
          valueMs: null,
          revision: rev,
          detail: { waiterId: w.id, position, since },
        });
      }
      return waiter;
    });
    for (const w of prev ?? []) {
      if (nextIds.has(w.id) || w.id === holderKey) continue;
      events.push({
        type: 'waiter_left',
        at,
        holder: w.holder,
        token: w.token ?? null,
        ttlMs: null,
        valueMs: w.since === null ? null : Math.max(0, at - w.since),
        revision: rev,
        detail: { waiterId: w.id },
      });
    }
    this.s.waiters = merged;
    return events;
  }

  /**
   * Everything that makes the live row or the persisted state differ, except the seq, the
   * change time, maxLeaseUsed (creeps up with every observation of a held lock) and the last
   * remaining TTL seen: alone they are not worth a write (the next real change persists them).
   * A flat list of values compared one by one: JSON of the whole state was the costliest
   * part of applying an observation.
   */
  /**
   * The fingerprint of the state as it is now. Only apply/checkpoint/end change the state
   * and each ends in result(), which keeps the fingerprint it computed: a change that
   * produced events did not need one, so that is the only case computed here.
   */
  private currentFingerprint(): unknown[] {
    return (this.lastFingerprint ??= this.fingerprint());
  }

  private fingerprint(): unknown[] {
    const s = this.s;
    const out: unknown[] = [s.source, s.keyHex, s.name, s.dialect, s.firstSeenAt, s.acquisitions, s.expirations];
    out.push(s.waiters === null ? null : JSON.stringify(s.waiters));
    const hold = s.hold;
    if (hold) for (const field of FINGERPRINT_HOLD_FIELDS) out.push(hold[field]);
    else out.push(null);
    return out;
  }

  private result(
    before: unknown[],
    at: number,
    events: LockEvent[],
    completed: CompletedHold | null,
    acquired: { waitMs: number | null } | null,
  ): ApplyResult {
    let changed = events.length > 0;
    if (changed) {
      this.lastFingerprint = null;
    } else {
      const after = this.fingerprint();
      changed = !sameValues(after, before);
      this.lastFingerprint = after;
    }
    if (changed) this.s.lastChangeAt = at;
    return { events, completed, acquired, changed };
  }
}

/**
 * Whether a reported TTL is a different TTL. Redis does not store the granted TTL, so its
 * source estimates it from PTTL and the estimate wobbles by a few ms between renewals; that
 * wobble is not a change. Real changes (etcd whole seconds, a PEXPIRE with another duration)
 * are far larger.
 */
function ttlDiffers(from: number | null, to: number | null): boolean {
  if (from === null || to === null) return from !== to;
  return Math.abs(to - from) > Math.max(10, 0.01 * from);
}

/** The HoldState fields whose change is worth a write (see fingerprint). */
const FINGERPRINT_HOLD_FIELDS = [
  'holdId', 'holder', 'token', 'acquiredAt', 'lastRenewedAt', 'ttlMs', 'renewals', 'waitMs',
  'nearExpiryFiredForGrant', 'nearExpiryAt', 'lease', 'approximate',
] as const satisfies readonly (keyof HoldState)[];
// Compile-time guard: a new HoldState or LockTrackerState field must be fingerprinted or excluded here.
// renewalUsed changes only with lastRenewedAt, renewedBy only with holdId: both already fingerprinted.
type UnlistedHoldField = Exclude<keyof HoldState, (typeof FINGERPRINT_HOLD_FIELDS)[number] | 'maxLeaseUsed' | 'remainingSeen' | 'renewalUsed' | 'renewedBy'>;
type UnlistedStateField = Exclude<
  keyof LockTrackerState,
  'source' | 'keyHex' | 'name' | 'dialect' | 'firstSeenAt' | 'acquisitions' | 'expirations' | 'waiters' | 'hold' | 'lastSeq' | 'lastChangeAt'
>;
const allFieldsListed: [UnlistedHoldField | UnlistedStateField] extends [never] ? true : never = true;
void allFieldsListed;

/** Stands for a fingerprint that is never compared (the change produces events). */
const NO_FINGERPRINT: unknown[] = [];

function sameValues(a: unknown[], b: unknown[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

function unchanged(): ApplyResult {
  return { events: [], completed: null, acquired: null, changed: false };
}

/** Lease used at `at`: from a fresh remaining TTL when there is one, else from the last grant. */
function leaseUsedAt(hold: HoldState, at: number, remainingMs: number | null | undefined): number | null {
  if (hold.ttlMs === null || hold.ttlMs <= 0) return null;
  if (remainingMs != null) return Math.min(1, Math.max(0, (hold.ttlMs - remainingMs) / hold.ttlMs));
  return leaseUsedRatio(hold.ttlMs, hold.lastRenewedAt, at);
}

function validateState(state: LockTrackerState): void {
  const bad = (why: string): never => {
    throw new LockscopeError('INTERNAL', `Stored tracker state is unusable (${why}); the lock will be re-learned from the next observation.`);
  };
  if (typeof state !== 'object' || state === null) bad('not an object');
  if (typeof state.source !== 'string' || typeof state.keyHex !== 'string' || !/^(?:[0-9a-f]{2})*$/.test(state.keyHex)) bad('source or key');
  if (!DIALECTS.includes(state.dialect)) bad(`unknown dialect ${String(state.dialect)}`);
  if (typeof state.lastSeq !== 'string' || !/^-?\d+$/.test(state.lastSeq)) bad('lastSeq');
  if (state.hold !== null && (typeof state.hold !== 'object' || typeof state.hold.holdId !== 'string' || typeof state.hold.lastRenewedAt !== 'number')) bad('hold');
  if (state.waiters !== null && !Array.isArray(state.waiters)) bad('waiters');
}
