import {
  displayKey,
  LiveHazards,
  LockscopeError,
  lockId as lockIdOf,
  LockTracker,
  type FencingReport,
  type FencingVerdict,
  type HazardChange,
  RollupAccumulator,
  RollupTier,
  type ApplyResult,
  type LockObservation,
  type LockscopeConfig,
  type SourceConfig,
} from '@lockscope/core';
import type { LockSource, ObservationSink, SourceHealth } from '@lockscope/sources';
import { lockRowOf, trackerStateOfRow, type LockRow, type Store } from '@lockscope/store';
import { AlertManager } from './alerts/index.js';
import { Batcher, type SourceUpdate } from './batcher.js';
import { CollectorMetrics, type LockCounts } from './metrics.js';
import { SpillDir } from './spill.js';
import { ForceReleaseFollower } from './force-release-follower.js';
import { workerWriter, type BatchWriter } from './store-writer.js';
import { TimerQueue } from './timer-queue.js';

export interface CollectorOptions {
  config: LockscopeConfig;
  store: Store;
  /** Builds a source from its config (injectable so tests can wrap real sources). */
  createSource: (config: SourceConfig) => LockSource;
  now?: () => number;
  log?: (line: string) => void;
  /** Where batches are written; default a worker thread with its own store connection. */
  writer?: BatchWriter;
  /** Called after every committed flush (the benchmark measures lag with it). */
  onFlushed?: (info: { committedAt: number; events: { type: string; source: string; holder: string | null; at: number }[] }) => void;
  /**
   * Where rows and alert changes the store cannot take go (past the buffer's cap, or at a
   * stop), as an absolute path (main resolves collector.spillDir beside the config). Without
   * one they are dropped, logged and counted.
   */
  spillDir?: string | null;
}

interface TrackedLock {
  tracker: LockTracker;
  source: string;
  name: string;
  /** Wall ms when the latest change of this lock was observed (for ingest lag). */
  observedAt: number;
  /** What the alert engine knows this lock by (one object, not one per change). */
  ref: { lockId: string; source: string; name: string };
  /** Since this process started, for the per-lock Prometheus series (read when scraped). */
  acquisitions: number;
  expirations: number;
  nearExpiries: number;
  /** Per tier (minute, hour): the rollup of the last change's bucket (most changes land in the same one). */
  rollups: [RollupAccumulator | null, RollupAccumulator | null];
  /** Deadlines now in the timer queue, so an unchanged one is not re-scheduled, and their queue keys. */
  nearAt: number | null;
  expAt: number | null;
  nearKey: string;
  expKey: string;
  /** Builds this lock's live row at flush time (one closure per lock, not per change). */
  buildRow: () => LockRow;
  /** Restored from the store and not yet seen by this process's source (see Collector.syncedSources). */
  awaitingSync: boolean;
}

/** A changed minute rollup is written within this long. */
const ROLLUP_FLUSH_MS = 2_000;
/**
 * Hour rollups are written less often: serialising every active lock's hour sketches each
 * 2 s cost ~7% more collector CPU at 5,000 acq/s, and a chart point of an hour or more can
 * be 10 s behind. Stopping writes everything.
 */
const HOUR_ROLLUP_FLUSH_MS = 10_000;
/**
 * Rollups are written a slice of locks at a time, every tick: writing every busy lock's
 * rollups in one flush (4,000 rows every 2 s in the benchmark, 8,000 when the hour tier
 * joined) made that flush, and the lag of everything in it, 50-100 ms longer.
 */
const ROLLUP_TICK_MS = 250;
const RETENTION_EVERY_MS = 10 * 60_000;

/**
 * The agent: runs sources, feeds the hold trackers, batches writes, fires
 * near-expiry and expiry checkpoints by timer.
 */
