import type { CompletedHold, LockEvent } from '@lockscope/core';
import type { EventRow, HoldRow, LockRow, RollupRow, SourceRow, WriteBatch } from '@lockscope/store';
import type { BatchWriter } from './store-writer.js';
import type { CollectorMetrics } from './metrics.js';


export interface SourceUpdate {
  name: string;
  kind: string;
  connected: boolean;
  lastError: string | null;
  lastEventAt: number | null;
  lastSeenAt: number | null;
  lockCount: number;
}

interface Pending {
  events: EventRow[];
  holds: HoldRow[];
  /** Latest row per lock, built at flush time; observedAt for ingest lag. */
  locks: Map<string, { build: () => LockRow; observedAt: number }>;
  /** Minute and hour rollups, the latest row per (tier, lock, bucket). */
  rollups: Map<string, RollupRow>;
  rollupHours: Map<string, RollupRow>;
  /** Sources whose health changed since the last flush. */
  sources: Set<string>;
  resume: Map<string, string>;
}

const SOURCE_REFRESH_MS = 5_000;

function rowsOf(p: Pending): number {
  return p.events.length + p.holds.length + p.locks.size + p.rollups.size + p.rollupHours.size + p.sources.size + p.resume.size;
}

function emptyPending(): Pending {
  return { events: [], holds: [], locks: new Map(), rollups: new Map(), rollupHours: new Map(), sources: new Set(), resume: new Map() };
}

export interface BatcherOptions {
  writer: BatchWriter;
  /** Current health and lock count of a source, read at flush time. */
  describeSource: (name: string) => SourceUpdate | undefined;
  sourceNames: () => Iterable<string>;
  intervalMs: number;
  metrics: CollectorMetrics;
  now: () => number;
  log: (line: string) => void;
  onFlushed?: ((info: { committedAt: number; events: { type: string; source: string; holder: string | null; at: number }[] }) => void) | undefined;
}

/**
 * Buffers everything the collector wants written and flushes it as ONE store
 * transaction per interval. A failed flush is kept and retried with backoff:
 * nothing is dropped while the store is down.
 *
 * With a writer that keeps order after a failure (BatchWriter.resume), a second
 * flush may be in flight while the first is written: the store thread then never
 * waits for this thread to notice a reply and build the next batch, which under
 * load was a good part of the lag. Failed flushes go back in order, oldest first.
 */
export class Batcher {
  private pending = emptyPending();
  private timer: NodeJS.Timeout | null = null;
  /** Flushes sent and not yet answered, oldest first. */
  private readonly flushes = new Set<Promise<void>>();
  /** Batches of failed (or, after a failure, refused) flushes, oldest first, until none is in flight. */
  private failedBatches: Pending[] = [];
  private failures = 0;
  private lastError: string | null = null;
  private nextAttemptAt = 0;
  private readonly sourceState = new Map<string, Required<SourceRow>>();
  private readonly lagBySource = new Map<string, number>();
  private lastSourceRefresh = 0;

