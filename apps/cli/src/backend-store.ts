// Bundle entry dist/backend-store.js: the store with Prisma and its drivers,
// which `ls` never needs. Loaded by load-backends.ts on first use.
export { openStore } from '@lockscope/store';
