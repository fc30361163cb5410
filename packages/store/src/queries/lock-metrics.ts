import { HOUR_BUCKET_MS, LockscopeError, ROLLUP_BUCKET_MS, type QuantileSummary } from '@lockscope/core';
import { dialectShowsWaiters } from './lock-view.js';
import { checkRange } from './lock-range.js';
import { badRequest, readStore, type QueryDb } from './query-db.js';
import { MergedSketch } from './sketch-merge.js';

export { ROLLUP_BUCKET_MS };
/** Points per chart; 7 days at a 5-minute step is 2016. */
export const MAX_METRIC_POINTS = 2_100;

export interface LockMetricsOptions {
  db: QueryDb;
  id: string;
  from: number;
  to: number;
  /** Bucket width in ms; a multiple of one minute. Defaults to about 120 points. */
  step?: number | undefined;
}

export type Quantiles = QuantileSummary;

export interface MetricPoint {
  /** Bucket start, wall ms (aligned to the step). */
  t: number;
  /** Acquisition latency; null when nothing was acquired after an observable wait or the dialect hides waiters. */
  acquisition: Quantiles | null;
  holdTime: Quantiles | null;
  acquisitions: number;
  waitedAcquisitions: number | null;
  /** Share of acquisitions with an observed wait that had to wait; null when none was observed. */
  waitedShare: number | null;
  waitersMax: number | null;
  waitersMean: number | null;
  releases: number;
  expirations: number;
  nearExpiries: number;
}

export interface LockMetrics {
  lockId: string;
  dialect: string;
  from: number;
  to: number;
  step: number;
  /** False when the dialect leaves no trace of waiters: latency and contention are "not observable", never 0. */
  waitersObservable: boolean;
  points: MetricPoint[];
  totals: Omit<MetricPoint, 't'>;
  /** Rollup sketches that did not decode and were left out (0 unless the store is damaged). */
  corruptSketches: number;
}

interface RawRollup {
  bucket: bigint | number;
  acquisitions: number | bigint;
  waitedAcquisitions: number | bigint;
  releases: number | bigint;
  expirations: number | bigint;
  nearExpiries: number | bigint;
  waitersMax: number | bigint;
  waitersSum: number;
  waitersSamples: number | bigint;
  acqLatencySketch: Uint8Array | null;
  holdTimeSketch: Uint8Array | null;
}

/**
 * About 120 points: whole minutes, or whole hours once a point spans an hour or more
 * (from about 5 days up), so long ranges are read from the hour rollups.
 */
export function defaultStep(from: number, to: number): number {
  const raw = (to - from) / 120;
  const unit = raw >= HOUR_BUCKET_MS ? HOUR_BUCKET_MS : ROLLUP_BUCKET_MS;
  return Math.max(ROLLUP_BUCKET_MS, Math.ceil(raw / unit) * unit);
}

/**
 * Same arithmetic as core's summarizeRollups/bucketizeRollups, but each row's
 * sketches are decoded once and the range total is merged from the step
 * sketches: decoding is what a 7-day range (10,080 minute rows) spends its time on.
 */
class Step {
  acq = new MergedSketch();
  hold = new MergedSketch();
  acquisitions = 0;
  waited = 0;
  releases = 0;
  expirations = 0;
  nearExpiries = 0;
  waitersMax = 0;
  waitersSum = 0;
  waitersSamples = 0;

  absorb(o: Step): void {
    this.acq.merge(o.acq);
    this.hold.merge(o.hold);
    this.acquisitions += o.acquisitions;
    this.waited += o.waited;
    this.releases += o.releases;
    this.expirations += o.expirations;
    this.nearExpiries += o.nearExpiries;
    this.waitersMax = Math.max(this.waitersMax, o.waitersMax);
    this.waitersSum += o.waitersSum;
    this.waitersSamples += o.waitersSamples;
  }

