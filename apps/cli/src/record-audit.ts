import type { AuditInput } from '@lockscope/store';
import { appendToSpool } from './audit-spool.js';
import type { LockctlConfig } from './lockctl-config.js';
import { shipSpoolQuietly } from './ship-spool-quietly.js';
import { tryOpenStore } from './store-access.js';

export type AuditDelivery = { to: 'store'; id: number } | { to: 'spool'; path: string; storeError: string };

/** Writes the audit record to the store, or to the local spool when the store cannot take it. */
export async function recordAudit(loaded: LockctlConfig, record: AuditInput): Promise<AuditDelivery> {
  const opened = await tryOpenStore(loaded);
  if (opened.store) {
    try {
      await shipSpoolQuietly(loaded.stateDir, opened.store);
      const stored = await opened.store.recordAudit(record);
      return { to: 'store', id: stored.id };
    } catch (error) {
      return { to: 'spool', path: appendToSpool(loaded.stateDir, record), storeError: error instanceof Error ? error.message : String(error) };
    } finally {
      await opened.store.close().catch(() => {});
    }
  }
  return { to: 'spool', path: appendToSpool(loaded.stateDir, record), storeError: opened.error };
}
