import { LockscopeError } from './errors.js';
import type { HoldEndReason } from './events.js';
import { LatencySketch } from './sketch.js';

export const ROLLUP_BUCKET_MS = 60_000;

/** Hour rollups (RollupHour): the same accumulators over an hour, for long ranges. */
export const HOUR_BUCKET_MS = 3_600_000;

/** Start of the minute that contains `ms` (wall ms). */
export function bucketOf(ms: number): number {
  return Math.floor(ms / ROLLUP_BUCKET_MS) * ROLLUP_BUCKET_MS;
}

/** Start of the hour that contains `ms` (wall ms). */
export function hourBucketOf(ms: number): number {
  return Math.floor(ms / HOUR_BUCKET_MS) * HOUR_BUCKET_MS;
}

/** Exactly the columns of the Rollup model in prisma/schema.prisma. */
export interface RollupRow {
  lockId: string;
  bucket: bigint;
  source: string;
  acquisitions: number;
  waitedAcquisitions: number;
  releases: number;
  expirations: number;
  nearExpiries: number;
  waitersMax: number;
  waitersSum: number;
  waitersSamples: number;
  acqLatencySketch: Uint8Array | null;
  holdTimeSketch: Uint8Array | null;
}

/** What a row read back from either database may look like (Prisma gives bigint and Uint8Array; raw SQL may give numbers or Buffers). */
export type RollupRowInput = Omit<RollupRow, 'bucket'> & { bucket: bigint | number };

/** One lock, one minute, one source: the counters and sketches of everything that happened in it. */
export class RollupAccumulator {
  readonly lockId: string;
  readonly bucket: number;
  readonly source: string;
  acquisitions = 0;
  waitedAcquisitions = 0;
  releases = 0;
  expirations = 0;
  nearExpiries = 0;
  waitersMax = 0;
  waitersSum = 0;
  waitersSamples = 0;
  /** Null until an acquisition with observable latency is recorded. */
  private acqLatency: LatencySketch | null = null;
  private holdTime: LatencySketch | null = null;

  constructor(init: { lockId: string; bucket: number; source: string }) {
    if (init.bucket !== bucketOf(init.bucket)) {
      throw new LockscopeError('INTERNAL', `A rollup bucket must start a minute; ${init.bucket} does not (use bucketOf).`);
    }
    this.lockId = init.lockId;
    this.bucket = init.bucket;
    this.source = init.source;
  }

  /**
   * One acquisition. `waitMs` null means the dialect does not show how long it waited: it
   * counts as an acquisition but adds nothing to the latency distribution (never a 0).
   */
  recordAcquisition(waitMs: number | null): void {
    this.acquisitions += 1;
    if (waitMs === null || !Number.isFinite(waitMs)) return;
    (this.acqLatency ??= new LatencySketch()).add(waitMs);
    if (waitMs > 0) this.waitedAcquisitions += 1;
  }

  /**
   * One completed hold. Force releases count as releases. Holds that ended while nobody
   * watched ('unknown') have no trustworthy duration and stay out of the hold-time sketch.
   */
  recordHoldEnd(heldMs: number, reason: HoldEndReason): void {
    if (reason === 'released' || reason === 'force_released') this.releases += 1;
    else if (reason === 'expired') this.expirations += 1;
    if (reason === 'unknown' || !Number.isFinite(heldMs)) return;
    (this.holdTime ??= new LatencySketch()).add(heldMs);
  }

  recordNearExpiry(): void {
    this.nearExpiries += 1;
  }

  /** A sample of the waiter queue length (taken on every change and periodically). */
  sampleWaiters(n: number): void {
    if (!Number.isFinite(n) || n < 0) return;
    this.waitersMax = Math.max(this.waitersMax, n);
    this.waitersSum += n;
    this.waitersSamples += 1;
  }

  /** Fold another accumulator (or a stored row) of the same lock and minute into this one. */
  merge(other: RollupAccumulator | RollupRowInput): this {
    const o = other instanceof RollupAccumulator ? other : RollupAccumulator.fromRow(other);
    if (o.lockId !== this.lockId || o.bucket !== this.bucket) {
      throw new LockscopeError('INTERNAL', `Cannot merge the rollup of ${o.lockId}@${o.bucket} into ${this.lockId}@${this.bucket}.`);
    }
    this.acquisitions += o.acquisitions;
    this.waitedAcquisitions += o.waitedAcquisitions;
    this.releases += o.releases;
    this.expirations += o.expirations;
    this.nearExpiries += o.nearExpiries;
    this.waitersMax = Math.max(this.waitersMax, o.waitersMax);
    this.waitersSum += o.waitersSum;
    this.waitersSamples += o.waitersSamples;
    if (o.acqLatency) (this.acqLatency ??= new LatencySketch()).merge(o.acqLatency);
    if (o.holdTime) (this.holdTime ??= new LatencySketch()).merge(o.holdTime);
    return this;
  }

