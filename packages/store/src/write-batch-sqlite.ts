import Database from 'better-sqlite3';
import type { RawValue } from '@prisma/client/runtime/client';
import { LockscopeError } from '@lockscope/core';
import { enableWalSync } from './sqlite-wal.js';
import { storeUnavailable } from './store-error.js';
import type { WriteBatch, WriteBatchResult } from './types.js';
import type { ParsedStoreUrl } from './url.js';

type SqliteUrl = Extract<ParsedStoreUrl, { provider: 'sqlite' }>;
import { eventSpec, hazardSpec, holdSpec, insertParts, lockSpec, orderedRows, rollupHourSpec, rollupSpec, rowValues, sourceSpec, type TableSpec } from './write-batch.js';

/**
 * Rows per prepared multi-row statement; the rest of a table's rows go one at a
 * time. `npm run bench:write -w @lockscope/store` compares sizes.
 */
export const SQLITE_ROWS_PER_STATEMENT = 32;

/**
 * The SQLite side of Store.writeBatch: the same statements, values, checks,
 * ordering and single transaction as the Prisma path in write-batch.ts, run on
 * a better-sqlite3 connection of its own with prepared statements kept for the
 * life of the store.
 *
 * Why not Prisma's $executeRaw here: on the collector's hot path it re-prepared
 * every multi-row statement and turned each bound value into its query
 * protocol and back: in the collector benchmark the store worker spent ~60 % of
 * its time in Prisma's runtime, the adapter and the garbage they left, and ~5 %
 * running SQL. Reads, migrations and every other write still go through Prisma.
 *
 * Two connections to one file in one process are safe only because the store
 * runs every write of both in one turn order (Store's `serial`): this one is
 * synchronous, so it must never wait for a lock the other holds.
 */
export class SqliteBatchWriter {
  private readonly db: Database.Database;
  private readonly prepared = new Map<string, Database.Statement>();

  constructor(
    private readonly parsed: SqliteUrl,
    busyTimeoutMs: number,
  ) {
    try {
      this.db = new Database(parsed.path, { timeout: busyTimeoutMs });
      // As on the Prisma connection: WAL persists in the file, synchronous is per connection.
      enableWalSync(this.db, busyTimeoutMs);
      this.db.pragma('synchronous = NORMAL');
      // Inserts land all over the (lockId, ...) indexes: a 64 MB page cache (default 2 MB)
      // keeps their hot pages in memory as the store grows.
      this.db.pragma('cache_size = -65536');
      // A checkpoint copies each page once however often the WAL holds it: checkpointing
      // every 10,000 pages (~40 MB) instead of 1,000 copies the hot index pages far fewer
      // times. journal_size_limit trims the file back after each checkpoint.
      this.db.pragma('wal_autocheckpoint = 10000');
      this.db.pragma('journal_size_limit = 67108864');
      // A multi-row INSERT inside the batch transaction keeps a statement journal (the
      // pages it changes, to undo just that statement if it fails). SQLite's default puts
      // it in a temp file: one pwrite per page, which profiling showed as a quarter of the
      // store thread's time under load. This connection only inserts, so memory is cheap.
      this.db.pragma('temp_store = MEMORY');
    } catch (error) {
      throw storeUnavailable(parsed, error, 'open');
    }
  }

  write(batch: WriteBatch): WriteBatchResult {
    // Every value is checked before the transaction opens: a bad row writes nothing.
    const sources = tableRows(sourceSpec, batch.sources);
    const locks = tableRows(lockSpec, batch.locks);
    const holds = tableRows(holdSpec, batch.holds);
    const events = tableRows(eventSpec, batch.events);
    const rollups = tableRows(rollupSpec, batch.rollups);
    const rollupHours = tableRows(rollupHourSpec, batch.rollupHours);
    const hazards = tableRows(hazardSpec, batch.hazards);
    const all = [sources, locks, holds, events, rollups, rollupHours, hazards];
    if (all.every((t) => t.values.length === 0)) {
      return { sources: 0, locks: 0, holdsInserted: 0, events: 0, rollups: 0, rollupHours: 0, hazards: 0 };
    }
    try {
      return this.db.transaction(() => {
        this.run(sources);
        this.run(locks);
        const holdsInserted = this.run(holds);
        this.run(events);
        this.run(rollups);
        this.run(rollupHours);
        this.run(hazards);
        return {
          sources: sources.values.length,
          locks: locks.values.length,
          holdsInserted,
          events: events.values.length,
          rollups: rollups.values.length,
          rollupHours: rollupHours.values.length,
          hazards: hazards.values.length,
        };
      })();
    } catch (error) {
      if (error instanceof LockscopeError) throw error;
      throw storeUnavailable(this.parsed, error, 'write to');
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** Runs the rows' inserts; returns the rows SQLite reports changed (inserted or updated). */
  private run(table: TableRows): number {
    const { spec, values } = table;
    const width = spec.columns.length;
    let changes = 0;
    let i = 0;
    if (values.length >= SQLITE_ROWS_PER_STATEMENT) {
      const statement = this.statement(spec, SQLITE_ROWS_PER_STATEMENT);
      const params: unknown[] = new Array(SQLITE_ROWS_PER_STATEMENT * width);
      for (; i + SQLITE_ROWS_PER_STATEMENT <= values.length; i += SQLITE_ROWS_PER_STATEMENT) {
        for (let r = 0; r < SQLITE_ROWS_PER_STATEMENT; r++) {
          const row = values[i + r]!;
          for (let c = 0; c < width; c++) params[r * width + c] = bindable(row[c]);
        }
        changes += statement.run(params).changes;
      }
    }
    if (i < values.length) {
      const statement = this.statement(spec, 1);
      for (; i < values.length; i++) changes += statement.run(values[i]!.map(bindable)).changes;
    }
    return changes;
  }

  private statement(spec: TableSpec<unknown>, rows: number): Database.Statement {
    const key = `${spec.table}:${rows}`;
    let statement = this.prepared.get(key);
    if (!statement) {
      const { head, tail } = insertParts(spec);
      const row = `(${spec.columns.map(() => '?').join(', ')})`;
      statement = this.db.prepare(`${head}${Array.from({ length: rows }, () => row).join(', ')}${tail}`);
      this.prepared.set(key, statement);
    }
    return statement;
  }
}

interface TableRows {
  spec: TableSpec<unknown>;
  values: RawValue[][];
}

function tableRows<R>(spec: TableSpec<R>, rows: R[] | undefined): TableRows {
  return { spec: spec as TableSpec<unknown>, values: rowValues(spec, orderedRows(spec, rows)) };
}

/** better-sqlite3 binds numbers, bigints, strings, Buffers and null; booleans are stored as 0/1 as Prisma does. */
function bindable(value: RawValue): unknown {
  return typeof value === 'boolean' ? (value ? 1 : 0) : value;
}
