// The client type on its own, so that the repositories and the batch writer need not
// import store.ts (which imports them).
import type { PrismaClient } from './generated/postgresql/client/client.js';

/**
 * The typed Prisma client. Both generated clients (sqlite, postgresql) come
 * from the same schema and have the same model API; the PostgreSQL client's
 * type stands for both, and the SQLite client is cast to it in openStore.
 * Provider-specific SQL (raw queries) must check `store.provider`.
 * On SQLite, queries made directly on this client in the process that also
 * calls writeBatch can land inside an open batch transaction (the adapter
 * shares one connection); use the Store methods or store.serialized() there.
 */
export type StoreClient = PrismaClient;
