import {
  ALERT_RULES,
  AlertEngine,
  isAlertRule,
  type HazardChange,
  AlertPolicy,
  type AlertRule,
  type AlertTransition,
  type AlertsConfig,
  type AlertsConfigInput,
  type LockEvent,
  type LockRef,
  type RestoredHold,
  type SourceHealthInput,
} from '@lockscope/core';
import { loadFiringAlerts, openAlert, resolveAlert, type Alert, type Store } from '@lockscope/store';
import type { AlertNotification } from './payloads.js';
import { WebhookDelivery, type DeliveryOptions } from './webhook-delivery.js';

/** SourceHealth of @lockscope/sources as the manager reads it. */
export type SourceHealthWithKind = SourceHealthInput & { kind?: string };

/**
 * The etcd source asks for a progress answer every 10 s when idle (HEARTBEAT_MS in
 * packages/sources/src/etcd/etcd-source.ts). The Redis source has no idle heartbeat
 * yet, so its silence is not judged (only disconnection).
 */
const ETCD_HEARTBEAT_MS = 10_000;

function withHeartbeat(health: SourceHealthWithKind): SourceHealthInput {
  if (health.heartbeatMs !== undefined) return health;
  return { ...health, heartbeatMs: health.kind === 'etcd' ? ETCD_HEARTBEAT_MS : null };
}

/** The one gauge method used, so the prom-client Gauge of CollectorMetrics fits and tests need no registry. */
export interface OpenAlertsGauge {
  set(labels: { rule: string }, value: number): void;
}

export interface AlertManagerOptions {
  /** The `alerts` section of lockscope.yaml, parsed or as written (validated again here; a bad rule is BAD_CONFIG naming it). */
  config: AlertsConfig | AlertsConfigInput;
  store: Store;
  now?: () => number;
  log?: (line: string) => void;
  /** CollectorMetrics.openAlerts: lockscope_open_alerts{rule}. */
  openAlertsGauge?: OpenAlertsGauge;
  /** Polled for the source_down rule (silence is judged from lastSeenAt, which a source updates without telling). */
  sourceHealth?: () => Iterable<SourceHealthWithKind>;
  /** How often sourceHealth is polled (default: a quarter of sourceDownAfter, at most 5 s). */
  healthPollMs?: number;
  /** Webhook timing knobs (tests shorten the backoff). */
  delivery?: Omit<DeliveryOptions, 'webhooks' | 'store' | 'now' | 'log'>;
  /** Most alert changes kept while the store is down (default 100,000); beyond, the oldest are dropped and counted. */
  maxBacklog?: number;
  /** Counts alert changes dropped because the backlog was full (lockscope_alert_changes_dropped_total). */
  droppedCounter?: { inc(n?: number): void };
}

/** An alert change waiting for the store, and whether its page already went out. */
interface PendingChange {
  t: AlertTransition;
  paged: boolean;
}

const DEFAULT_MAX_BACKLOG = 100_000;
/** Retry delays while the store refuses alert writes: from 250 ms, doubling, at most 5 s. */
const RETRY_FIRST_MS = 250;
const RETRY_MAX_MS = 5_000;

/**
 * Alert lifecycle in the collector: feeds the pure AlertEngine, keeps one open
 * alert per (rule, lock) in the store (firing -> resolved), and hands
 * notifications to the webhook queue. Detection is synchronous and never
 * waits for the store or a webhook: writes go through one ordered queue,
 * deliveries through another.
 */
export class AlertManager {
  readonly engine: AlertEngine;
  readonly policy: AlertPolicy;
  readonly delivery: WebhookDelivery;
  private readonly store: Store;
  private readonly now: () => number;
  private readonly log: (line: string) => void;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private healthTimer: NodeJS.Timeout | null = null;
  private loadTimer: NodeJS.Timeout | null = null;
  private writes: Promise<void> = Promise.resolve();
  /**
   * Alert changes not yet in the store, oldest first. Written in order: while the store is
   * down they wait here (an open and its resolve both reach the store afterwards), and
   * their pages go out at once instead of waiting for the store.
   */
  private readonly backlog: PendingChange[] = [];
  private draining = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private retries = 0;
  /** Why the store refused alert writes, while it does (one log line per outage, not per write). */
  private storeDown: string | null = null;
  private dropped = 0;
  private started = false;
  private stopped = false;

