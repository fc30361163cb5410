import type { CompletedHold, LockEvent } from '@lockscope/core';
import type { EventRow, HazardRow, HoldRow, LockRow, RollupRow, SourceRow, WriteBatch } from '@lockscope/store';
import { LockscopeError } from '@lockscope/core';
import type { BatchWriter } from './store-writer.js';
import type { CollectorMetrics } from './metrics.js';
import type { SpillDir } from './spill.js';


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
  /** Hazards found or changed, the latest row per hazard id. */
  hazards: Map<string, HazardRow>;
  /** Sources whose health changed since the last flush. */
  sources: Set<string>;
  resume: Map<string, string>;
}

const SOURCE_REFRESH_MS = 5_000;

function rowsOf(p: Pending): number {
  return p.events.length + p.holds.length + p.locks.size + p.rollups.size + p.rollupHours.size + p.hazards.size + p.sources.size + p.resume.size;
}

function emptyPending(): Pending {
  return { events: [], holds: [], locks: new Map(), rollups: new Map(), rollupHours: new Map(), hazards: new Map(), sources: new Set(), resume: new Map() };
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
  /**
   * Where rows go when the buffer passes maxBufferedRows while the store is down, or a stop
   * cannot write them; written to the store first when it takes writes again. Without one,
   * such rows are dropped, logged and counted (lockscope_dropped_rows_total).
   */
  spill?: SpillDir | null;
  /** Rows kept in memory while the store is down before they go to the spill (default 200,000). */
  maxBufferedRows?: number;
  /** No commit for this long while rows wait: health reports the store stalled (default 30 s). */
  stallAfterMs?: number;
}

/** A spilled batch as written to disk. */
interface SpilledBatch {
  rows: number;
  batch: Required<WriteBatch>;
}