  view(observable: boolean): Omit<MetricPoint, 't'> {
    const observed = this.acq.count;
    return {
      acquisition: observable ? this.acq.summary() : null,
      holdTime: this.hold.summary(),
      acquisitions: this.acquisitions,
      waitedAcquisitions: observable ? this.waited : null,
      waitedShare: observable && observed > 0 ? Math.min(1, this.waited / observed) : null,
      waitersMax: observable && this.waitersSamples > 0 ? this.waitersMax : null,
      waitersMean: observable && this.waitersSamples > 0 ? this.waitersSum / this.waitersSamples : null,
      releases: this.releases,
      expirations: this.expirations,
      nearExpiries: this.nearExpiries,
    };
  }
}

/**
 * Time series for one lock, from the minute rollups (the hour rollups for whole-hour
 * steps) only: every quantile is a
 * merge of the rollups' sketches, never a scan of raw events.
 */
export async function getLockMetrics(options: LockMetricsOptions): Promise<LockMetrics> {
  const { db, id, from, to } = options;
  checkRange({ from, to });
  const step = options.step ?? defaultStep(from, to);
  if (!Number.isInteger(step) || step < ROLLUP_BUCKET_MS || step % ROLLUP_BUCKET_MS !== 0) {
    throw badRequest(`step must be a whole number of minutes in ms (a multiple of ${ROLLUP_BUCKET_MS})`);
  }
  // Steps start on multiples of the step so a refresh keeps the same buckets.
  const start = Math.floor(from / step) * step;
  const count = Math.ceil((to - start) / step);
  if (count > MAX_METRIC_POINTS) throw badRequest(`from/to/step would give ${count} points; at most ${MAX_METRIC_POINTS}. Use a larger step.`);

  // Whole-hour steps start on whole hours: the hour rollups answer them with 1/60 of the rows.
  const hourly = step % HOUR_BUCKET_MS === 0;
  const [lock, rollups] = await readStore('lock metrics', () =>
    Promise.all([
      db.lock.findUnique({ where: { id }, select: { id: true, dialect: true } }),
      // Raw: for a 7-day range of minutes (10,080 rows) Prisma's row mapping costs more than the query.
      hourly
        ? db.$queryRaw<RawRollup[]>`SELECT "bucket", "acquisitions", "waitedAcquisitions", "releases", "expirations", "nearExpiries", "waitersMax", "waitersSum", "waitersSamples", "acqLatencySketch", "holdTimeSketch" FROM "RollupHour" WHERE "lockId" = ${id} AND "bucket" >= ${BigInt(start)} AND "bucket" < ${BigInt(to)}`
        : db.$queryRaw<RawRollup[]>`SELECT "bucket", "acquisitions", "waitedAcquisitions", "releases", "expirations", "nearExpiries", "waitersMax", "waitersSum", "waitersSamples", "acqLatencySketch", "holdTimeSketch" FROM "Rollup" WHERE "lockId" = ${id} AND "bucket" >= ${BigInt(start)} AND "bucket" < ${BigInt(to)}`,
    ]),
  );
  if (!lock) throw new LockscopeError('LOCK_NOT_FOUND', `no lock with id "${id}" in the store`, { details: { id } });
  const observable = dialectShowsWaiters(lock.dialect);
  const steps = Array.from({ length: count }, () => new Step());
  for (const r of rollups) {
    const s = steps[Math.floor((Number(r.bucket) - start) / step)];
    if (!s) continue;
    if (observable) s.acq.add(r.acqLatencySketch);
    s.hold.add(r.holdTimeSketch);
    // Raw rows may carry bigint for integer columns depending on the driver.
    s.acquisitions += Number(r.acquisitions);
    s.waited += Number(r.waitedAcquisitions);
    s.releases += Number(r.releases);
    s.expirations += Number(r.expirations);
    s.nearExpiries += Number(r.nearExpiries);
    s.waitersMax = Math.max(s.waitersMax, Number(r.waitersMax));
    s.waitersSum += Number(r.waitersSum);
    s.waitersSamples += Number(r.waitersSamples);
  }
  const total = new Step();
  for (const s of steps) total.absorb(s);
  return {
    lockId: id,
    dialect: lock.dialect,
    from,
    to,
    step,
    waitersObservable: observable,
    points: steps.map((s, i) => ({ t: start + i * step, ...s.view(observable) })),
    totals: total.view(observable),
    corruptSketches: total.acq.corrupt + total.hold.corrupt,
  };
}
