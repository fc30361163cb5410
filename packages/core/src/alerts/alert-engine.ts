import type { LockEvent } from '../events.js';
import { AlertPolicy, type LockRef, type LockThresholds } from './alert-policy.js';
import { DueHeap } from '../due-heap.js';
import { isAlertRule, type AlertRule } from './rule-names.js';

/** A change in the set of open alerts. One alert is open per (rule, lock) or (rule, source) at a time. */
export interface AlertTransition {
  kind: 'open' | 'resolve';
  rule: AlertRule;
  /** Dedup key while open: `<rule>|<lockId>` for lock rules, `source_down|<source>` for sources. Equals the store's openKey. */
  key: string;
  lockId: string | null;
  source: string;
  lockName: string | null;
  /** Wall ms of the transition (the alert's start, or its resolution). */
  at: number;
  /** What was measured: lease-used ratio, ms, waiters (see docs/alerts.md); null when not applicable. */
  value: number | null;
  threshold: number | null;
  message: string;
}

/** The part of a source's health the source_down rule reads (a structural subset of @lockscope/sources' SourceHealth). */
export interface SourceHealthInput {
  name: string;
  connected: boolean;
  /** Wall ms the backend last answered; null when never. */
  lastSeenAt: number | null;
  lastError?: string | null;
  /**
   * How often the source proves itself alive while idle (etcd progress requests),
   * in ms. Silence is judged only for sources that heartbeat: an idle source
   * without one (Redis today) is quiet, not down. It is judged silent after
   * max(sourceDownAfter, 2 x heartbeatMs).
   */
  heartbeatMs?: number | null;
}

/** An alert that was open before a restart (from the store). */
export interface OpenAlertSeed {
  rule: string;
  lockId: string | null;
  source: string;
  lockName: string | null;
  startedAt: number;
}

/** A hold the collector restored from the store after a restart. */
export interface RestoredHold {
  acquiredAt: number | null;
  lastRenewedAt: number | null;
  ttlMs: number | null;
  holder: string | null;
}

interface HoldState {
  acquiredAt: number | null;
  lastRenewedAt: number | null;
  ttlMs: number | null;
  holder: string | null;
}

interface LockState {
  ref: LockRef;
  /** When the engine began watching this lock; a window shorter than this is incomplete. */
  watchedSince: number;
  hold: HoldState | null;
  /** The lock's near-expiry ratio is above the tracker's: fire at this time instead. */
  pendingNearAt: number | null;
  /** Individual acquisition waits inside the sliding window, oldest first. */
  waits: { at: number; ms: number }[];
  /** The same waits' durations in ascending order, so a P95 is one index, not a sort per acquisition. */
  sortedMs: number[];
  waiters: number;
  contentionSince: number | null;
  expiredAt: number | null;
  open: Set<AlertRule>;
  /** This lock's thresholds after overrides (the policy does not change while the engine runs). */
  th: LockThresholds;
  /** Its key in the deadline heap, made once. */
  dueKey?: string;
}

interface SourceState {
  name: string;
  connected: boolean;
  lastSeenAt: number | null;
  lastError: string | null;
  downSince: number | null;
  heartbeatMs: number | null;
  open: boolean;
}

interface OpenInfo {
  rule: AlertRule;
  lockId: string | null;
  source: string;
  lockName: string | null;
  startedAt: number;
}

/** Memory bound per lock: beyond this many waits in one window the oldest are dropped (P95 stays representative). */
export const MAX_WAITS_PER_LOCK = 10_000;
/** Tolerance for the tracker's own crossing time, which is computed in floating point. */
const CROSSING_SLACK_MS = 1;
/**
 * slow_acquisition hysteresis: once firing it resolves only when the P95 is at or under
 * this share of the threshold, and not before it has fired for SLOW_MIN_FIRING_MS (or one
 * window, when that is shorter). Without it a P95 hovering at the threshold fired and
 * resolved over and over (the demo did, every few seconds).
 */
export const SLOW_RESOLVE_RATIO = 0.8;
export const SLOW_MIN_FIRING_MS = 60_000;
const MUTE_KEY = 'mute';

/**
 * The alert rules as a pure state machine. Inputs carry their own wall-clock
 * timestamps; each call returns the transitions it caused. Time-driven rules
 * fire from `tick(at)`; `nextDueAt()` says when the next one can fire, so a
 * caller arms one timer instead of polling.
 */
