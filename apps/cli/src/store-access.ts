import { LockscopeError } from '@lockscope/core';
import type { Store } from '@lockscope/store';
import { loadStoreBundle } from './load-backends.js';
import type { LockctlConfig } from './lockctl-config.js';

/** During an incident the store may hang rather than refuse; lockctl must not wait on it. */
export const STORE_OPEN_TIMEOUT_MS = 3_000;

/**
 * Opens the configured store, or throws STORE_UNAVAILABLE within the timeout.
 * Relative `file:` URLs resolve beside the config file, so the same
 * lockscope.yaml names the same database from any working directory.
 */
export async function openConfiguredStore(loaded: LockctlConfig): Promise<Store> {
  const { openStore } = await loadStoreBundle();
  const opening = openStore({ url: loaded.config.store.url, cwd: loaded.stateDir, busyTimeoutMs: 2_000, poolSize: 1 });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new LockscopeError('STORE_UNAVAILABLE', `The store did not answer within ${STORE_OPEN_TIMEOUT_MS / 1000} s; check store.url in the config.`)),
      STORE_OPEN_TIMEOUT_MS,
    );
  });
  try {
    return await Promise.race([opening, timeout]);
  } catch (error) {
    // A late success must not leave a connection pool holding the process open.
    void opening.then((s) => s.close()).catch(() => {});
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** The store, or the reason it cannot be used (for output that degrades instead of failing). */
export async function tryOpenStore(loaded: LockctlConfig): Promise<{ store: Store; error: null } | { store: null; error: string }> {
  try {
    return { store: await openConfiguredStore(loaded), error: null };
  } catch (error) {
    return { store: null, error: error instanceof Error ? error.message : String(error) };
  }
}
