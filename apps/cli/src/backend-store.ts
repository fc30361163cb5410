// Bundle entry dist/backend-store.js: the store with Prisma and its drivers,
// which `ls` never needs. Loaded by load-backends.ts on first use.
export { openStore } from '@lockscope/store';
// `lockctl alerts` reads and acts through the same functions as the dashboard API.
export { listAlerts, ackAlert, silenceAlert, parseAlertId } from '@lockscope/store';
// `lockctl doctor` reads what the collector found and each lock's history.
export { listHazards, lockHistories } from '@lockscope/store';
// `ls` checks a SQLite store exists before opening it (opening would create it).
export { parseStoreUrl } from '@lockscope/store';