  constructor(private readonly options: BatcherOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.options.intervalMs);
  }

  async stop(deadlineMs: number): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const deadline = Date.now() + deadlineMs;
    // Keep trying until everything is written or the deadline passes.
    while (this.bufferedRows() > 0 || this.flushes.size > 0) {
      if (Date.now() > deadline) {
        this.options.log(`collector: stopped with ${this.bufferedRows()} rows not written: the store did not accept them (${this.lastError ?? 'timeout'})`);
        return;
      }
      this.nextAttemptAt = 0;
      await this.flushNow().catch(() => undefined);
      if (this.bufferedRows() > 0) await new Promise((r) => setTimeout(r, 50));
    }
  }

  health() {
    return { ok: this.failures === 0, lastError: this.lastError, bufferedRows: this.bufferedRows() };
  }

  addEvent(lockId: string, source: string, event: LockEvent): void {
    this.pending.events.push({
      lockId,
      source,
      at: event.at,
      type: event.type,
      holder: event.holder,
      token: event.token,
      ttlMs: event.ttlMs,
      valueMs: event.valueMs === null ? null : Math.round(event.valueMs),
      revision: event.revision ?? null,
      detail: event.detail ? JSON.stringify(event.detail) : null,
    });
  }

  addHold(lockId: string, hold: CompletedHold): void {
    this.pending.holds.push({ lockId, ...hold });
  }

  setLock(lockId: string, build: () => LockRow, observedAt: number): void {
    const prev = this.pending.locks.get(lockId);
    this.pending.locks.set(lockId, { build, observedAt: prev ? Math.min(prev.observedAt, observedAt) : observedAt });
  }

  addRollup(row: RollupRow, tier: 'minute' | 'hour' = 'minute'): void {
    (tier === 'hour' ? this.pending.rollupHours : this.pending.rollups).set(`${row.lockId}|${row.bucket}`, row);
  }

  /** The source's health changed: write its row with the next flush. */
  touchSource(name: string): void {
    this.pending.sources.add(name);
  }

  setResumeRevision(source: string, revision: string): void {
    this.pending.resume.set(source, revision);
  }

  bufferedRows(): number {
    return rowsOf(this.pending) + this.failedBatches.reduce((n, taken) => n + rowsOf(taken), 0);
  }

  /**
   * Sends what is buffered now (after waiting for room) and resolves when it is written;
   * with nothing new, waits for the batches in flight.
   */
  flushNow(): Promise<void> {
    if (this.flushes.size === 0 && this.failedBatches.length > 0) this.putBackFailed();
    const nothingNew = rowsOf(this.pending) === 0;
    if (nothingNew || this.flushes.size >= this.maxInFlight() || this.failedBatches.length > 0) {
      if (this.flushes.size === 0) return Promise.resolve();
      const inFlight = [...this.flushes];
      if (nothingNew) return Promise.all(inFlight).then(() => undefined);
      return Promise.race(inFlight).then(
        () => this.flushNow(),
        () => this.flushNow(),
      );
    }
    const flush: Promise<void> = this.flush().finally(() => {
      this.flushes.delete(flush);
      if (this.flushes.size === 0 && this.failedBatches.length > 0) this.putBackFailed();
    });
    this.flushes.add(flush);
    return flush;
  }

  private maxInFlight(): number {
    return this.options.writer.resume ? 2 : 1;
  }

  /** Puts every failed batch back in front of what arrived since, oldest first, and lets the writer go on. */
  private putBackFailed(): void {
    for (const taken of this.failedBatches.reverse()) this.restore(taken);
    this.failedBatches = [];
    this.options.writer.resume?.();
  }

  private async tick(): Promise<void> {
    if (this.flushes.size >= this.maxInFlight() || this.failedBatches.length > 0 || this.bufferedRows() === 0 || Date.now() < this.nextAttemptAt) return;
    const started = Date.now();
    await this.flushNow().catch(() => undefined);
    // A flush that outlasted the interval made ticks pass it by: what arrived meanwhile
    // goes now instead of waiting up to another interval.
    if (this.timer && Date.now() - started >= this.options.intervalMs) setImmediate(() => void this.tick());
  }

  private async flush(): Promise<void> {
    if (rowsOf(this.pending) === 0) return;
    const taken = this.pending;
    this.pending = emptyPending();
    const now = this.options.now();
    let oldestObservation = Infinity;
    const locks: LockRow[] = [];
    const observedBySource = new Map<string, number>();
    for (const { build, observedAt } of taken.locks.values()) {
      const row = build();
      locks.push(row);
      oldestObservation = Math.min(oldestObservation, observedAt);
      observedBySource.set(row.source, Math.min(observedBySource.get(row.source) ?? Infinity, observedAt));
    }
    const sources: Required<SourceRow>[] = [];
    const names = new Set([...taken.sources, ...taken.resume.keys(), ...observedBySource.keys()]);
    // Idle sources still get their row refreshed now and then (connected, last seen).
    if (now - this.lastSourceRefresh >= SOURCE_REFRESH_MS) {
      for (const name of this.options.sourceNames()) names.add(name);
      this.lastSourceRefresh = now;
    }
    for (const name of names) {
      const prev = this.sourceState.get(name);
      const update = this.options.describeSource(name);
      sources.push({
        name,
        kind: update?.kind ?? prev?.kind ?? 'unknown',
        connected: update?.connected ?? prev?.connected ?? false,
        lastError: update ? update.lastError : (prev?.lastError ?? null),
        lastEventAt: update?.lastEventAt ?? prev?.lastEventAt ?? null,
        lastSeenAt: update?.lastSeenAt ?? prev?.lastSeenAt ?? null,
        ingestLagMs: this.lagBySource.get(name) ?? prev?.ingestLagMs ?? null,
        resumeRevision: taken.resume.get(name) ?? prev?.resumeRevision ?? null,
        lockCount: update?.lockCount ?? prev?.lockCount ?? 0,
        updatedAt: now,
      });
    }
    // What the next batch falls back on, as soon as this one is built: with a second batch
    // built while this one is written, falling back on the last committed row would write an
    // older resume revision over this one's. A failed batch is put back whole, revision too.
    for (const row of sources) this.sourceState.set(row.name, row);
    const batch: Required<WriteBatch> = {
      sources,
      locks,
      holds: taken.holds,
      events: taken.events,
      rollups: [...taken.rollups.values()],
      rollupHours: [...taken.rollupHours.values()],
    };
    this.options.metrics.bufferedRows.set(this.bufferedRows() + batch.events.length + batch.locks.length);
    try {
      await this.options.writer.writeBatch(batch);
    } catch (error) {
      // Put back once no flush is in flight (flushNow), so that a later batch refused
      // after this one goes back behind it.
      this.failedBatches.push(taken);
      if (this.failedBatches.length > 1) throw error;
      this.failures++;
      this.lastError = (error as Error).message;
      this.options.metrics.flushFailures.inc();
      const backoff = Math.min(5_000, 100 * 2 ** Math.min(this.failures, 6));
      this.nextAttemptAt = Date.now() + backoff;
      if (this.failures === 1 || this.failures % 20 === 0) {
        this.options.log(`collector: store write failed (attempt ${this.failures}, retrying in ${backoff} ms, ${this.bufferedRows()} rows kept): ${this.lastError}`);
      }
      throw error;
    }
    if (this.failures > 0) this.options.log(`collector: store writes recovered after ${this.failures} failed attempts`);
    this.failures = 0;
    this.lastError = null;
    const committedAt = this.options.now();
    if (Number.isFinite(oldestObservation)) this.options.metrics.ingestLag.set(Math.max(0, committedAt - oldestObservation) / 1000);
    // Written with the next flush: a row cannot carry the time of its own commit.
    for (const [source, observedAt] of observedBySource) this.lagBySource.set(source, Math.max(0, Math.round(committedAt - observedAt)));
    this.options.metrics.eventsIngested.inc(batch.events.length);
    this.options.metrics.bufferedRows.set(this.bufferedRows());
    this.options.onFlushed?.({ committedAt, events: batch.events.map((e) => ({ type: e.type, source: e.source, holder: e.holder ?? null, at: e.at })) });
  }

  /** Puts a failed batch back in front of what arrived meanwhile (newer rows win). */
  private restore(taken: Pending): void {
    const p = this.pending;
    p.events = [...taken.events, ...p.events];
    p.holds = [...taken.holds, ...p.holds];
    for (const [k, v] of taken.locks) if (!p.locks.has(k)) p.locks.set(k, v);
    for (const [k, v] of taken.rollups) if (!p.rollups.has(k)) p.rollups.set(k, v);
    for (const [k, v] of taken.rollupHours) if (!p.rollupHours.has(k)) p.rollupHours.set(k, v);
    for (const name of taken.sources) p.sources.add(name);
    for (const [k, v] of taken.resume) if (!p.resume.has(k)) p.resume.set(k, v);
  }
}
