// The one place that owns the Prisma client: everything else in the repo
// imports the store from here, never @prisma/client or generated paths.
export { openStore, type Store, type StoreClient, type OpenStoreOptions } from './store.js';
export { migrate, readMigrations, findMigrationsDir, type MigrateResult, type MigrateOptions, type MigrationFile } from './migrate.js';
export { parseStoreUrl, redactUrl, storeLeftBehind, DEFAULT_STORE_URL, type StoreProvider, type ParsedStoreUrl } from './url.js';
export { MAX_PARAMS_PER_STATEMENT } from './write-batch.js';
export { lockRowOf, trackerStateOfRow } from './lock-row.js';
export type { ForceReleaseAudit } from './force-release-repo.js';
export type { PurgeOptions } from './read.js';
export type * from './types.js';
// Model types of the generated client (identical for both providers), for typed reads.
export type { Source, Lock, Hold, Event, Rollup, Alert, Delivery, AuditRecord, Prisma } from './generated/postgresql/client/client.js';
export * from './queries/index.js';
export {
  ackAlert,
  silenceAlert,
  listAlerts,
  listDeliveries,
  alertView,
  parseAlertId,
  loadFiringAlerts,
  openAlert,
  resolveAlert,
  recordDelivery,
  type AlertView,
  type ListAlertsOptions,
  type AckAlertInput,
  type SilenceAlertInput,
  type OpenAlertInput,
  type DeliveryInput,
} from './alerts-repo.js';