const DEFAULT_MAX_BUFFERED_ROWS = 200_000;
const DEFAULT_STALL_AFTER_MS = 30_000;

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
  /** Batches being written now, oldest first (a stop that cannot wait spills them). */
  private readonly inFlight = new Set<Pending>();
  private inFlightRows = 0;
  /** Spilled batch files still to write, oldest first; while any is left, nothing newer is written. */
  private spilled: string[] = [];
  private spilledRows = 0;
  private writingSpill = false;
  private droppedRows = 0;
  /** Set when a flush starts with none waiting; cleared by a commit. Health reads the stall from it. */
  private waitingSince: number | null = null;
  private lastCommitAt: number;
  /** Whether this outage's spilling was logged (one line per outage). */
  private spillLogged = false;

  constructor(private readonly options: BatcherOptions) {
    this.lastCommitAt = options.now();
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.options.intervalMs);
  }

  async stop(deadlineMs: number): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const deadline = Date.now() + deadlineMs;
    // Keep trying until everything is written or the deadline passes.
    while (this.bufferedRows() > 0 || this.flushes.size > 0 || this.spilled.length > 0) {
      if (Date.now() > deadline) {
        this.spillForStop();
        return;
      }
      this.nextAttemptAt = 0;
      // Wait for an answer, but not past the deadline: a stalled store never answers.
      await Promise.race([this.flushNow().catch(() => undefined), new Promise((r) => setTimeout(r, Math.max(10, deadline - Date.now())))]);
      if (this.bufferedRows() > 0) await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * Writes the batches an earlier run spilled, oldest first, before anything else (the
   * collector calls this at start, before it restores lock state from the store: that
   * state and the etcd resume revisions are only right once these rows are in).
   */
  async writeSpilledAtStart(): Promise<number> {
    const spill = this.options.spill;
    if (!spill) return 0;
    const files = spill.list('batch');
    let rows = 0;
    for (const path of files) {
      const saved = spill.read(path) as SpilledBatch;
      try {
        await this.options.writer.writeBatch(saved.batch);
      } catch (error) {
        this.options.writer.resume?.();
        throw new LockscopeError(
          'STORE_UNAVAILABLE',
          `the store did not take the ${files.length} batch(es) an earlier run saved in ${spill.dir} (${(error as Error).message.split('\n')[0]}); they stay there and are written at the next start`,
          { cause: error },
        );
      }
      spill.remove(path);
      rows += saved.rows;
    }
    if (files.length > 0) this.options.log(`collector: wrote ${rows} rows an earlier run had saved in ${spill.dir} while the store was down`);
    return rows;
  }

  health() {
    const now = this.options.now();
    const stallAfter = this.options.stallAfterMs ?? DEFAULT_STALL_AFTER_MS;
    const waitingMs = this.waitingSince === null ? 0 : Math.max(0, now - this.waitingSince);
    const stalled = waitingMs > stallAfter;
    let lastError = this.lastError;
    if (stalled && lastError === null) lastError = `no store write has committed for ${Math.round(waitingMs / 1000)} s (the store is not answering)`;
    return {
      ok: this.failures === 0 && !stalled,
      lastError,
      bufferedRows: this.bufferedRows(),
      spilledRows: this.spilledRows,
      droppedRows: this.droppedRows,
      msSinceCommit: Math.max(0, now - this.lastCommitAt),
    };
  }

  /** Rows kept on disk until the store takes them. */
  spilledRowCount(): number {
    return this.spilledRows;
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

  addHazard(row: HazardRow): void {
    this.pending.hazards.set(row.id, row);
  }

  /** The source's health changed: write its row with the next flush. */
  touchSource(name: string): void {
    this.pending.sources.add(name);
  }

  setResumeRevision(source: string, revision: string): void {
    this.pending.resume.set(source, revision);
  }

  /** Rows in memory not yet committed: buffered, failed and being written. */
  bufferedRows(): number {
    return rowsOf(this.pending) + this.failedBatches.reduce((n, taken) => n + rowsOf(taken), 0) + this.inFlightRows;
  }

  /** Milliseconds since the last commit (lockscope_store_last_commit_age_seconds). */
  msSinceCommit(): number {
    return Math.max(0, this.options.now() - this.lastCommitAt);
  }

  /**
   * Sends what is buffered now (after waiting for room) and resolves when it is written;
   * with nothing new, waits for the batches in flight.
   */
  flushNow(): Promise<void> {
    if (this.flushes.size === 0 && this.failedBatches.length > 0) this.putBackFailed();
    if (this.spilled.length > 0) return this.writeSpilled();
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
    if (this.flushes.size === 0) {
      if (this.failedBatches.length > 0) this.putBackFailed();
      // The store is down and the buffer has outgrown memory: the rest waits on disk.
      if (this.failures > 0 && rowsOf(this.pending) > (this.options.maxBufferedRows ?? DEFAULT_MAX_BUFFERED_ROWS)) this.spillPending();
    }
    if (this.flushes.size >= this.maxInFlight() || this.failedBatches.length > 0 || Date.now() < this.nextAttemptAt) return;
    if (this.bufferedRows() === 0 && this.spilled.length === 0) return;
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
    const { batch, oldestObservation, observedBySource } = this.build(taken);
    const rows = rowsOf(taken);
    this.inFlight.add(taken);
    this.inFlightRows += rows;
    this.waitingSince ??= this.options.now();
    try {
      await this.options.writer.writeBatch(batch);
    } catch (error) {
      // Put back once no flush is in flight (flushNow), so that a later batch refused
      // after this one goes back behind it.
      this.failedBatches.push(taken);
      if (this.failedBatches.length > 1) throw error;
      this.noteFailure(error);
      throw error;
    } finally {
      this.inFlight.delete(taken);
      this.inFlightRows -= rows;
    }
    this.noteCommit(oldestObservation, observedBySource, batch);
  }

  /** Turns buffered changes into the rows of one store transaction. */
  private build(taken: Pending): { batch: Required<WriteBatch>; oldestObservation: number; observedBySource: Map<string, number> } {
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
      hazards: [...taken.hazards.values()],
    };
    return { batch, oldestObservation, observedBySource };
  }

  private noteFailure(error: unknown): void {
    this.failures++;
    // One line: driver errors (Prisma's above all) run over many.
    this.lastError = oneLine(error);
    this.options.metrics.flushFailures.inc();
    const backoff = Math.min(5_000, 100 * 2 ** Math.min(this.failures, 6));
    this.nextAttemptAt = Date.now() + backoff;
    // Once when the outage begins; its end is logged by noteCommit.
    if (this.failures === 1) {
      this.options.log(`collector: store write failed, keeping rows and retrying (up to every 5 s) until it takes them: ${this.lastError}`);
    }
  }

  private noteCommit(oldestObservation: number, observedBySource: Map<string, number>, batch: Required<WriteBatch>): void {
    if (this.failures > 0) {
      const waited = this.waitingSince === null ? 0 : this.options.now() - this.waitingSince;
      this.options.log(`collector: store writes recovered after ${this.failures} failed attempts (${Math.round(waited / 1000)} s); ${this.bufferedRows()} rows still buffered, ${this.spilledRows} on disk`);
    }
    this.failures = 0;
    this.lastError = null;
    this.spillLogged = false;
    const committedAt = this.options.now();
    // A batch still being written may be the one that hangs: its wait starts now.
    this.waitingSince = this.inFlight.size > 0 ? committedAt : null;
    this.lastCommitAt = committedAt;
    if (Number.isFinite(oldestObservation)) this.options.metrics.ingestLag.set(Math.max(0, committedAt - oldestObservation) / 1000);
    // Written with the next flush: a row cannot carry the time of its own commit.
    for (const [source, observedAt] of observedBySource) this.lagBySource.set(source, Math.max(0, Math.round(committedAt - observedAt)));
    this.options.metrics.eventsIngested.inc(batch.events.length);
    this.options.onFlushed?.({ committedAt, events: batch.events.map((e) => ({ type: e.type, source: e.source, holder: e.holder ?? null, at: e.at })) });
  }

  /** Writes the oldest spilled batch; the others, and everything newer, wait for it. */
  private async writeSpilled(): Promise<void> {
    const spill = this.options.spill;
    const path = this.spilled[0];
    if (!spill || !path || this.writingSpill) return;
    this.writingSpill = true;
    try {
      const saved = spill.read(path) as SpilledBatch;
      this.waitingSince ??= this.options.now();
      try {
        await this.options.writer.writeBatch(saved.batch);
      } catch (error) {
        this.noteFailure(error);
        this.options.writer.resume?.();
        throw error;
      }
      spill.remove(path);
      this.spilled.shift();
      this.spilledRows -= saved.rows;
      this.noteCommit(Infinity, new Map(), saved.batch);
    } finally {
      this.writingSpill = false;
    }
  }

  /** Moves what is buffered now to the spill (or, without one, drops and counts it). */
  private spillPending(): void {
    const taken = this.pending;
    const rows = rowsOf(taken);
    if (rows === 0) return;
    this.pending = emptyPending();
    const { batch } = this.build(taken);
    const spill = this.options.spill;
    try {
      if (!spill) throw new Error('no spill directory configured');
      const path = spill.write('batch', { rows, batch } satisfies SpilledBatch);
      this.spilled.push(path);
      this.spilledRows += rows;
      if (!this.spillLogged) {
        this.spillLogged = true;
        this.options.log(`collector: the store is down and the buffer passed its cap; keeping rows on disk in ${spill.dir} (written first when the store is back)`);
      }
    } catch (error) {
      this.droppedRows += rows;
      this.options.metrics.droppedRows.inc(rows);
      this.options.log(`collector: DROPPED ${rows} rows the store could not take: they could not be saved to disk either (${(error as Error).message})`);
    }
  }

  /** At a stop that cannot wait any longer: everything not committed goes to the spill, oldest first. */
  private spillForStop(): void {
    for (const taken of [...this.inFlight].reverse()) this.restore(taken);
    for (const taken of [...this.failedBatches].reverse()) this.restore(taken);
    this.inFlight.clear();
    this.inFlightRows = 0;
    this.failedBatches = [];
    const rows = rowsOf(this.pending);
    if (rows === 0) return;
    const before = this.droppedRows;
    this.spillLogged = true;
    this.spillPending();
    if (this.droppedRows === before) {
      this.options.log(`collector: stopping with ${rows} rows the store did not take (${this.lastError ?? 'no answer'}); saved in ${this.options.spill!.dir}, written at the next start`);
    }
  }

  /** Puts a failed batch back in front of what arrived meanwhile (newer rows win). */
  private restore(taken: Pending): void {
    const p = this.pending;
    p.events = [...taken.events, ...p.events];
    p.holds = [...taken.holds, ...p.holds];
    for (const [k, v] of taken.locks) if (!p.locks.has(k)) p.locks.set(k, v);
    for (const [k, v] of taken.rollups) if (!p.rollups.has(k)) p.rollups.set(k, v);
    for (const [k, v] of taken.rollupHours) if (!p.rollupHours.has(k)) p.rollupHours.set(k, v);
    for (const [k, v] of taken.hazards) if (!p.hazards.has(k)) p.hazards.set(k, v);
    for (const name of taken.sources) p.sources.add(name);
    for (const [k, v] of taken.resume) if (!p.resume.has(k)) p.resume.set(k, v);
  }
}

/**
 * A write error in one line for the log and /healthz: driver errors run over many (Prisma's
 * invocation banner and code frame, a stack), of which only the sentences say what is wrong.
 */
function oneLine(error: unknown): string {
  const text = error instanceof Error ? error.message || error.name : String(error);
  const kept = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^at\s/.test(l) && !/^Invalid `.*` invocation/.test(l) && !/^(→\s*)?\d+\s/.test(l) && !l.startsWith('→'));
  const line = kept.join(' ');
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
