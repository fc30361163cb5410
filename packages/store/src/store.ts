import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { migrate, type MigrateOptions, type MigrateResult } from './migrate.js';
import { DEFAULT_BUSY_TIMEOUT_MS, enableWal } from './sqlite-wal.js';
import { driverMessage, storeUnavailable } from './store-error.js';
import type { StoreClient } from './store-client.js';
import { listForceReleases, markForceReleased, type ForceReleaseAudit } from './force-release-repo.js';
import { parseStoreUrl, type ParsedStoreUrl, type StoreProvider } from './url.js';
import { writeBatch } from './write-batch.js';
import { SqliteBatchWriter } from './write-batch-sqlite.js';
import { listAudit, loadLiveLocks, loadRollups, loadSourceState, purgeBefore, recordAudit, type PurgeOptions } from './read.js';
import type {
  AuditInput,
  ListAuditOptions,
  PurgeResult,
  StoredAudit,
  StoredLock,
  StoredRollup,
  StoredSource,
  WriteBatch,
  WriteBatchResult,
} from './types.js';

export type { StoreClient } from './store-client.js';

export interface OpenStoreOptions {
  url: string;
  /** Base for relative file: URLs (default process.cwd()). */
  cwd?: string;
  /** SQLite: how long a writer waits for another process's write lock (default 10 s). */
  busyTimeoutMs?: number;
  /** PostgreSQL pool size (default 5). */
  poolSize?: number;
  /** Used by store.migrate(). */
  migrationsDir?: string;
}

export interface Store {
  readonly prisma: StoreClient;
  readonly provider: StoreProvider;
  /** The store URL without password, for logs. */
  readonly display: string;
  /**
   * The URL another thread or process opens to reach this same store: a relative
   * `file:` path made absolute. It carries the password of a PostgreSQL URL: never log it.
   */
  readonly url: string;
  migrate(): Promise<MigrateResult>;
  /** The collector's flush: one transaction per call. */
  writeBatch(batch: WriteBatch): Promise<WriteBatchResult>;
  loadSourceState(source: string): Promise<StoredSource | null>;
  loadLiveLocks(source: string): Promise<StoredLock[]>;
  /** Rollups of one bucket: a minute (default) or, with tier 'hour', an hour. */
  loadRollups(bucket: number, tier?: 'minute' | 'hour'): Promise<StoredRollup[]>;
  purgeBefore(ms: number, options?: PurgeOptions): Promise<PurgeResult>;
  recordAudit(record: AuditInput): Promise<StoredAudit>;
  /**
   * Runs `fn` with the client in the store's turn order. On SQLite, use it for
   * raw writes made in a process that also calls writeBatch (see StoreClient);
   * on PostgreSQL it just calls `fn`.
   */
  serialized<T>(fn: (prisma: StoreClient) => Promise<T>): Promise<T>;
  listAudit(options?: ListAuditOptions): Promise<StoredAudit[]>;
  /** Completed force-releases after an audit id (null: those of the last lookbackMs). */
  listForceReleases(afterId: bigint | null, lookbackMs: number, now: number): Promise<ForceReleaseAudit[]>;
  /** Records that a stored hold ended by force-release; false while that hold is not stored yet. */
  markForceReleased(audit: ForceReleaseAudit): Promise<boolean>;
  /** What went wrong in a store call, in one line without the password (for logs and health). */
  explain(error: unknown): string;
  close(): Promise<void>;
}

async function createClient(parsed: ParsedStoreUrl, options: OpenStoreOptions): Promise<StoreClient> {
  if (parsed.provider === 'sqlite') {
    mkdirSync(dirname(parsed.path), { recursive: true });
    const [{ PrismaClient: SqliteClient }, { PrismaBetterSqlite3 }] = await Promise.all([
      import('./generated/sqlite/client/client.js'),
      import('@prisma/adapter-better-sqlite3'),
    ]);
    const adapter = new PrismaBetterSqlite3({ url: `file:${parsed.path}`, timeout: options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS });
    // Same schema, same model API; only the provider string differs (see StoreClient).
    return new SqliteClient({ adapter }) as unknown as StoreClient;
  }
  const [{ PrismaClient: PgClient }, { PrismaPg }] = await Promise.all([
    import('./generated/postgresql/client/client.js'),
    import('@prisma/adapter-pg'),
  ]);
  const adapter = new PrismaPg(
    { connectionString: parsed.url, max: options.poolSize ?? 5, connectionTimeoutMillis: 10_000 },
    // An idle connection dropped by the server must not crash the process; the next query reports it.
    { onPoolError: () => {}, onConnectionError: () => {} },
  );
  return new PgClient({ adapter });
}

/**
 * Opens the store named by `url`: `file:` -> SQLite (WAL, busy timeout; the
 * parent directory is created), `postgres://` / `postgresql://` -> PostgreSQL.
 * Checks the connection before returning; failures are STORE_UNAVAILABLE.
 * Does not migrate: call store.migrate() (or `npm run db:migrate`) first.
 */