  constructor(private readonly options: AlertManagerOptions) {
    this.policy = AlertPolicy.compile(options.config);
    this.engine = new AlertEngine(this.policy);
    this.store = options.store;
    this.now = options.now ?? Date.now;
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.delivery = new WebhookDelivery({ ...options.delivery, webhooks: this.policy.config.webhooks, store: options.store, now: this.now, log: this.log });
  }

  /** Loads the alerts left open by a previous run (so they are resolved, not duplicated), then arms timers. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.loadOpen(1);
    this.arm();
    if (this.options.sourceHealth) {
      const every = this.options.healthPollMs ?? Math.min(5_000, Math.max(100, this.policy.sourceDownAfterMs / 4));
      this.healthTimer = setInterval(() => this.pollHealth(), every);
      this.healthTimer.unref();
    }
  }

  /**
   * Adopts the alerts a previous run left open, so their conditions resolve them.
   * A store that is down at start must not stop detection: retry in the background
   * (meanwhile a re-opened alert is deduplicated by the store's unique openKey).
   */
  private async loadOpen(attempt: number): Promise<void> {
    try {
      const open = await loadFiringAlerts(this.store);
      this.engine.restoreOpen(
        open.map((a) => ({ rule: a.rule, lockId: a.lockId, source: a.source, lockName: a.lockName, startedAt: Number(a.startedAt) })),
        this.now(),
      );
      this.updateGauge();
      this.arm();
    } catch (error) {
      if (this.stopped) return;
      const delay = Math.min(60_000, 1_000 * 2 ** (attempt - 1));
      this.log(`alerts: could not load open alerts (retrying in ${delay} ms): ${(error as Error).message}`);
      this.loadTimer = setTimeout(() => void this.loadOpen(attempt + 1), delay);
      this.loadTimer.unref();
    }
  }

  /** Stops timers and deliveries; waits for queued store writes, all within deadlineMs. */
  async stop(deadlineMs = 3_000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const deadline = Date.now() + deadlineMs;
    if (this.timer) clearTimeout(this.timer);
    if (this.healthTimer) clearInterval(this.healthTimer);
    if (this.loadTimer) clearTimeout(this.loadTimer);
    this.timer = null;
    this.healthTimer = null;
    // One last try for what waits on the store, within the deadline.
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.drain();
    await withDeadline(this.whenWritten(), Math.max(50, (deadline - Date.now()) / 2));
    await this.delivery.stop(Math.max(50, deadline - Date.now()));
  }

  /** Alert changes that have not reached the store yet (the caller spills them on stop). */
  unwritten(): AlertTransition[] {
    return this.backlog.map((p) => p.t);
  }

  /** Alert changes saved by an earlier run that could not write them: written first, in order. */
  replay(changes: AlertTransition[]): void {
    // Their pages went out when they happened.
    this.backlog.unshift(...changes.map((t) => ({ t, paged: true })));
    this.drain();
  }

  /** Alert changes waiting for the store now. */
  backlogSize(): number {
    return this.backlog.length;
  }

  /** A hold tracker event of this lock. */
  onEvent(lock: LockRef, event: LockEvent): AlertTransition[] {
    return this.apply(() => this.engine.onEvent(lock, event));
  }

  /**
   * One LockTracker ApplyResult: its events, the acquisition wait, and the
   * waiter count after it (`tracker.state().waiters?.length ?? null`).
   */
  onApplyResult(lock: LockRef, result: { events: LockEvent[]; acquired: { waitMs: number | null } | null }, waiters: number | null, at?: number): AlertTransition[] {
    return this.apply(() => this.engine.onApplyResult(lock, result, waiters, at));
  }

  /** The lock's visible waiter count (call when it changes). */
  onWaiters(lock: LockRef, waiters: number, at: number = this.now()): AlertTransition[] {
    return this.apply(() => this.engine.onWaiters(lock, waiters, at));
  }

  /** One observed acquisition wait in ms (ApplyResult.acquired.waitMs when not null). */
  onAcquisition(lock: LockRef, waitMs: number, at: number = this.now()): AlertTransition[] {
    return this.apply(() => this.engine.onAcquisition(lock, waitMs, at));
  }

