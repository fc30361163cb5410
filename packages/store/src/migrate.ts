import { createHash, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import { LockscopeError } from '@lockscope/core';
import { DEFAULT_BUSY_TIMEOUT_MS, enableWalSync } from './sqlite-wal.js';
import { storeUnavailable } from './store-error.js';
import { parseStoreUrl, type ParsedStoreUrl, type StoreProvider } from './url.js';

export interface MigrationFile {
  /** Folder name, e.g. 20261122000000_init; what `_prisma_migrations.migration_name` holds. */
  name: string;
  sql: string;
  /** sha256 hex of the file bytes, as Prisma computes it. */
  checksum: string;
}

export interface MigrateResult {
  provider: StoreProvider;
  store: string;
  applied: string[];
  alreadyApplied: string[];
}

export interface MigrateOptions {
  /** Base for relative file: URLs (default process.cwd()). */
  cwd?: string;
  /** Folder holding <provider>/<timestamp>_<name>/migration.sql (default: the repo's prisma/migrations). */
  migrationsDir?: string;
  /** SQLite busy timeout while waiting for another writer (default 10 s). */
  busyTimeoutMs?: number;
}

/** Prisma's own key for `prisma migrate`, so we also serialize against `prisma migrate deploy`. */
const PRISMA_ADVISORY_LOCK = 72707369;

/**
 * Finds prisma/migrations by walking up from this module and from the cwd:
 * works from source (tsx, vitest) and from a bundle under apps/<app>/dist.
 */
export function findMigrationsDir(): string {
  const starts = [dirname(fileURLToPath(import.meta.url)), process.cwd()];
  for (const start of starts) {
    let dir = start;
    for (;;) {
      const candidate = join(dir, 'prisma', 'migrations');
      if (existsSync(join(candidate, 'sqlite')) && existsSync(join(candidate, 'postgresql'))) return candidate;
      const parent = dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
  }
  throw new LockscopeError('STORE_UNAVAILABLE', `cannot find prisma/migrations above ${starts.join(' or ')}; run from the Lockscope checkout or pass migrationsDir.`);
}

export function readMigrations(provider: StoreProvider, migrationsDir: string = findMigrationsDir()): MigrationFile[] {
  const dir = join(migrationsDir, provider);
  return readdirSync(dir)
    .filter((name) => /^\d{14}_[\w-]+$/.test(name) && statSync(join(dir, name)).isDirectory())
    .sort()
    .map((name) => {
      const bytes = readFileSync(join(dir, name, 'migration.sql'));
      return { name, sql: bytes.toString('utf8'), checksum: createHash('sha256').update(bytes).digest('hex') };
    });
}

interface AppliedRow {
  migration_name: string;
  checksum: string;
  finished_at: unknown;
  rolled_back_at: unknown;
}

/** Decides what to apply; refuses on edited or half-applied migrations. */
function plan(parsed: ParsedStoreUrl, files: MigrationFile[], rows: AppliedRow[]): { pending: MigrationFile[]; done: string[] } {
  const live = rows.filter((r) => r.rolled_back_at === null);
  const failed = live.find((r) => r.finished_at === null);
  if (failed) {
    throw new LockscopeError(
      'STORE_UNAVAILABLE',
      `migration ${failed.migration_name} started but never finished on ${parsed.display}. Inspect the database, then mark it with \`prisma migrate resolve --applied|--rolled-back ${failed.migration_name}\` before migrating again.`,
    );
  }
  const byName = new Map(live.map((r) => [r.migration_name, r]));
  const pending: MigrationFile[] = [];
  const done: string[] = [];
  for (const file of files) {
    const row = byName.get(file.name);
    if (!row) {
      pending.push(file);
      continue;
    }
    if (row.checksum !== file.checksum) {
      throw new LockscopeError(
        'STORE_UNAVAILABLE',
        `migration ${file.name} was applied to ${parsed.display} with checksum ${row.checksum}, but prisma/migrations/${parsed.provider}/${file.name}/migration.sql now has checksum ${file.checksum}. ` +
          'Applied migrations must not be edited: restore the file (git checkout) and put the change in a new migration.',
        { details: { migration: file.name, applied: row.checksum, file: file.checksum } },
      );
    }
    done.push(file.name);
  }
  return { pending, done };
}

const SQLITE_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    TEXT PRIMARY KEY NOT NULL,
    "checksum"              TEXT NOT NULL,
    "finished_at"           DATETIME,
    "migration_name"        TEXT NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        DATETIME,
    "started_at"            DATETIME NOT NULL DEFAULT current_timestamp,
    "applied_steps_count"   INTEGER UNSIGNED NOT NULL DEFAULT 0
)`;

const PG_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

function migrateSqlite(parsed: Extract<ParsedStoreUrl, { provider: 'sqlite' }>, files: MigrationFile[], busyTimeoutMs: number): { applied: string[]; done: string[] } {
  let db: Database.Database;
  try {
    mkdirSync(dirname(parsed.path), { recursive: true });
    db = new Database(parsed.path, { timeout: busyTimeoutMs });
    enableWalSync(db, busyTimeoutMs);
  } catch (error) {
    throw storeUnavailable(parsed, error, 'migrate');
  }
  try {
    // BEGIN IMMEDIATE takes the write lock before reading the history, so a
    // second migrating process waits (busy timeout) and then sees our rows.
    db.exec('BEGIN IMMEDIATE');
    try {
      db.exec(SQLITE_MIGRATIONS_TABLE);
      const rows = db.prepare('SELECT "migration_name", "checksum", "finished_at", "rolled_back_at" FROM "_prisma_migrations"').all() as AppliedRow[];
      const { pending, done } = plan(parsed, files, rows);
      const insert = db.prepare(
        'INSERT INTO "_prisma_migrations" ("id", "checksum", "finished_at", "migration_name", "logs", "rolled_back_at", "started_at", "applied_steps_count") VALUES (?, ?, ?, ?, NULL, NULL, ?, 1)',
      );
      for (const file of pending) {
        // Prisma's SQLite connector stores these DATETIME columns as epoch ms.
        const started = Date.now();
        db.exec(file.sql);
        insert.run(randomUUID(), file.checksum, Date.now(), file.name, started);
      }
      db.exec('COMMIT');
      return { applied: pending.map((f) => f.name), done };
    } catch (error) {
      if (db.inTransaction) db.exec('ROLLBACK');
      throw error;
    }
  } catch (error) {
    if (error instanceof LockscopeError) throw error;
    throw storeUnavailable(parsed, error, 'migrate');
  } finally {
    db.close();
  }
}

async function migratePostgres(parsed: Extract<ParsedStoreUrl, { provider: 'postgresql' }>, files: MigrationFile[]): Promise<{ applied: string[]; done: string[] }> {
  const client = new pg.Client({ connectionString: parsed.url, connectionTimeoutMillis: 10_000 });
  // Without a listener a dropped connection would crash the process.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => {});
    throw storeUnavailable(parsed, error, 'migrate');
  }
  try {
    await client.query('SELECT pg_advisory_lock($1)', [PRISMA_ADVISORY_LOCK]);
    try {
      await client.query(PG_MIGRATIONS_TABLE);
      const { rows } = await client.query<AppliedRow>('SELECT "migration_name", "checksum", "finished_at", "rolled_back_at" FROM "_prisma_migrations"');
      const { pending, done } = plan(parsed, files, rows);
      for (const file of pending) {
        // PostgreSQL DDL is transactional: a failing migration leaves nothing behind.
        await client.query('BEGIN');
        try {
          const started = new Date();
          await client.query(file.sql);
          await client.query(
            'INSERT INTO "_prisma_migrations" ("id", "checksum", "finished_at", "migration_name", "logs", "rolled_back_at", "started_at", "applied_steps_count") VALUES ($1, $2, now(), $3, NULL, NULL, $4, 1)',
            [randomUUID(), file.checksum, file.name, started],
          );
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK').catch(() => {});
          throw new LockscopeError('STORE_UNAVAILABLE', `migration ${file.name} failed on ${parsed.display}: ${(error as Error).message}`, { cause: error });
        }
      }
      return { applied: pending.map((f) => f.name), done };
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [PRISMA_ADVISORY_LOCK]).catch(() => {});
    }
  } catch (error) {
    if (error instanceof LockscopeError) throw error;
    throw storeUnavailable(parsed, error, 'migrate');
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Applies pending checked-in migrations in order and records them in
 * `_prisma_migrations` like `prisma migrate deploy`. Idempotent; safe to run
 * concurrently (PostgreSQL advisory lock, SQLite write transaction).
 */
export async function migrate(url: string, options: MigrateOptions = {}): Promise<MigrateResult> {
  const parsed = parseStoreUrl(url, options.cwd);
  const files = readMigrations(parsed.provider, options.migrationsDir ? resolve(options.migrationsDir) : undefined);
  const { applied, done } =
    parsed.provider === 'sqlite' ? migrateSqlite(parsed, files, options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS) : await migratePostgres(parsed, files);
  return { provider: parsed.provider, store: parsed.display, applied, alreadyApplied: done };
}