export async function openStore(options: OpenStoreOptions): Promise<Store> {
  const parsed = parseStoreUrl(options.url, options.cwd);
  let connection: Connection;
  let release: () => Promise<void>;
  if (parsed.provider === 'sqlite') {
    // One connection per database file per process. better-sqlite3 is
    // synchronous: with two connections in one process, a writer waiting on
    // the busy timeout blocks the thread the lock holder needs to finish, and
    // both fail with SQLITE_BUSY. Sharing also shares the turn order below.
    let entry = sqliteConnections.get(parsed.path);
    if (!entry) {
      const created: SharedConnection = { pending: connect(parsed, options), refs: 0 };
      sqliteConnections.set(parsed.path, created);
      created.pending.catch(() => sqliteConnections.delete(parsed.path));
      entry = created;
    }
    const shared = entry;
    shared.refs += 1;
    try {
      connection = await shared.pending;
    } catch (error) {
      shared.refs -= 1;
      throw error;
    }
    release = async () => {
      shared.refs -= 1;
      if (shared.refs === 0) {
        sqliteConnections.delete(parsed.path);
        connection.closeBatchWriter?.();
        await connection.prisma.$disconnect();
      }
    };
  } else {
    connection = await connect(parsed, options);
    release = () => connection.prisma.$disconnect();
  }

  const { prisma, serial } = connection;
  let closed = false;
  const store: Store = {
    prisma,
    provider: parsed.provider,
    display: parsed.display,
    url: parsed.provider === 'sqlite' ? `file:${parsed.path}` : parsed.url,
    migrate: () => migrate(options.url, { cwd: options.cwd, migrationsDir: options.migrationsDir, busyTimeoutMs: options.busyTimeoutMs } satisfies MigrateOptions),
    writeBatch: (batch) => serial(async () => (connection.batchWriter ? connection.batchWriter().write(batch) : writeBatch(prisma, parsed, batch))),
    loadSourceState: (source) => serial(() => loadSourceState(prisma, parsed, source)),
    loadLiveLocks: (source) => serial(() => loadLiveLocks(prisma, parsed, source)),
    loadRollups: (bucket, tier) => serial(() => loadRollups(prisma, parsed, bucket, tier)),
    purgeBefore: (ms, purgeOptions) => purgeBefore(prisma, parsed, ms, { ...purgeOptions, serial }),
    recordAudit: (record) => serial(() => recordAudit(prisma, parsed, record)),
    listAudit: (listOptions) => serial(() => listAudit(prisma, parsed, listOptions)),
    serialized: (fn) => serial(() => fn(prisma)),
    listForceReleases: (afterId, lookbackMs, now) => serial(() => listForceReleases(prisma, afterId, lookbackMs, now)),
    markForceReleased: (audit) => serial(() => markForceReleased(prisma, audit)),
    explain: (error) => driverMessage(parsed, error),
    async close() {
      if (closed) return;
      closed = true;
      await release();
    },
  };
  return store;
}

type Serial = <T>(fn: () => Promise<T>) => Promise<T>;

interface Connection {
  prisma: StoreClient;
  serial: Serial;
  /** SQLite: the batch writer's own connection, opened on the first batch (see write-batch-sqlite.ts). */
  batchWriter?: () => SqliteBatchWriter;
  closeBatchWriter?: () => void;
}

interface SharedConnection {
  pending: Promise<Connection>;
  refs: number;
}

const sqliteConnections = new Map<string, SharedConnection>();

async function connect(parsed: ParsedStoreUrl, options: OpenStoreOptions): Promise<Connection> {
  let prisma: StoreClient;
  try {
    prisma = await createClient(parsed, options);
  } catch (error) {
    if (isMissingGenerated(error)) {
      throw storeUnavailable(parsed, new Error('the Prisma client is not generated; run `npm run generate -w @lockscope/store`'));
    }
    throw storeUnavailable(parsed, error);
  }
  try {
    if (parsed.provider === 'sqlite') {
      // journal_mode=WAL persists in the file; synchronous is per connection.
      // WAL + NORMAL keeps commits durable against process crashes at a fraction of FULL's fsyncs.
      await enableWal((sql) => prisma.$queryRawUnsafe(sql), options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS);
      await prisma.$queryRawUnsafe('PRAGMA synchronous = NORMAL');
    } else {
      await prisma.$queryRawUnsafe('SELECT 1');
    }
  } catch (error) {
    await prisma.$disconnect().catch(() => {});
    throw storeUnavailable(parsed, error);
  }
  if (parsed.provider !== 'sqlite') return { prisma, serial: (fn) => fn() };
  // The SQLite adapter runs every query of a client on its one connection, and
  // only transactions take its mutex: a query issued while writeBatch's
  // transaction is open would run inside it (and be rolled back with it).
  // So the store's own operations take turns on SQLite. PostgreSQL uses a pool.
  let queue: Promise<unknown> = Promise.resolve();
  const serial: Serial = (fn) => {
    const run = queue.then(fn, fn);
    queue = run.catch(() => {});
    return run;
  };
  let batchWriter: SqliteBatchWriter | null = null;
  return {
    prisma,
    serial,
    batchWriter: () => (batchWriter ??= new SqliteBatchWriter(parsed, options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS)),
    closeBatchWriter: () => batchWriter?.close(),
  };
}

function isMissingGenerated(error: unknown): boolean {
  const e = error as { code?: string; message?: string } | null;
  return (e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND') && /generated/.test(e.message ?? '');
}