  /** True when nothing was recorded (no row worth writing). */
  isEmpty(): boolean {
    return (
      this.acquisitions === 0 &&
      this.releases === 0 &&
      this.expirations === 0 &&
      this.nearExpiries === 0 &&
      this.waitersSamples === 0 &&
      this.acqLatency === null &&
      this.holdTime === null
    );
  }

  toRow(): RollupRow {
    return {
      lockId: this.lockId,
      bucket: BigInt(this.bucket),
      source: this.source,
      acquisitions: this.acquisitions,
      waitedAcquisitions: this.waitedAcquisitions,
      releases: this.releases,
      expirations: this.expirations,
      nearExpiries: this.nearExpiries,
      waitersMax: this.waitersMax,
      waitersSum: this.waitersSum,
      waitersSamples: this.waitersSamples,
      acqLatencySketch: this.acqLatency ? this.acqLatency.toBytes() : null,
      holdTimeSketch: this.holdTime ? this.holdTime.toBytes() : null,
    };
  }

  static fromRow(row: RollupRowInput): RollupAccumulator {
    const acc = new RollupAccumulator({ lockId: row.lockId, bucket: Number(row.bucket), source: row.source });
    acc.acquisitions = row.acquisitions;
    acc.waitedAcquisitions = row.waitedAcquisitions;
    acc.releases = row.releases;
    acc.expirations = row.expirations;
    acc.nearExpiries = row.nearExpiries;
    acc.waitersMax = row.waitersMax;
    acc.waitersSum = row.waitersSum;
    acc.waitersSamples = row.waitersSamples;
    acc.acqLatency = row.acqLatencySketch ? LatencySketch.fromBytes(row.acqLatencySketch) : null;
    acc.holdTime = row.holdTimeSketch ? LatencySketch.fromBytes(row.holdTimeSketch) : null;
    return acc;
  }
}

export interface QuantileSummary {
  p50: number;
  p95: number;
  p99: number;
  /** Values behind the quantiles. */
  count: number;
}

export interface RollupSummary {
  acquisitions: number;
  waitedAcquisitions: number;
  /** Share of acquisitions with observable latency that had to wait; null when none was observable. */
  waitedShare: number | null;
  releases: number;
  expirations: number;
  nearExpiries: number;
  /** Null when no waiter sample exists (the dialect hides waiters, or nothing was sampled). */
  waitersMax: number | null;
  waitersMean: number | null;
  /** Null when no row carries a latency sketch: not observable, never zeros. */
  acqLatency: QuantileSummary | null;
  holdTime: QuantileSummary | null;
}

export interface RollupSummaryBucket extends RollupSummary {
  /** Wall ms, inclusive. */
  start: number;
  /** Wall ms, exclusive. */
  end: number;
}

class SummaryBuilder {
  acquisitions = 0;
  waitedAcquisitions = 0;
  releases = 0;
  expirations = 0;
  nearExpiries = 0;
  waitersMax = 0;
  waitersSum = 0;
  waitersSamples = 0;
  acq: LatencySketch | null = null;
  hold: LatencySketch | null = null;

  add(row: RollupRowInput): void {
    this.acquisitions += row.acquisitions;
    this.waitedAcquisitions += row.waitedAcquisitions;
    this.releases += row.releases;
    this.expirations += row.expirations;
    this.nearExpiries += row.nearExpiries;
    this.waitersMax = Math.max(this.waitersMax, row.waitersMax);
    this.waitersSum += row.waitersSum;
    this.waitersSamples += row.waitersSamples;
    if (row.acqLatencySketch) (this.acq ??= new LatencySketch()).merge(decodeSketch(row, 'acqLatencySketch'));
    if (row.holdTimeSketch) (this.hold ??= new LatencySketch()).merge(decodeSketch(row, 'holdTimeSketch'));
  }

  build(): RollupSummary {
    const observed = this.acq?.count ?? 0;
    return {
      acquisitions: this.acquisitions,
      waitedAcquisitions: this.waitedAcquisitions,
      waitedShare: observed > 0 ? Math.min(1, this.waitedAcquisitions / observed) : null,
      releases: this.releases,
      expirations: this.expirations,
      nearExpiries: this.nearExpiries,
      waitersMax: this.waitersSamples > 0 ? this.waitersMax : null,
      waitersMean: this.waitersSamples > 0 ? this.waitersSum / this.waitersSamples : null,
      acqLatency: quantiles(this.acq),
      holdTime: quantiles(this.hold),
    };
  }
}