export class Collector {
  readonly metrics = new CollectorMetrics();
  readonly alerts: AlertManager;
  private readonly sources = new Map<string, LockSource>();
  private readonly sourceKinds = new Map<string, 'etcd' | 'redis'>();
  private readonly locks = new Map<string, TrackedLock>();
  /** Tracked locks by source and raw key (see keyOf): found without hashing the key per observation. */
  private readonly byKey = new Map<string, TrackedLock>();
  /** Minute rollups (Rollup) and hour rollups (RollupHour), accumulated side by side. */
  private readonly tiers: [RollupTier, RollupTier] = [new RollupTier('minute'), new RollupTier('hour')];
  private readonly batcher: Batcher;
  private readonly writer: BatchWriter;
  private readonly spill: SpillDir | null;
  private readonly forceReleases: ForceReleaseFollower;
  /** Safety hazards found as they happen (docs/hazards.md). */
  readonly hazards = new LiveHazards();
  private hazardTimer: NodeJS.Timeout | null = null;
  private readonly timers: TimerQueue;
  private readonly now: () => number;
  private readonly log: (line: string) => void;
  private rollupTimer: NodeJS.Timeout | null = null;
  private rollupTicks = 0;
  private retentionTimer: NodeJS.Timeout | null = null;
  private stopping = false;
  private readonly pendingChecks = new Set<Promise<void>>();
  private readonly heldCount = new Map<string, number>();
  private readonly lockCount = new Map<string, number>();
  /**
   * Sources that have delivered their first full view since this process started. Until then
   * a restored lock's deadlines wait: a hold that ended while the collector was down would
   * otherwise be judged by the clock alone and stored as `expired` at its predicted expiry,
   * with a false lease_expired, when the resync would have said its end is simply unknown.
   */
  private readonly syncedSources = new Set<string>();

  constructor(private readonly options: CollectorOptions) {
    this.now = options.now ?? Date.now;
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.metrics.readLocks = () => this.lockCounts();
    this.metrics.readHeld = () => this.heldCount;
    this.metrics.readStore = () => ({
      bufferedRows: this.batcher.bufferedRows(),
      spilledRows: this.batcher.spilledRowCount(),
      msSinceCommit: this.batcher.msSinceCommit(),
      alertBacklog: this.alerts.backlogSize(),
    });
    this.metrics.readHazards = () => this.hazards.open();
    this.spill = options.spillDir ? new SpillDir(options.spillDir) : null;
    this.forceReleases = new ForceReleaseFollower(options.store, this.now, this.log);
    this.timers = new TimerQueue((key, dueAt) => this.onTimer(key, dueAt), this.now);
    // The store as opened (a relative file: URL resolved beside the config), not the
    // config's text: the worker thread would resolve it against the working directory.
    this.writer = options.writer ?? workerWriter(options.store.url);
    this.alerts = new AlertManager({
      config: options.config.alerts,
      store: options.store,
      now: this.now,
      log: this.log,
      openAlertsGauge: this.metrics.openAlerts,
      droppedCounter: this.metrics.alertChangesDropped,
      sourceHealth: () => [...this.sources.values()].map((s) => s.health()),
    });
    this.batcher = new Batcher({
      writer: this.writer,
      describeSource: (name) => this.describeSource(name),
      sourceNames: () => this.sources.keys(),
      intervalMs: options.config.collector.flushInterval,
      metrics: this.metrics,
      now: this.now,
      log: this.log,
      onFlushed: options.onFlushed,
      spill: this.spill,
      maxBufferedRows: options.config.collector.maxBufferedRows,
      stallAfterMs: options.config.collector.storeStallAfter,
    });
  }