export class AlertEngine {
  readonly policy: AlertPolicy;
  private readonly locks = new Map<string, LockState>();
  /**
   * Thresholds by lock id. A lock's state is dropped between holds and made again on the
   * next acquisition; this spares the policy's (source, name) lookup each time. Bounded
   * like the policy's own cache.
   */
  private readonly thresholds = new Map<string, { name: string; th: LockThresholds }>();
  private readonly sources = new Map<string, SourceState>();
  private readonly open = new Map<string, OpenInfo>();
  private readonly due = new DueHeap();

  constructor(policy: AlertPolicy) {
    this.policy = policy;
    const firstMuteEnd = policy.nextMuteEnd(-Infinity);
    if (firstMuteEnd !== null) this.due.schedule(MUTE_KEY, firstMuteEnd);
  }

  /** A lifecycle event from the lock's hold tracker. */
  onEvent(lock: LockRef, event: LockEvent): AlertTransition[] {
    const out: AlertTransition[] = [];
    const s = this.lockState(lock, event.at);
    const at = event.at;
    switch (event.type) {
      case 'acquired':
        this.resolve(out, s, 'near_expiry', at, 'a new hold began');
        this.resolve(out, s, 'long_hold', at, 'a new hold began');
        // Checked first: building the message for every acquisition was measurable garbage.
        if (s.open.has('lease_expired')) this.resolve(out, s, 'lease_expired', at, `the lock was acquired again${event.holder ? ` by ${showText(event.holder)}` : ''}`);
        s.expiredAt = null;
        s.pendingNearAt = null;
        s.hold = { acquiredAt: at, lastRenewedAt: at, ttlMs: event.ttlMs, holder: event.holder };
        break;
      case 'renewed': {
        const hold = this.ensureHold(s, event);
        hold.lastRenewedAt = at;
        if (event.ttlMs !== null) hold.ttlMs = event.ttlMs;
        s.pendingNearAt = null;
        this.resolve(out, s, 'near_expiry', at, 'the lease was renewed');
        break;
      }
      case 'ttl_changed': {
        const hold = this.ensureHold(s, event);
        hold.ttlMs = event.ttlMs;
        if (event.ttlMs !== null) this.resolve(out, s, 'long_hold', at, 'the hold now has a TTL');
        break;
      }
      case 'near_expiry':
        this.nearExpiry(out, s, event);
        break;
      case 'released':
      case 'force_released':
      case 'ended_unknown':
      case 'expired': {
        const why = END_REASON_TEXT[event.type];
        this.resolve(out, s, 'near_expiry', at, why);
        this.resolve(out, s, 'long_hold', at, why);
        const previous = s.hold;
        s.hold = null;
        s.pendingNearAt = null;
        if (event.type === 'expired') {
          const holder = event.holder ?? previous?.holder ?? null;
          const ttl = event.ttlMs ?? previous?.ttlMs ?? null;
          const held = event.valueMs;
          s.expiredAt = at;
          const facts = [held !== null ? `held ${formatMs(held)}` : null, ttl !== null ? `TTL ${formatMs(ttl)}` : null].filter((f) => f !== null);
          this.openAlert(out, s, 'lease_expired', at, held, ttl,
            `The lease of ${lockText(s.ref)} lapsed while held${holder ? ` by ${showText(holder)}` : ''}${facts.length > 0 ? ` (${facts.join(', ')})` : ''}: the holder crashed or stalled.`);
        }
        break;
      }
      default:
        // Waiter events: contention comes from onWaiters, latency from onAcquisition.
        break;
    }
    this.evaluate(out, s, at);
    this.settle(s, at);
    return out;
  }

  /**
   * Everything one LockTracker result means for alerts: its events, the wait of
   * an acquisition (when observable) and the waiter count after it (null when
   * the dialect cannot show waiters). The collector's one call per result.
   */
  onApplyResult(lock: LockRef, result: { events: LockEvent[]; acquired: { waitMs: number | null } | null }, waiters: number | null, at?: number): AlertTransition[] {
    const out: AlertTransition[] = [];
    for (const event of result.events) out.push(...this.onEvent(lock, event));
    const when = at ?? result.events[result.events.length - 1]?.at;
    if (when === undefined) return out;
    const waitMs = result.acquired?.waitMs;
    if (waitMs !== null && waitMs !== undefined) {
      const acquiredAt = result.events.find((e) => e.type === 'acquired')?.at ?? when;
      out.push(...this.onAcquisition(lock, waitMs, acquiredAt));
    }
    if (waiters !== null) out.push(...this.onWaiters(lock, waiters, when));
    return out;
  }

