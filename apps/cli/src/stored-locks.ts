import { existsSync } from 'node:fs';
import { loadStoreBundle } from './load-backends.js';
import type { LockctlConfig } from './lockctl-config.js';
import type { StoredLockFacts } from './lock-row.js';
import { tryOpenStore } from './store-access.js';

/** How long `ls` waits for the store's rows before printing the live read alone. */
export const STORED_LOCKS_TIMEOUT_MS = 4_000;

export type StoredLocks =
  | { available: true; /** By `<source>\0<keyHex>`. */ byKey: Map<string, StoredLockFacts> }
  | { available: false; reason: string };

export const storedKey = (source: string, keyHex: string): string => `${source}\u0000${keyHex}`;

/**
 * The collector's live rows for the given sources, or why they cannot be had. Never
 * throws and never waits long: during an incident the store may be the thing that is down,
 * and the live read must still be printed.
 */
export async function readStoredLocks(loaded: LockctlConfig, sources: string[]): Promise<StoredLocks> {
  const { parseStoreUrl } = await loadStoreBundle();
  try {
    const parsed = parseStoreUrl(loaded.config.store.url, loaded.stateDir);
    // Opening a SQLite path that does not exist would create an empty database there.
    if (parsed.provider === 'sqlite' && !existsSync(parsed.path)) {
      return { available: false, reason: `there is no store at ${parsed.display} (the collector creates it; check store.url)` };
    }
  } catch (error) {
    return { available: false, reason: error instanceof Error ? error.message : String(error) };
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<StoredLocks>((resolve) => {
    timer = setTimeout(() => resolve({ available: false, reason: `it did not answer within ${STORED_LOCKS_TIMEOUT_MS / 1000} s` }), STORED_LOCKS_TIMEOUT_MS);
  });
  const reading = (async (): Promise<StoredLocks> => {
    const opened = await tryOpenStore(loaded);
    if (!opened.store) return { available: false, reason: opened.error };
    try {
      const byKey = new Map<string, StoredLockFacts>();
      for (const source of sources) {
        for (const row of await opened.store.loadLiveLocks(source)) byKey.set(storedKey(row.source, row.rawKey), row);
      }
      return { available: true, byKey };
    } catch (error) {
      return { available: false, reason: error instanceof Error ? error.message : String(error) };
    } finally {
      await opened.store.close().catch(() => {});
    }
  })();
  try {
    return await Promise.race([reading, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The one line `ls` and `show` print when the store cannot fill in what the backends do not know. */
export function storeUnavailableWarning(reason: string): string {
  return `Warning: the store could not be read (${reason.replace(/\.\s*$/, '')}); when each hold began, the granted TTL of Redis locks and when each waiter arrived are shown as unknown.`;
}
