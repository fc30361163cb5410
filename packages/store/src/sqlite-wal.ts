import type Database from 'better-sqlite3';

// Switching a database file to WAL takes an exclusive lock, and SQLite answers
// SQLITE_BUSY at once, without calling the busy handler, while another connection
// holds a lock on the file. Two processes opening or migrating a new store at the same
// moment failed this way (about 1 run in 10 of the concurrent-migration test). The
// switch is retried with a short backoff until the connection's own busy timeout.

/** How long a SQLite connection waits for another's lock unless the store's options say otherwise. */
export const DEFAULT_BUSY_TIMEOUT_MS = 10_000;

const BACKOFF_MS = [2, 5, 10, 20, 50, 100];

function isBusy(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return (typeof code === 'string' && code.startsWith('SQLITE_BUSY')) || (typeof message === 'string' && /SQLITE_BUSY|database is locked/i.test(message));
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/** `PRAGMA journal_mode = WAL` on a better-sqlite3 connection (synchronous: it blocks between tries). */
export function enableWalSync(db: Database.Database, timeoutMs: number): void {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    try {
      db.pragma('journal_mode = WAL');
      return;
    } catch (error) {
      if (!isBusy(error) || Date.now() >= deadline) throw error;
      Atomics.wait(pause, 0, 0, BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)]);
    }
  }
}

/** The same through any async query function (the Prisma connection). */
export async function enableWal(query: (sql: string) => Promise<unknown>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    try {
      await query('PRAGMA journal_mode = WAL');
      return;
    } catch (error) {
      if (!isBusy(error) || Date.now() >= deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)]));
    }
  }
}
