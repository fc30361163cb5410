import { Counter, Gauge, Registry } from 'prom-client';

/** The collector's Prometheus metrics (names are a contract: see README). */
export class CollectorMetrics {
  readonly registry = new Registry();
  readonly sourceUp = new Gauge({ name: 'lockscope_source_up', help: '1 when the source is connected', labelNames: ['source'], registers: [this.registry] });
  readonly locksHeld = new Gauge({ name: 'lockscope_locks_held', help: 'Locks held now', labelNames: ['source'], registers: [this.registry] });
  readonly acquisitions = new Counter({ name: 'lockscope_acquisitions_total', help: 'Lock acquisitions observed', labelNames: ['source', 'lock'], registers: [this.registry] });
  readonly expirations = new Counter({ name: 'lockscope_lease_expirations_total', help: 'Holds that ended because the lease lapsed', labelNames: ['source', 'lock'], registers: [this.registry] });
  readonly nearExpiry = new Counter({ name: 'lockscope_near_expiry_total', help: 'Holds that crossed the near-expiry ratio of their TTL', labelNames: ['source', 'lock'], registers: [this.registry] });
  readonly waiters = new Gauge({ name: 'lockscope_lock_waiters', help: 'Visible waiters per lock', labelNames: ['source', 'lock'], registers: [this.registry] });
  readonly eventsIngested = new Counter({ name: 'lockscope_events_ingested_total', help: 'Lifecycle events written to the store', registers: [this.registry] });
  readonly ingestLag = new Gauge({ name: 'lockscope_ingest_lag_seconds', help: 'Time from observing a change to committing it in the store (last flush, max)', registers: [this.registry] });
  readonly flushFailures = new Counter({ name: 'lockscope_store_flush_failures_total', help: 'Store flushes that failed and were retried', registers: [this.registry] });
  readonly bufferedRows = new Gauge({ name: 'lockscope_buffered_rows', help: 'Rows waiting to be flushed to the store', registers: [this.registry] });
  readonly openAlerts = new Gauge({ name: 'lockscope_open_alerts', help: 'Open alerts by rule', labelNames: ['rule'], registers: [this.registry] });
}