  /** The number of visible waiters of a lock, whenever it changes. */
  onWaiters(lock: LockRef, waiters: number, at: number): AlertTransition[] {
    const out: AlertTransition[] = [];
    const s = this.lockState(lock, at);
    const th = s.th;
    s.waiters = Number.isFinite(waiters) && waiters > 0 ? Math.floor(waiters) : 0;
    if (s.waiters >= th.highContentionWaiters) {
      if (s.contentionSince === null) s.contentionSince = at;
      this.evaluate(out, s, at);
    } else {
      s.contentionSince = null;
      this.resolve(out, s, 'high_contention', at, `waiters dropped to ${s.waiters}`, s.waiters);
    }
    this.settle(s, at);
    return out;
  }

  /** One observed acquisition wait (ms from the contender's appearance to holding). */
  onAcquisition(lock: LockRef, waitMs: number, at: number): AlertTransition[] {
    const out: AlertTransition[] = [];
    if (!Number.isFinite(waitMs) || !Number.isFinite(at)) return out;
    const s = this.lockState(lock, at);
    const sample = { at, ms: Math.max(0, waitMs) };
    const w = s.waits;
    if (w.length === 0 || w[w.length - 1]!.at <= at) w.push(sample);
    else {
      let i = w.length;
      while (i > 0 && w[i - 1]!.at > at) i--;
      w.splice(i, 0, sample);
    }
    insertSorted(s.sortedMs, sample.ms);
    if (w.length > MAX_WAITS_PER_LOCK) {
      for (const old of w.splice(0, w.length - MAX_WAITS_PER_LOCK)) removeSorted(s.sortedMs, old.ms);
    }
    this.evaluate(out, s, at);
    this.settle(s, at);
    return out;
  }

  /** A source's health, on every change and periodically (silence is judged from lastSeenAt). */
  onSourceHealth(health: SourceHealthInput, at: number): AlertTransition[] {
    const out: AlertTransition[] = [];
    let st = this.sources.get(health.name);
    if (!st) {
      st = { name: health.name, connected: health.connected, lastSeenAt: null, lastError: null, downSince: null, heartbeatMs: null, open: false };
      this.sources.set(health.name, st);
    }
    if (!health.connected) st.downSince ??= at;
    else st.downSince = null;
    st.connected = health.connected;
    st.lastSeenAt = health.lastSeenAt;
    st.lastError = health.lastError ?? null;
    st.heartbeatMs = health.heartbeatMs != null && health.heartbeatMs > 0 ? health.heartbeatMs : null;
    this.evaluateSource(out, st, at);
    this.scheduleSource(st, at);
    return out;
  }

  /** A tracker restored after a restart: the engine learns the hold without an 'acquired' event. */
  restoreHold(lock: LockRef, hold: RestoredHold, at: number): void {
    const s = this.lockState(lock, at);
    s.hold = { ...hold };
    this.settle(s, at);
  }

  /** Alerts still open in the store from before a restart; later transitions resolve them. */
  restoreOpen(seeds: OpenAlertSeed[], at: number): void {
    for (const seed of seeds) {
      if (!isAlertRule(seed.rule)) continue;
      if (seed.rule === 'source_down' || seed.lockId === null) {
        this.open.set(sourceKey(seed.source), { rule: 'source_down', lockId: null, source: seed.source, lockName: null, startedAt: seed.startedAt });
        let st = this.sources.get(seed.source);
        if (!st) {
          st = { name: seed.source, connected: false, lastSeenAt: null, lastError: null, downSince: seed.startedAt, heartbeatMs: null, open: true };
          this.sources.set(seed.source, st);
        }
        st.open = true;
        continue;
      }
      const s = this.lockState({ lockId: seed.lockId, source: seed.source, name: seed.lockName ?? '' }, at);
      this.open.set(lockKey(seed.rule, seed.lockId), { rule: seed.rule, lockId: seed.lockId, source: seed.source, lockName: seed.lockName, startedAt: seed.startedAt });
      s.open.add(seed.rule);
      if (seed.rule === 'lease_expired') s.expiredAt = seed.startedAt;
      this.settle(s, at);
    }
  }