  /**
   * A critical safety hazard opening or ending (from the hazard detectors): an alert of the
   * rule named after its kind, one per hazard, through the same store writes, mutes and
   * webhooks as every other alert. A hazard that only changes (severity rises) pages nobody again.
   */
  onHazard(change: HazardChange): AlertTransition[] {
    const { hazard } = change;
    if (change.action === 'update' || !isAlertRule(hazard.kind)) return [];
    const rule = hazard.kind;
    const at = change.action === 'open' ? hazard.since : (hazard.until ?? this.now());
    const key = `${rule}|${hazard.id}`;
    if (change.action === 'open' && this.policy.isMuted(rule, hazard.source, hazard.lockName, at)) return [];
    return this.apply(() => [
      {
        kind: change.action === 'open' ? 'open' : 'resolve',
        rule,
        key,
        lockId: hazard.lockId,
        source: hazard.source,
        lockName: hazard.lockName,
        at,
        value: null,
        threshold: null,
        message: change.action === 'open' ? `[${hazard.severity}] ${hazard.detail}` : `${rule} on ${JSON.stringify(hazard.lockName ?? hazard.source)} ended.`,
      },
    ]);
  }

  /** A source's health (the sources' SourceHealth fits); an etcd source is known to heartbeat, so its silence counts. */
  onSourceHealth(health: SourceHealthWithKind, at: number = this.now()): AlertTransition[] {
    return this.apply(() => this.engine.onSourceHealth(withHeartbeat(health), at));
  }

  /** Fires time-driven rules due by `at` (the manager's own timer calls this; tests may too). */
  tick(at: number = this.now()): AlertTransition[] {
    return this.apply(() => this.engine.tick(at));
  }

  /** A hold restored from the store after a restart (so long_hold keeps counting). */
  restoreHold(lock: LockRef, hold: RestoredHold): void {
    this.engine.restoreHold(lock, hold, this.now());
    this.arm();
  }

  /** The lock is no longer watched: resolves its open alerts. */
  forget(lockId: string, at: number = this.now()): AlertTransition[] {
    return this.apply(() => this.engine.forget(lockId, at));
  }

  /** The near-expiry ratio for this lock after overrides: pass it to the LockTracker. */
  nearExpiryRatioFor(source: string, name: string): number {
    return this.policy.nearExpiryRatioFor(source, name);
  }

  openCounts(): Map<AlertRule, number> {
    return this.engine.openCounts();
  }

  /** Resolves once every alert change so far is in the store (tests; a flush before exit). While the store is down, it waits. */
  async whenWritten(): Promise<void> {
    let last: Promise<void>;
    do {
      last = this.writes;
      await last;
      if (this.backlog.length > 0 && !this.draining) {
        // Stopping with the store down: what is left is the caller's to spill.
        if (this.stopped) return;
        await new Promise((r) => setTimeout(r, 20));
      }
    } while (last !== this.writes || this.backlog.length > 0);
  }

  private apply(evaluate: () => AlertTransition[]): AlertTransition[] {
    if (this.stopped) return [];
    let transitions: AlertTransition[];
    try {
      transitions = evaluate();
    } catch (error) {
      // A rule bug must not take the collector's observation path down.
      this.log(`alerts: rule evaluation failed: ${(error as Error).stack ?? error}`);
      return [];
    }
    if (transitions.length > 0) {
      this.updateGauge();
      for (const t of transitions) this.persist(t);
    }
    this.arm();
    return transitions;
  }

  private persist(t: AlertTransition): void {
    const change: PendingChange = { t, paged: false };
    // The store is down: page now rather than after it comes back.
    if (this.storeDown !== null) this.pageWithoutRow(change);
    this.backlog.push(change);
    const max = this.options.maxBacklog ?? DEFAULT_MAX_BACKLOG;
    if (this.backlog.length > max) {
      const over = this.backlog.splice(0, this.backlog.length - max);
      if (this.dropped === 0) this.log(`alerts: more than ${max} alert changes wait for the store; dropping the oldest (counted in lockscope_alert_changes_dropped_total)`);
      this.dropped += over.length;
      this.options.droppedCounter?.inc(over.length);
    }
    this.drain();
  }