  /** Restores state from the store, starts every source; resolves when all have done their first sync or failed. */
  async start(): Promise<void> {
    const { config, store } = this.options;
    // What an earlier run could not write goes in first: the lock state and resume
    // revisions restored below are only right with it.
    await this.batcher.writeSpilledAtStart();
    this.batcher.start();
    // Alert changes too, before the open alerts are loaded: an open among them must be
    // known as open, so that its resolve comes.
    await this.replaySpilledAlerts();
    await this.alerts.start();
    // The current minute and hour as written before a restart: later changes add to them.
    for (const tier of this.tiers) {
      const bucket = tier.bucketOf(this.now());
      for (const row of await store.loadRollups(bucket, tier.name)) tier.restore(RollupAccumulator.fromRow(row));
    }
    await Promise.all(
      config.sources.map(async (sourceConfig) => {
        const source = this.options.createSource(sourceConfig);
        this.sources.set(source.name, source);
        this.sourceKinds.set(source.name, sourceConfig.kind);
        const saved = await store.loadSourceState(source.name);
        for (const row of await store.loadLiveLocks(source.name)) {
          try {
            const state = trackerStateOfRow(row);
            if (!state) continue;
            const tracker = LockTracker.restore(state, this.trackerOptions(source.name, row.name));
            const entry = this.track(tracker, source.name, row.name, this.now(), Buffer.from(tracker.keyHex, 'hex'));
            const hold = tracker.hold;
            if (hold) {
              this.alerts.restoreHold(
                { lockId: tracker.lockId, source: source.name, name: row.name },
                { acquiredAt: hold.acquiredAt, lastRenewedAt: hold.lastRenewedAt, ttlMs: hold.ttlMs, holder: hold.holder },
              );
            }
            this.lockCount.set(source.name, (this.lockCount.get(source.name) ?? 0) + 1);
            entry.awaitingSync = true;
          } catch (error) {
            this.log(`collector: ignoring unreadable saved state for lock ${JSON.stringify(row.name)}: ${(error as Error).message}`);
          }
        }
        this.metrics.sourceUp.set({ source: source.name }, 0);
        try {
          await source.watch({ sink: this.sinkFor(source.name), resumeRevision: saved?.resumeRevision ?? null });
          this.markSynced(source.name);
        } catch (error) {
          // A source that cannot start yet keeps retrying inside; the agent stays up.
          this.log(`collector: source ${source.name} is not watching yet: ${(error as Error).message}`);
        }
      }),
    );
    this.forceReleases.start();
    // Point-in-time hazards (a stale token used) close after a while.
    this.hazardTimer = setInterval(() => this.onHazards(this.hazards.tick(this.now())), 5_000);
    this.hazardTimer.unref();
    this.rollupTimer = setInterval(() => this.flushRollups(false), ROLLUP_TICK_MS);
    this.retentionTimer = setInterval(() => void this.purge(), RETENTION_EVERY_MS);
    this.rollupTimer.unref();
    this.retentionTimer.unref();
    this.countHeld();
  }