  /** Fires and resolves what has come due by `at`. */
  tick(at: number): AlertTransition[] {
    const out: AlertTransition[] = [];
    for (const { key } of this.due.takeDue(at)) {
      if (key === MUTE_KEY) {
        // A mute ended: conditions it held back may fire now.
        for (const s of [...this.locks.values()]) {
          this.evaluate(out, s, at);
          this.settle(s, at);
        }
        for (const st of this.sources.values()) {
          this.evaluateSource(out, st, at);
          this.scheduleSource(st, at);
        }
        const next = this.policy.nextMuteEnd(at);
        if (next !== null) this.due.schedule(MUTE_KEY, next);
      } else if (key.startsWith('l:')) {
        const s = this.locks.get(key.slice(2));
        if (!s) continue;
        this.evaluate(out, s, at);
        this.settle(s, at);
      } else {
        const st = this.sources.get(key.slice(2));
        if (!st) continue;
        this.evaluateSource(out, st, at);
        this.scheduleSource(st, at);
      }
    }
    return out;
  }

  /** When tick() next has something to do; null when nothing is pending. */
  nextDueAt(): number | null {
    return this.due.peek();
  }

  /** The lock is gone for good (source removed): resolves its open alerts and drops its state. */
  forget(lockId: string, at: number): AlertTransition[] {
    const out: AlertTransition[] = [];
    const s = this.locks.get(lockId);
    if (!s) return out;
    for (const rule of [...s.open]) this.resolve(out, s, rule, at, 'the lock is no longer watched');
    this.locks.delete(lockId);
    this.due.cancel(`l:${lockId}`);
    return out;
  }

  isOpen(key: string): boolean {
    return this.open.has(key);
  }

  openCounts(): Map<AlertRule, number> {
    const counts = new Map<AlertRule, number>();
    for (const info of this.open.values()) counts.set(info.rule, (counts.get(info.rule) ?? 0) + 1);
    return counts;
  }

  /** Number of locks with state held in memory (for tests of memory bounds). */
  get trackedLocks(): number {
    return this.locks.size;
  }

  private nearExpiry(out: AlertTransition[], s: LockState, event: LockEvent): void {
    const at = event.at;
    const hold = this.ensureHold(s, event);
    if (event.ttlMs !== null) hold.ttlMs = event.ttlMs;
    const ttl = hold.ttlMs;
    const elapsed = event.valueMs ?? (hold.lastRenewedAt !== null ? at - hold.lastRenewedAt : null);
    if (elapsed !== null) hold.lastRenewedAt = at - elapsed;
    const ratio = s.th.nearExpiryRatio;
    if (ttl !== null && ttl > 0 && elapsed !== null && elapsed < ratio * ttl - CROSSING_SLACK_MS) {
      // The tracker uses a lower ratio than this lock's override: wait for our own crossing.
      s.pendingNearAt = Math.ceil(at + (ratio * ttl - elapsed));
      return;
    }
    this.openNearExpiry(out, s, at, elapsed);
  }

  private openNearExpiry(out: AlertTransition[], s: LockState, at: number, elapsed: number | null): void {
    const hold = s.hold;
    const ttl = hold?.ttlMs ?? null;
    const ratio = s.th.nearExpiryRatio;
    const used = ttl !== null && ttl > 0 && elapsed !== null ? elapsed / ttl : null;
    const usedText = used !== null && ttl !== null ? `has used ${Math.round(used * 100)}% of its ${formatMs(ttl)} lease (${formatMs(elapsed!)} since the last grant or renewal)` : 'is near the end of its lease';
    this.openAlert(out, s, 'near_expiry', at, used === null ? null : round4(used), ratio,
      `${capital(lockText(s.ref))} ${usedText}${hold?.holder ? `, held by ${showText(hold.holder)}` : ''}; alert above ${Math.round(ratio * 100)}%.`);
  }