function decodeSketch(row: RollupRowInput, column: 'acqLatencySketch' | 'holdTimeSketch'): LatencySketch {
  try {
    return LatencySketch.fromBytes(row[column]!);
  } catch (error) {
    throw new LockscopeError('INTERNAL', `The stored ${column} of lock ${row.lockId} at bucket ${String(row.bucket)} is unreadable.`, {
      cause: error,
      details: { lockId: row.lockId, bucket: String(row.bucket), column },
    });
  }
}

function quantiles(sketch: LatencySketch | null): QuantileSummary | null {
  if (!sketch || sketch.count === 0) return null;
  return { p50: sketch.quantile(0.5)!, p95: sketch.quantile(0.95)!, p99: sketch.quantile(0.99)!, count: sketch.count };
}

/** Merge any set of rollup rows (one lock or many, any time range) into one summary. */
export function summarizeRollups(rows: Iterable<RollupRowInput>): RollupSummary {
  const b = new SummaryBuilder();
  for (const row of rows) b.add(row);
  return b.build();
}

/** Most buckets a chart may ask for: a year of minutes is far beyond any sensible chart. */
export const MAX_CHART_BUCKETS = 10_000;

/**
 * One summary per step of [fromMs, toMs) for charts, every step present (empty ones have
 * zero counts and null distributions). A row belongs to the step containing its minute start.
 */
export function bucketizeRollups(rows: Iterable<RollupRowInput>, fromMs: number, toMs: number, stepMs: number): RollupSummaryBucket[] {
  if (!Number.isFinite(fromMs) || !Number.isFinite(toMs) || !(toMs > fromMs)) {
    throw new LockscopeError('BAD_REQUEST', `A chart range needs from < to, got ${fromMs}..${toMs}.`);
  }
  if (!Number.isFinite(stepMs) || stepMs <= 0) {
    throw new LockscopeError('BAD_REQUEST', `A chart step must be a positive number of ms, got ${stepMs}.`);
  }
  const n = Math.ceil((toMs - fromMs) / stepMs);
  if (n > MAX_CHART_BUCKETS) {
    throw new LockscopeError('BAD_REQUEST', `That range and step give ${n} points; at most ${MAX_CHART_BUCKETS} are allowed. Use a larger step.`);
  }
  const builders = Array.from({ length: n }, () => new SummaryBuilder());
  for (const row of rows) {
    const t = Number(row.bucket);
    if (t < fromMs || t >= toMs) continue;
    builders[Math.floor((t - fromMs) / stepMs)]!.add(row);
  }
  return builders.map((b, i) => ({ start: fromMs + i * stepMs, end: Math.min(toMs, fromMs + (i + 1) * stepMs), ...b.build() }));
}

/**
 * One rollup granularity (minute or hour) as the collector keeps it: the
 * accumulators of open buckets, and the ones changed since the last flush.
 */
export class RollupTier {
  private readonly accs = new Map<string, RollupAccumulator>();
  readonly dirty = new Set<RollupAccumulator>();
  readonly bucketOf: (at: number) => number;

  constructor(readonly name: 'minute' | 'hour') {
    this.bucketOf = name === 'hour' ? hourBucketOf : bucketOf;
  }

  /** An accumulator read back from the store (the current bucket after a restart). */
  restore(acc: RollupAccumulator): void {
    this.accs.set(`${acc.lockId}|${acc.bucket}`, acc);
  }

  /** The accumulator of a lock's bucket, made when missing. */
  accumulator(lockId: string, source: string, bucket: number): RollupAccumulator {
    const key = `${lockId}|${bucket}`;
    let acc = this.accs.get(key);
    if (!acc) {
      acc = new RollupAccumulator({ lockId, bucket, source });
      this.accs.set(key, acc);
    }
    return acc;
  }

  /**
   * Hands every changed accumulator to `write` (with `due`, only those it accepts; the
   * rest stay changed for a later flush); closed buckets (every bucket, with `all`)
   * leave memory once written. Returns how many left.
   */
  flush(all: boolean, now: number, write: (acc: RollupAccumulator) => void, due?: (acc: RollupAccumulator) => boolean): number {
    for (const acc of this.dirty) {
      if (!all && due && !due(acc)) continue;
      write(acc);
      this.dirty.delete(acc);
    }
    const current = this.bucketOf(now);
    let closed = 0;
    for (const [key, acc] of this.accs) {
      if ((all || acc.bucket < current) && !this.dirty.has(acc)) {
        this.accs.delete(key);
        closed += 1;
      }
    }
    return closed;
  }

  get size(): number {
    return this.accs.size;
  }
}