  /**
   * Writes the backlog in order, one change at a time. A failure keeps the change at the
   * head and retries with backoff; the outage is logged when it starts and when it ends.
   */
  private drain(): void {
    if (this.draining || this.retryTimer || this.backlog.length === 0) return;
    this.draining = true;
    this.writes = (async () => {
      try {
        while (this.backlog.length > 0) {
          const change = this.backlog[0]!;
          try {
            await (change.t.kind === 'open' ? this.writeOpen(change) : this.writeResolve(change));
          } catch (error) {
            this.onStoreFailure(error);
            return;
          }
          this.backlog.shift();
          if (this.storeDown !== null) {
            this.log(`alerts: the store takes alert writes again; writing the ${this.backlog.length + 1} alert changes kept meanwhile`);
            this.storeDown = null;
            this.retries = 0;
          }
        }
      } finally {
        this.draining = false;
      }
    })();
  }

  private onStoreFailure(error: unknown): void {
    if (this.storeDown === null) {
      this.storeDown = this.store.explain(error);
      this.log(`alerts: the store refused an alert write (${this.storeDown}); keeping alert changes and retrying, pages go out meanwhile`);
    }
    for (const change of this.backlog) this.pageWithoutRow(change);
    if (this.stopped) return;
    const delay = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** Math.min(this.retries++, 10));
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.drain();
    }, delay);
    this.retryTimer.unref();
  }

  /** The page of a change the store cannot take yet (without a delivery log), once. */
  private pageWithoutRow(change: PendingChange): void {
    if (change.paged) return;
    change.paged = true;
    this.delivery.enqueue(notificationOf(change.t, null, change.t.kind === 'resolve' ? change.t.message : null));
  }

  /** The store's alert repository takes the store's turn (safe beside the collector's batch writes on SQLite). */
  private async writeOpen(change: PendingChange): Promise<void> {
    const { t } = change;
    const row = await openAlert(this.store, {
      rule: t.rule,
      lockId: t.lockId,
      source: t.source,
      lockName: t.lockName,
      startedAt: t.at,
      value: t.value,
      threshold: t.threshold,
      message: t.message,
      openKey: t.key,
    });
    if (row && !change.paged && !this.isSilenced(row, t.at)) this.delivery.enqueue(notificationOf(t, row, null));
  }

  private async writeResolve(change: PendingChange): Promise<void> {
    const { t } = change;
    const row = await resolveAlert(this.store, t.key, t.at);
    if (row && !change.paged && !this.isSilenced(row, t.at)) this.delivery.enqueue(notificationOf(t, row, t.message));
  }

  private isSilenced(row: Alert | null, at: number): boolean {
    return row?.silencedUntil != null && Number(row.silencedUntil) > at;
  }

  private updateGauge(): void {
    const gauge = this.options.openAlertsGauge;
    if (gauge) setOpenAlertsGauge(gauge, this.engine.openCounts());
  }

  private pollHealth(): void {
    const probe = this.options.sourceHealth;
    if (!probe || this.stopped) return;
    try {
      const at = this.now();
      for (const h of probe()) this.onSourceHealth(h, at);
    } catch (error) {
      this.log(`alerts: reading source health failed: ${(error as Error).message}`);
    }
  }

  /** One timer at the engine's next deadline: rules fire at their crossing, not on the next poll. */
  private arm(): void {
    if (this.stopped || !this.started) return;
    const due = this.engine.nextDueAt();
    if (due === null) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      this.timerAt = Infinity;
      return;
    }
    if (this.timer && due >= this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = due;
    const delay = Math.min(Math.max(0, due - this.now()), 2 ** 31 - 1);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerAt = Infinity;
      this.tick(Math.max(this.now(), due));
    }, delay);
    this.timer.unref();
  }
}

/** Sets lockscope_open_alerts{rule} for every rule (0 where none is open, so the series exist). */
export function setOpenAlertsGauge(gauge: OpenAlertsGauge, counts: Map<AlertRule, number>): void {
  for (const rule of ALERT_RULES) gauge.set({ rule }, counts.get(rule) ?? 0);
}


function notificationOf(t: AlertTransition, row: Alert | null, resolution: string | null): AlertNotification {
  return {
    id: row ? row.id.toString() : null,
    status: t.kind === 'open' ? 'firing' : 'resolved',
    rule: t.rule,
    key: t.key,
    source: t.source,
    lockId: t.lockId,
    lockName: t.lockName,
    startedAt: row ? Number(row.startedAt) : t.at,
    resolvedAt: t.kind === 'resolve' ? t.at : null,
    value: t.kind === 'open' ? t.value : (row?.value ?? t.value),
    threshold: t.kind === 'open' ? t.threshold : (row?.threshold ?? t.threshold),
    message: row?.message ?? t.message,
    resolution,
  };
}

async function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