  /** Re-checks the time-driven and windowed rules of one lock at `at`. */
  private evaluate(out: AlertTransition[], s: LockState, at: number): void {
    const th = s.th;
    if (s.pendingNearAt !== null && at >= s.pendingNearAt) {
      s.pendingNearAt = null;
      if (s.hold) this.openNearExpiry(out, s, at, s.hold.lastRenewedAt !== null ? at - s.hold.lastRenewedAt : null);
    }
    const hold = s.hold;
    if (hold && hold.ttlMs === null && hold.acquiredAt !== null && at - hold.acquiredAt >= th.maxHoldWithoutTtlMs) {
      const heldMs = at - hold.acquiredAt;
      this.openAlert(out, s, 'long_hold', at, heldMs, th.maxHoldWithoutTtlMs,
        `${capital(lockText(s.ref))} has been held without a TTL for ${formatMs(heldMs)}${hold.holder ? ` by ${showText(hold.holder)}` : ''} (maximum ${formatMs(th.maxHoldWithoutTtlMs)}); if the holder died it will never be released.`);
    }
    if (s.contentionSince !== null && s.waiters >= th.highContentionWaiters && at - s.contentionSince >= th.highContentionForMs) {
      this.openAlert(out, s, 'high_contention', at, s.waiters, th.highContentionWaiters,
        `${capital(lockText(s.ref))} has had ${s.waiters} waiters (at least ${th.highContentionWaiters}) for ${formatMs(at - s.contentionSince)}.`);
    }
    this.evaluateSlow(out, s, at, th.slowAcquisitionWindowMs, th.slowAcquisitionMinSamples, th.slowAcquisitionP95Ms);
    if (s.expiredAt !== null && at >= s.expiredAt + this.policy.leaseExpiredOpenForMs) {
      s.expiredAt = null;
      this.resolve(out, s, 'lease_expired', at, `no new expiry for ${formatMs(this.policy.leaseExpiredOpenForMs)}`);
    }
  }

  private evaluateSlow(out: AlertTransition[], s: LockState, at: number, windowMs: number, minSamples: number, thresholdMs: number): void {
    const w = s.waits;
    let drop = 0;
    while (drop < w.length && w[drop]!.at <= at - windowMs) drop++;
    if (drop > 0) for (const old of w.splice(0, drop)) removeSorted(s.sortedMs, old.ms);
    const firingSince = this.slowFiringSince(s);
    const firedLongEnough = firingSince === null || at - firingSince >= Math.min(SLOW_MIN_FIRING_MS, windowMs);
    if (w.length >= minSamples) {
      const p95 = s.sortedMs[Math.max(0, Math.ceil(0.95 * s.sortedMs.length) - 1)]!;
      if (p95 > thresholdMs) {
        this.openAlert(out, s, 'slow_acquisition', at, p95, thresholdMs,
          `${capital(lockText(s.ref))}: P95 acquisition latency ${formatMs(p95)} over the last ${formatMs(windowMs)} (${w.length} acquisitions) is above ${formatMs(thresholdMs)}.`);
      } else if (p95 <= SLOW_RESOLVE_RATIO * thresholdMs && firedLongEnough) {
        this.resolve(out, s, 'slow_acquisition', at, `P95 acquisition latency is ${formatMs(p95)} over ${w.length} acquisitions (resolves at or under ${formatMs(SLOW_RESOLVE_RATIO * thresholdMs)})`, p95);
      }
    } else if (at - s.watchedSince >= windowMs && firedLongEnough) {
      // Only a full window with too few waits says the lock is no longer slow.
      this.resolve(out, s, 'slow_acquisition', at, `only ${w.length} acquisitions in the last ${formatMs(windowMs)}`, null);
    }
  }

  private slowFiringSince(s: LockState): number | null {
    return s.open.has('slow_acquisition') ? (this.open.get(lockKey('slow_acquisition', s.ref.lockId))?.startedAt ?? null) : null;
  }

  private evaluateSource(out: AlertTransition[], st: SourceState, at: number): void {
    const after = this.policy.sourceDownAfterMs;
    const key = sourceKey(st.name);
    if (!st.connected && st.downSince !== null) {
      const downFor = at - st.downSince;
      if (downFor >= after) {
        this.openSource(out, st, at, downFor, `Source ${showText(st.name)} has been unreachable for ${formatMs(downFor)}${st.lastError ? `: ${showText(st.lastError)}` : ''}.`);
      }
      return;
    }
    const silentAfter = silenceLimit(st, after);
    if (st.connected && st.lastSeenAt !== null && silentAfter !== null && at - st.lastSeenAt >= silentAfter) {
      const silentFor = at - st.lastSeenAt;
      this.openSource(out, st, at, silentFor, `Source ${showText(st.name)} is connected but has been silent for ${formatMs(silentFor)} (no event, progress or ping).`);
      return;
    }
    if (st.connected && this.open.has(key) && (st.lastSeenAt === null || silentAfter === null || at - st.lastSeenAt < silentAfter)) {
      this.open.delete(key);
      st.open = false;
      out.push({ kind: 'resolve', rule: 'source_down', key, lockId: null, source: st.name, lockName: null, at, value: null, threshold: after, message: `Source ${showText(st.name)} answers again.` });
    }
  }

