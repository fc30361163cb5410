import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from './index.js';
import { enableWal, enableWalSync } from './sqlite-wal.js';

// A second connection that asks for WAL while the first holds the write lock of a new
// (rollback-journal) file: what two processes opening or migrating one new store at the
// same moment run into. SQLite answers SQLITE_BUSY at once there, busy timeout or not.
describe('switching a SQLite file to WAL while another connection writes', () => {
  let dir: string;
  let path: string;
  let holder: Database.Database;
  let other: Database.Database;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'lockscope-wal-'));
    path = join(dir, 'store.db');
    holder = new Database(path);
    holder.exec('CREATE TABLE t (x INTEGER)');
    holder.exec('BEGIN IMMEDIATE');
    holder.exec('INSERT INTO t VALUES (1)');
    other = new Database(path, { timeout: 5_000 });
  });

  afterEach(() => {
    if (holder.inTransaction) holder.exec('ROLLBACK');
    holder.close();
    other.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is refused at once by SQLite itself, without waiting for the busy timeout', () => {
    const started = Date.now();
    expect(() => other.pragma('journal_mode = WAL')).toThrow(/database is locked/);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('retries until the writer commits, then the file is in WAL mode', async () => {
    const outcomes: string[] = [];
    let firstRefusal: () => void = () => undefined;
    const refused = new Promise<void>((resolve) => (firstRefusal = resolve));
    const switching = enableWal(async (sql) => {
      try {
        const row = other.prepare(sql).get() as { journal_mode: string };
        outcomes.push(row.journal_mode);
        return row;
      } catch (error) {
        outcomes.push((error as { code?: string }).code ?? 'error');
        firstRefusal();
        throw error;
      }
    }, 5_000);
    await refused;
    holder.exec('COMMIT');
    await switching;
    expect(outcomes[0]).toBe('SQLITE_BUSY');
    expect(outcomes.at(-1)).toBe('wal');
    expect(other.pragma('journal_mode', { simple: true })).toBe('wal');
  });

  it('gives up with SQLITE_BUSY once the timeout has passed', () => {
    const started = Date.now();
    expect(() => enableWalSync(other, 150)).toThrow(/database is locked/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
  });

  it('passes other errors on at once', async () => {
    await expect(enableWal(() => Promise.reject(new Error('disk I/O error')), 5_000)).rejects.toThrow('disk I/O error');
  });

  it('lets openStore wait out a writer that holds the new file for 300 ms', async () => {
    // The other writer's transaction lasts 300 ms: the store opens after it, not with SQLITE_BUSY.
    const writerDone = setTimeout(() => holder.exec('COMMIT'), 300);
    try {
      const store = await openStore({ url: `file:${path}`, busyTimeoutMs: 5_000 });
      expect(holder.inTransaction).toBe(false);
      expect(other.pragma('journal_mode', { simple: true })).toBe('wal');
      await store.close();
    } finally {
      clearTimeout(writerDone);
    }
  });
});
