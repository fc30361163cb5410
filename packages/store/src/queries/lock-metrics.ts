import { bucketizeRollups, LockscopeError, ROLLUP_BUCKET_MS, summarizeRollups, type QuantileSummary, type RollupSummary } from '@lockscope/core';
import { dialectShowsWaiters } from './lock-view.js';
import { checkRange } from './lock-range.js';
import { badRequest, readStore, type QueryDb } from './query-db.js';

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
  /** Share of observed acquisitions that had to wait; null when none was observed. */
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
}

export function defaultStep(from: number, to: number): number {
  const raw = (to - from) / 120;
  return Math.max(ROLLUP_BUCKET_MS, Math.ceil(raw / ROLLUP_BUCKET_MS) * ROLLUP_BUCKET_MS);
}

function view(s: RollupSummary, observable: boolean): Omit<MetricPoint, 't'> {
  return {
    acquisition: observable ? s.acqLatency : null,
    holdTime: s.holdTime,
    acquisitions: s.acquisitions,
    waitedAcquisitions: observable ? s.waitedAcquisitions : null,
    waitedShare: observable ? s.waitedShare : null,
    waitersMax: observable ? s.waitersMax : null,
    waitersMean: observable ? s.waitersMean : null,
    releases: s.releases,
    expirations: s.expirations,
    nearExpiries: s.nearExpiries,
  };
}

/**
 * Time series for one lock, from per-minute rollups only: every quantile is a
 * merge of the rollups' sketches (core's bucketizeRollups), never a scan of raw events.
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

  const [lock, rollups] = await readStore('lock metrics', () =>
    Promise.all([
      db.lock.findUnique({ where: { id }, select: { id: true, dialect: true } }),
      db.rollup.findMany({ where: { lockId: id, bucket: { gte: BigInt(start), lt: BigInt(to) } }, orderBy: { bucket: 'asc' } }),
    ]),
  );
  if (!lock) throw new LockscopeError('LOCK_NOT_FOUND', `no lock with id "${id}" in the store`, { details: { id } });
  const observable = dialectShowsWaiters(lock.dialect);
  let buckets;
  let totals;
  try {
    buckets = bucketizeRollups(rollups, start, start + count * step, step);
    totals = summarizeRollups(rollups);
  } catch (error) {
    // The range was checked above; what fails here is a stored sketch that does not decode.
    if (error instanceof Error && error.name === 'LockscopeError') throw new LockscopeError('INTERNAL', `a rollup of lock "${id}" in the store is damaged: ${error.message}`, { cause: error });
    throw error;
  }
  return {
    lockId: id,
    dialect: lock.dialect,
    from,
    to,
    step,
    waitersObservable: observable,
    points: buckets.map((b) => ({ t: b.start, ...view(b, observable) })),
    totals: view(totals, observable),
  };
}