  private openSource(out: AlertTransition[], st: SourceState, at: number, value: number, message: string): void {
    const key = sourceKey(st.name);
    if (this.open.has(key) || this.policy.isMuted('source_down', st.name, null, at)) return;
    this.open.set(key, { rule: 'source_down', lockId: null, source: st.name, lockName: null, startedAt: at });
    st.open = true;
    out.push({ kind: 'open', rule: 'source_down', key, lockId: null, source: st.name, lockName: null, at, value, threshold: this.policy.sourceDownAfterMs, message });
  }

  private scheduleSource(st: SourceState, at: number): void {
    const after = this.policy.sourceDownAfterMs;
    let due: number | null = null;
    if (!st.open) {
      if (!st.connected && st.downSince !== null) due = st.downSince + after;
      else if (st.connected && st.lastSeenAt !== null) {
        const silentAfter = silenceLimit(st, after);
        if (silentAfter !== null) due = st.lastSeenAt + silentAfter;
      }
    }
    if (due === null || due <= at) this.due.cancel(`s:${st.name}`);
    else this.due.schedule(`s:${st.name}`, due);
  }

  private openAlert(out: AlertTransition[], s: LockState, rule: AlertRule, at: number, value: number | null, threshold: number | null, message: string): void {
    const key = lockKey(rule, s.ref.lockId);
    if (this.open.has(key) || this.policy.isMuted(rule, s.ref.source, s.ref.name, at)) return;
    this.open.set(key, { rule, lockId: s.ref.lockId, source: s.ref.source, lockName: s.ref.name, startedAt: at });
    s.open.add(rule);
    out.push({ kind: 'open', rule, key, lockId: s.ref.lockId, source: s.ref.source, lockName: s.ref.name, at, value, threshold, message });
  }

  private resolve(out: AlertTransition[], s: LockState, rule: AlertRule, at: number, why: string, value: number | null = null): void {
    // s.open mirrors this.open for the lock: most calls find nothing open and build no key.
    if (!s.open.has(rule)) return;
    const key = lockKey(rule, s.ref.lockId);
    if (!this.open.delete(key)) return;
    s.open.delete(rule);
    const th = s.th;
    // Hazard rules are raised and resolved by the hazard detectors, never here.
    const thresholds: Partial<Record<AlertRule, number | null>> = { near_expiry: th.nearExpiryRatio, slow_acquisition: th.slowAcquisitionP95Ms, high_contention: th.highContentionWaiters, long_hold: th.maxHoldWithoutTtlMs };
    const threshold = thresholds[rule] ?? null;
    out.push({ kind: 'resolve', rule, key, lockId: s.ref.lockId, source: s.ref.source, lockName: s.ref.name, at, value, threshold, message: `${rule} on ${lockText(s.ref)} resolved: ${why}.` });
  }

  private ensureHold(s: LockState, event: LockEvent): HoldState {
    s.hold ??= { acquiredAt: null, lastRenewedAt: null, ttlMs: event.ttlMs, holder: event.holder };
    if (event.holder !== null) s.hold.holder = event.holder;
    return s.hold;
  }

  private thresholdsOf(lock: LockRef): LockThresholds {
    const cached = this.thresholds.get(lock.lockId);
    if (cached && cached.name === lock.name) return cached.th;
    const th = this.policy.thresholdsFor(lock.source, lock.name);
    if (this.thresholds.size >= 50_000) this.thresholds.clear();
    this.thresholds.set(lock.lockId, { name: lock.name, th });
    return th;
  }

