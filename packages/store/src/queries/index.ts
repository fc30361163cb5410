export type { QueryDb } from './query-db.js';
export type { LockSummary } from './lock-view.js';
export { getOverview, type Overview, type OverviewOptions } from './overview.js';
export {
  listLocks,
  LOCK_SORTS,
  LOCK_STATES,
  MAX_LOCK_PAGE,
  type LockList,
  type LockListItem,
  type LockSort,
  type LockState,
  type ListLocksOptions,
} from './list-locks.js';
export { getLockDetail, type LockDetail, type LockDetailOptions, type LiveWaiter, type OpenAlert } from './lock-detail.js';
export {
  getLockMetrics,
  defaultStep,
  ROLLUP_BUCKET_MS,
  MAX_METRIC_POINTS,
  type LockMetrics,
  type LockMetricsOptions,
  type MetricPoint,
  type Quantiles,
} from './lock-metrics.js';
export { getLockHolds, MAX_HOLDS, type HoldView, type LockHolds, type LockHoldsOptions } from './lock-holds.js';
export { MAX_RANGE_MS } from './lock-range.js';
export { listSources, type SourceView, type ListSourcesOptions } from './list-sources.js';
export { queryAlerts, getAlertDetail, acknowledgeAlert, silenceAlertFor, type AlertDetail, type AlertDelivery } from './alert-reads.js';
export { listHazards, lockHistories, HISTORY_HOLDS_PER_LOCK, type HazardQuery } from './hazards.js';