  /** Stops sources and timers, flushes everything buffered; bounded by deadlineMs. */
  async stop(deadlineMs = 4_000): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const deadline = this.now() + deadlineMs;
    this.timers.stop();
    await this.forceReleases.stop();
    if (this.hazardTimer) clearInterval(this.hazardTimer);
    if (this.rollupTimer) clearInterval(this.rollupTimer);
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    await withDeadline(Promise.allSettled([...this.sources.values()].map((s) => s.stop())), Math.max(100, (deadline - this.now()) / 2));
    await withDeadline(Promise.allSettled([...this.pendingChecks]), 200);
    await this.alerts.stop(Math.max(100, (deadline - this.now()) / 3));
    this.spillAlerts();
    this.flushRollups(true);
    this.enqueueLockRows([...this.locks.keys()]);
    await this.batcher.stop(Math.max(100, deadline - this.now()));
    await this.writer.close();
  }

  /**
   * A fencing report from a protected resource (POST /v1/fencing): judged against the newest
   * token granted for the lock now. The lock is named as lockctl shows it (its raw key as UTF-8).
   */
  fencingReport(report: FencingReport & { source: string; lock: string }): { verdict: FencingVerdict; newestToken: string | null } {
    const entry = this.locks.get(lockIdOf(report.source, Buffer.from(report.lock, 'utf8')));
    if (!entry) throw new LockscopeError('LOCK_NOT_FOUND', `no lock ${JSON.stringify(report.lock)} is tracked on source ${JSON.stringify(report.source)}`);
    const judged = this.hazards.onFencingReport(entry.ref, report, this.now());
    this.onHazards(judged.changes);
    return { verdict: judged.verdict, newestToken: judged.newestToken };
  }

  private onHazards(changes: HazardChange[]): void {
    for (const change of changes) {
      const h = change.hazard;
      this.batcher.addHazard({ ...h });
      this.alerts.onHazard(change);
      if (change.action === 'open') this.log(`collector: hazard ${h.kind} (${h.severity}) on ${h.source}/${JSON.stringify(h.lockName)}: ${h.detail}`);
    }
  }

  /** Alert changes the store did not take before the stop: kept for the next start. */
  private spillAlerts(): void {
    const left = this.alerts.unwritten();
    if (left.length === 0) return;
    try {
      if (!this.spill) throw new Error('no spill directory configured');
      this.spill.write('alerts', left);
      this.log(`collector: stopping with ${left.length} alert changes the store did not take; saved in ${this.spill.dir}, written at the next start`);
    } catch (error) {
      this.metrics.alertChangesDropped.inc(left.length);
      this.log(`collector: DROPPED ${left.length} alert changes the store did not take: they could not be saved to disk either (${(error as Error).message})`);
    }
  }

  private async replaySpilledAlerts(): Promise<void> {
    if (!this.spill) return;
    const files = this.spill.list('alerts');
    if (files.length === 0) return;
    for (const path of files) this.alerts.replay(this.spill.read(path) as Parameters<AlertManager['replay']>[0]);
    // In memory now, and written in order ahead of anything new.
    for (const path of files) this.spill.remove(path);
    await withDeadline(this.alerts.whenWritten(), 30_000);
  }

  health() {
    const sources = [...this.sources.values()].map((s) => {
      const h = s.health();
      return { name: h.name, connected: h.connected, lastError: h.lastError };
    });
    const store = this.batcher.health();
    return { ok: store.ok && sources.every((s) => s.connected), sources, store };
  }

  /** Milliseconds the store writer thread has spent writing (null when writes run on this thread). */
  writerBusyMs(): number | null {
    return this.writer.writingMs ? this.writer.writingMs() : null;
  }

  /** The OS thread id of the store writer's thread (Linux), for the benchmark. */
  writerThreadId(): number | null {
    return this.writer.osThreadId?.() ?? null;
  }

  /** For tests and the benchmark. */
  trackedLock(lockId: string): LockTracker | undefined {
    return this.locks.get(lockId)?.tracker;
  }

  flushNow(): Promise<void> {
    this.flushRollups(false, true);
    return this.batcher.flushNow();
  }

  private trackerOptions(source: string, name: string) {
    return { nearExpiryRatio: this.alerts.nearExpiryRatioFor(source, name) };
  }

  private sinkFor(sourceName: string): ObservationSink {
    return {
      observe: (obs) => this.onObservation(obs),
      resynced: (source, liveKeysHex, at) => this.onResynced(source, liveKeysHex, at),
      progress: (source, revision) => {
        this.batcher.setResumeRevision(source, revision);
        // Everything up to a revision has been delivered: replay after a resume is done.
        this.markSynced(source);
      },
      health: (h) => this.onHealth(sourceName, h),
    };
  }

  private onObservation(obs: LockObservation): void {
    if (this.stopping) return;
    try {
      let entry = this.byKey.get(keyOf(obs.source, obs.key));
      if (!entry) {
        const name = displayKey(obs.key);
        const tracker = LockTracker.create({ source: obs.source, key: obs.key, dialect: obs.dialect, at: obs.at }, this.trackerOptions(obs.source, name));
        entry = this.track(tracker, obs.source, name, obs.at, obs.key);
        this.lockCount.set(obs.source, (this.lockCount.get(obs.source) ?? 0) + 1);
      }
      entry.observedAt = obs.at;
      this.run(entry, (t) => t.apply(obs));
      if (entry.awaitingSync) {
        // Seen by this process: its deadlines are its own again.
        entry.awaitingSync = false;
        this.scheduleTimers(entry);
      }
    } catch (error) {
      // One malformed observation must never take the agent down.
      this.log(`collector: dropped an observation for ${JSON.stringify(displayKey(obs.key))} on ${obs.source}: ${(error as Error).stack ?? error}`);
    }
  }

  private track(tracker: LockTracker, source: string, name: string, observedAt: number, key: Uint8Array): TrackedLock {
    const entry: TrackedLock = {
      tracker,
      source,
      name,
      observedAt,
      ref: { lockId: tracker.lockId, source, name },
      acquisitions: 0,
      expirations: 0,
      nearExpiries: 0,
      rollups: [null, null],
      nearAt: null,
      expAt: null,
      nearKey: `${tracker.lockId}|near`,
      expKey: `${tracker.lockId}|exp`,
      awaitingSync: false,
      buildRow: () => lockRowOf(entry.tracker, this.now()),
    };
    this.locks.set(tracker.lockId, entry);
    this.byKey.set(keyOf(source, key), entry);
    return entry;
  }

  private *lockCounts(): Iterable<LockCounts> {
    for (const entry of this.locks.values()) {
      yield {
        source: entry.source,
        lock: entry.name,
        acquisitions: entry.acquisitions,
        expirations: entry.expirations,
        nearExpiries: entry.nearExpiries,
        waiters: entry.tracker.waiters?.length ?? null,
      };
    }
  }

  private onResynced(source: string, liveKeysHex: Set<string>, at: number): void {
    for (const entry of this.locks.values()) {
      if (entry.source !== source) continue;
      if (entry.tracker.hold && !liveKeysHex.has(entry.tracker.keyHex)) {
        this.run(entry, (t) => t.end(at, 'unknown'));
      }
    }
    this.markSynced(source);
  }

  /** The source has delivered a full view: restored locks still held get their deadlines. */
  private markSynced(source: string): void {
    if (this.syncedSources.has(source)) return;
    this.syncedSources.add(source);
    for (const entry of this.locks.values()) {
      if (entry.source !== source || !entry.awaitingSync) continue;
      entry.awaitingSync = false;
      this.scheduleTimers(entry);
    }
  }

  private onHealth(sourceName: string, health: SourceHealth): void {
    this.metrics.sourceUp.set({ source: sourceName }, health.connected ? 1 : 0);
    this.alerts.onSourceHealth(health);
    this.batcher.touchSource(sourceName);
  }

  private describeSource(name: string): SourceUpdate | undefined {
    const source = this.sources.get(name);
    if (!source) return undefined;
    const health = source.health();
    this.metrics.sourceUp.set({ source: name }, health.connected ? 1 : 0);
    return {
      name,
      kind: health.kind,
      connected: health.connected,
      lastError: health.lastError,
      lastEventAt: health.lastEventAt,
      lastSeenAt: health.lastSeenAt,
      lockCount: this.lockCount.get(name) ?? 0,
    };
  }

  private handle(entry: TrackedLock, result: ApplyResult): void {
    if (!result.changed) return;
    const { tracker } = entry;
    const lockId = tracker.lockId;
    const at = result.events[0]?.at ?? this.now();
    this.alerts.onApplyResult(entry.ref, result, tracker.waiters?.length ?? null);
    this.onHazards(this.hazards.onResult(entry.ref, tracker.dialect, result, tracker.hold?.holder ?? null, tracker.waiters));
    const minute = this.rollupFor(entry, 0, at);
    const hour = this.rollupFor(entry, 1, at);
    for (const event of result.events) {
      this.batcher.addEvent(lockId, entry.source, event);
      if (event.type === 'acquired') {
        entry.acquisitions++;
        const waitMs = result.acquired?.waitMs ?? null;
        minute.recordAcquisition(waitMs);
        hour.recordAcquisition(waitMs);
      } else if (event.type === 'near_expiry') {
        entry.nearExpiries++;
        minute.recordNearExpiry();
        hour.recordNearExpiry();
      } else if (event.type === 'expired') {
        entry.expirations++;
      }
    }
    const completed = result.completed;
    if (completed) {
      this.batcher.addHold(lockId, completed);
      minute.recordHoldEnd(completed.heldMs, completed.endReason);
      hour.recordHoldEnd(completed.heldMs, completed.endReason);
    }
    const waiters = tracker.waiters;
    if (waiters) {
      minute.sampleWaiters(waiters.length);
      hour.sampleWaiters(waiters.length);
    }
    this.tiers[0].dirty.add(minute);
    this.tiers[1].dirty.add(hour);
    this.enqueueLock(entry);
    this.scheduleTimers(entry);
  }

  /** Applies one tracker operation and keeps the per-source held count exact without rescanning. */
  private run(entry: TrackedLock, op: (tracker: LockTracker) => ApplyResult): void {
    const wasHeld = entry.tracker.hold !== null;
    const result = op(entry.tracker);
    const isHeld = entry.tracker.hold !== null;
    if (wasHeld !== isHeld) this.heldCount.set(entry.source, (this.heldCount.get(entry.source) ?? 0) + (isHeld ? 1 : -1));
    this.handle(entry, result);
  }

  private rollupFor(entry: TrackedLock, tierIndex: 0 | 1, at: number): RollupAccumulator {
    const tier = this.tiers[tierIndex];
    const bucket = tier.bucketOf(at);
    const cached = entry.rollups[tierIndex];
    // A closed bucket's accumulator holds the whole bucket, so a late change to it is still written whole.
    if (cached && cached.bucket === bucket) return cached;
    const acc = tier.accumulator(entry.tracker.lockId, entry.source, bucket);
    entry.rollups[tierIndex] = acc;
    return acc;
  }

  /**
   * Writes the changed rollups of this tick's slice of locks in each tier (each lock's every
   * ROLLUP_FLUSH_MS / HOUR_ROLLUP_FLUSH_MS). `all`: write and forget every bucket (stopping);
   * `force`: write every changed rollup now (flushNow).
   */
  private flushRollups(all: boolean, force = false): void {
    const now = this.now();
    const tick = this.rollupTicks++;
    const periods = [ROLLUP_FLUSH_MS, HOUR_ROLLUP_FLUSH_MS];
    this.tiers.forEach((tier, i) => {
      const slices = Math.max(1, Math.round(periods[i]! / ROLLUP_TICK_MS));
      const due = all || force ? undefined : (acc: RollupAccumulator) => sliceOf(acc.lockId, slices) === tick % slices;
      tier.flush(
        all,
        now,
        (acc) => {
          const row = acc.toRow();
          this.batcher.addRollup({ ...row, bucket: Number(row.bucket) }, tier.name);
        },
        due,
      );
    });
  }

  private enqueueLock(entry: TrackedLock): void {
    this.batcher.setLock(entry.tracker.lockId, entry.buildRow, entry.observedAt);
  }

  private enqueueLockRows(lockIds: string[]): void {
    for (const lockId of lockIds) {
      const entry = this.locks.get(lockId);
      if (entry) this.enqueueLock(entry);
    }
  }

  private scheduleTimers(entry: TrackedLock): void {
    if (entry.awaitingSync) return;
    const near = entry.tracker.nextNearExpiryAt();
    const expiresAt = entry.tracker.expiresAt();
    // A little after the predicted expiry, so a backend that expires on time has done so.
    const exp = expiresAt === null ? null : expiresAt + 50;
    if (near !== entry.nearAt) {
      if (near !== null) this.timers.schedule(entry.nearKey, near);
      else this.timers.cancel(entry.nearKey);
      entry.nearAt = near;
    }
    if (exp !== entry.expAt) {
      if (exp !== null) this.timers.schedule(entry.expKey, exp);
      else this.timers.cancel(entry.expKey);
      entry.expAt = exp;
    }
  }

  private onTimer(key: string, dueAt: number): void {
    const [lockId, kind] = key.split('|') as [string, 'near' | 'exp'];
    const entry = this.locks.get(lockId);
    if (!entry || this.stopping) return;
    // The queue dropped this deadline when it fired.
    if (kind === 'near') entry.nearAt = null;
    else entry.expAt = null;
    const source = this.sources.get(entry.source);
    const hold = entry.tracker.hold;
    if (!hold) return;
    // etcd keepalives are invisible: ask the lease. Redis renewals arrive as
    // `expire` events, so near-expiry needs no round trip; expiry does (lazy expiry).
    const needsCheck = kind === 'exp' || this.sourceKinds.get(entry.source) === 'etcd';
    if (!needsCheck || !source) {
      this.run(entry, (t) => t.checkpoint(Math.max(this.now(), dueAt)));
      return;
    }
    const check = source
      .checkLease(Buffer.from(entry.tracker.keyHex, 'hex'), hold.holdId)
      .then(
        (result) => {
          if (this.stopping) return;
          this.run(entry, (t) => t.checkpoint(this.now(), result));
        },
        (error: Error) => {
          // Backend unreachable: judge by time alone, and look again shortly.
          this.log(`collector: lease check for ${JSON.stringify(entry.name)} on ${entry.source} failed: ${error.message}`);
          if (this.stopping) return;
          this.run(entry, (t) => t.checkpoint(this.now()));
          if (kind === 'exp' && entry.tracker.hold) {
            entry.expAt = this.now() + 1_000;
            this.timers.schedule(key, entry.expAt);
          }
        },
      )
      .finally(() => this.pendingChecks.delete(check));
    this.pendingChecks.add(check);
  }

  /** Recounts held locks per source (at start; run() keeps it current after). */
  private countHeld(): void {
    this.heldCount.clear();
    for (const name of this.sources.keys()) this.heldCount.set(name, 0);
    for (const entry of this.locks.values()) {
      if (entry.tracker.hold) this.heldCount.set(entry.source, (this.heldCount.get(entry.source) ?? 0) + 1);
    }
  }

  private async purge(): Promise<void> {
    try {
      await this.options.store.purgeBefore(this.now() - this.options.config.collector.retention);
    } catch (error) {
      this.log(`collector: retention purge failed (will retry): ${(error as Error).message}`);
    }
  }
}

/** Which of `slices` a lock's rollups are written in (lock ids are hashes, so this spreads evenly). */
function sliceOf(lockId: string, slices: number): number {
  return ((lockId.charCodeAt(0) << 8) + (lockId.charCodeAt(1) || 0)) % slices;
}

/** Source and raw key bytes as one Map key (latin1 maps each byte to one UTF-16 unit, so it is exact). */
function keyOf(source: string, key: Uint8Array): string {
  return `${source}\u0000${Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1')}`;
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