  private lockState(lock: LockRef, at: number): LockState {
    let s = this.locks.get(lock.lockId);
    if (!s) {
      s = {
        ref: { ...lock },
        watchedSince: at,
        hold: null,
        pendingNearAt: null,
        waits: [],
        sortedMs: [],
        waiters: 0,
        contentionSince: null,
        expiredAt: null,
        open: new Set(),
        th: this.thresholdsOf(lock),
      };
      this.locks.set(lock.lockId, s);
    } else if (lock.name && s.ref.name !== lock.name) {
      // A seed from the store may lack the name; the live one wins.
      s.ref = { ...lock };
      s.th = this.thresholdsOf(lock);
    }
    return s;
  }

  /** Re-arms the lock's next deadline, or drops its state when nothing is left to watch. */
  private settle(s: LockState, at: number): void {
    const th = s.th;
    // The earliest deadline after `at`. Deadlines at or before `at` were just evaluated; one
    // still pending is held back by a mute, whose end has its own deadline. Re-arming it would spin.
    let next = Infinity;
    const consider = (deadline: number) => {
      if (deadline > at && deadline < next) next = deadline;
    };
    if (s.pendingNearAt !== null) consider(s.pendingNearAt);
    if (s.hold && s.hold.ttlMs === null && s.hold.acquiredAt !== null && !s.open.has('long_hold')) consider(s.hold.acquiredAt + th.maxHoldWithoutTtlMs);
    if (s.contentionSince !== null && !s.open.has('high_contention')) consider(s.contentionSince + th.highContentionForMs);
    if (s.waits.length > 0) consider(s.waits[0]!.at + th.slowAcquisitionWindowMs);
    else if (s.open.has('slow_acquisition')) consider(s.watchedSince + th.slowAcquisitionWindowMs);
    const slowSince = this.slowFiringSince(s);
    if (slowSince !== null) consider(slowSince + Math.min(SLOW_MIN_FIRING_MS, th.slowAcquisitionWindowMs));
    if (s.expiredAt !== null) consider(s.expiredAt + this.policy.leaseExpiredOpenForMs);
    s.dueKey ??= `l:${s.ref.lockId}`;
    if (next !== Infinity) {
      this.due.schedule(s.dueKey, next);
      return;
    }
    this.due.cancel(s.dueKey);
    if (!s.hold && s.waiters === 0 && s.open.size === 0) this.locks.delete(s.ref.lockId);
  }
}

const END_REASON_TEXT: Record<'released' | 'force_released' | 'ended_unknown' | 'expired', string> = {
  released: 'the lock was released',
  force_released: 'the lock was force-released',
  ended_unknown: 'the hold ended',
  expired: 'the lease expired',
};

function silenceLimit(st: SourceState, after: number): number | null {
  return st.heartbeatMs === null ? null : Math.max(after, 2 * st.heartbeatMs);
}

function lockKey(rule: AlertRule, lockId: string): string {
  return `${rule}|${lockId}`;
}

function sourceKey(source: string): string {
  return `source_down|${source}`;
}

/** First index whose value is >= x in an ascending array. */
function lowerBound(sorted: number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function insertSorted(sorted: number[], x: number): void {
  sorted.splice(lowerBound(sorted, x), 0, x);
}

function removeSorted(sorted: number[], x: number): void {
  const i = lowerBound(sorted, x);
  if (sorted[i] === x) sorted.splice(i, 1);
}

/** Nearest-rank P95 of individual samples (the engine keeps its windows sorted instead). */
export function quantile95(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(0.95 * sorted.length) - 1)]!;
}

function round4(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}

export function formatMs(ms: number): string {
  const a = Math.abs(ms);
  if (a < 1_000) return `${Math.round(ms)} ms`;
  if (a < 120_000) return `${(ms / 1_000).toFixed(a < 10_000 ? 2 : 1)} s`;
  if (a < 2 * 3_600_000) return `${(ms / 60_000).toFixed(1)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

const MAX_SHOWN = 200;

/**
 * Lock names and holders are arbitrary bytes from the backend: quote them with
 * control characters escaped and cut very long ones, so a message is always one
 * readable line.
 */
export function showText(text: string): string {
  const cut = text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN)}…` : text;
   
  return `"${cut.replace(/[\u0000-\u001f\u007f-\u009f"\\]/g, (c) => (c === '"' || c === '\\' ? `\\${c}` : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`))}"`;
}

function lockText(ref: LockRef): string {
  return `lock ${showText(ref.name)} on ${ref.source}`;
}

function capital(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
