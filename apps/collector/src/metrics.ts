import { HAZARD_KINDS } from '@lockscope/core';
import { Counter, Gauge, Registry } from 'prom-client';

/** One lock's figures since this process started, as the per-lock series report them. */
export interface LockCounts {
  source: string;
  lock: string;
  acquisitions: number;
  expirations: number;
  nearExpiries: number;
  /** Visible waiters now; null when the lock's dialect does not show them. */
  waiters: number | null;
}

/**
 * The collector's Prometheus metrics (names are a contract: see README).
 *
 * Per-lock and per-source figures are read from the collector when scraped
 * (`readLocks`, `readHeld`) instead of being pushed into prom-client on every
 * change: each labelled update hashes its labels, which at thousands of
 * acquisitions a second was measurable, while a scrape comes every few seconds.
 */
export class CollectorMetrics {
  readonly registry = new Registry();
  /** Set by the collector: every tracked lock's figures, and the held count per source. */
  readLocks: () => Iterable<LockCounts> = () => [];
  readHeld: () => Iterable<[source: string, held: number]> = () => [];

  readonly sourceUp = new Gauge({ name: 'lockscope_source_up', help: '1 when the source is connected', labelNames: ['source'], registers: [this.registry] });
  readonly locksHeld = gaugeFrom(this, { name: 'lockscope_locks_held', help: 'Locks held now', labelNames: ['source'] }, function* (m) {
    for (const [source, held] of m.readHeld()) yield [{ source }, held];
  });
  readonly acquisitions = counterFrom(this, { name: 'lockscope_acquisitions_total', help: 'Lock acquisitions observed' }, (c) => c.acquisitions);
  readonly expirations = counterFrom(this, { name: 'lockscope_lease_expirations_total', help: 'Holds that ended because the lease lapsed' }, (c) => c.expirations);
  readonly nearExpiry = counterFrom(this, { name: 'lockscope_near_expiry_total', help: 'Holds that crossed the near-expiry ratio of their TTL' }, (c) => c.nearExpiries);
  readonly waiters = gaugeFrom(this, { name: 'lockscope_lock_waiters', help: 'Visible waiters per lock', labelNames: ['source', 'lock'] }, function* (m) {
    for (const c of m.readLocks()) if (c.waiters !== null) yield [{ source: c.source, lock: c.lock }, c.waiters];
  });
  readonly eventsIngested = new Counter({ name: 'lockscope_events_ingested_total', help: 'Lifecycle events written to the store', registers: [this.registry] });
  readonly ingestLag = new Gauge({ name: 'lockscope_ingest_lag_seconds', help: 'Time from observing a change to committing it in the store (last flush, max)', registers: [this.registry] });
  readonly flushFailures = new Counter({ name: 'lockscope_store_flush_failures_total', help: 'Store flushes that failed and were retried', registers: [this.registry] });
  /** Set by the collector: what waits for the store now (read when scraped, so it is never stale). */
  readStore: () => { bufferedRows: number; spilledRows: number; msSinceCommit: number; alertBacklog: number } = () => ({ bufferedRows: 0, spilledRows: 0, msSinceCommit: 0, alertBacklog: 0 });
  readonly bufferedRows = scalarFrom(this, { name: 'lockscope_buffered_rows', help: 'Rows in memory not yet committed to the store (buffered, retried or being written)' }, (s) => s.bufferedRows);
  readonly spilledRows = scalarFrom(this, { name: 'lockscope_spilled_rows', help: 'Rows kept on local disk while the store was down, not yet written' }, (s) => s.spilledRows);
  readonly commitAge = scalarFrom(this, { name: 'lockscope_store_last_commit_age_seconds', help: 'Seconds since the last store commit' }, (s) => s.msSinceCommit / 1000);
  readonly alertBacklog = scalarFrom(this, { name: 'lockscope_alert_changes_buffered', help: 'Alert opens and resolves waiting for the store' }, (s) => s.alertBacklog);
  readonly droppedRows = new Counter({ name: 'lockscope_dropped_rows_total', help: 'Rows lost: the store did not take them and they could not be saved to disk', registers: [this.registry] });
  readonly alertChangesDropped = new Counter({ name: 'lockscope_alert_changes_dropped_total', help: 'Alert changes dropped because too many waited for the store', registers: [this.registry] });
  readonly openAlerts = new Gauge({ name: 'lockscope_open_alerts', help: 'Open alerts by rule', labelNames: ['rule'], registers: [this.registry] });
  /** Set by the collector: hazards open now. */
  readHazards: () => readonly { kind: string }[] = () => [];
  readonly openHazards = gaugeFrom(this, { name: 'lockscope_open_hazards', help: 'Safety hazards open now, by kind (docs/hazards.md)', labelNames: ['kind'] }, function* (m) {
    const counts = new Map<string, number>(HAZARD_KINDS.map((k) => [k, 0]));
    for (const h of m.readHazards()) counts.set(h.kind, (counts.get(h.kind) ?? 0) + 1);
    for (const [kind, n] of counts) yield [{ kind }, n];
  });
}

/** A per-lock counter whose values are read from the collector at scrape time (series appear once non-zero). */
function counterFrom(metrics: CollectorMetrics, config: { name: string; help: string }, value: (c: LockCounts) => number): Counter<'source' | 'lock'> {
  return new Counter({
    ...config,
    labelNames: ['source', 'lock'],
    registers: [metrics.registry],
    collect() {
      this.reset();
      for (const c of metrics.readLocks()) {
        const n = value(c);
        if (n > 0) this.inc({ source: c.source, lock: c.lock }, n);
      }
    },
  });
}

function gaugeFrom<L extends string>(
  metrics: CollectorMetrics,
  config: { name: string; help: string; labelNames: L[] },
  values: (m: CollectorMetrics) => Iterable<[Record<L, string>, number]>,
): Gauge<L> {
  return new Gauge({
    ...config,
    registers: [metrics.registry],
    collect() {
      this.reset();
      for (const [labels, n] of values(metrics)) this.set(labels, n);
    },
  });
}

/** An unlabelled gauge read from the collector's store state at scrape time. */
function scalarFrom(
  metrics: CollectorMetrics,
  config: { name: string; help: string },
  value: (s: ReturnType<CollectorMetrics['readStore']>) => number,
): Gauge {
  return new Gauge({
    ...config,
    registers: [metrics.registry],
    collect() {
      this.set(value(metrics.readStore()));
    },
  });
}
