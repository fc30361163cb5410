import type { Store } from '@lockscope/store';
import { shipSpool } from './audit-spool.js';
import { safeMessage } from './base-command.js';

/** Any run that reaches the store first delivers audit records spooled while it was down. */
export async function shipSpoolQuietly(stateDir: string, store: Store): Promise<void> {
  try {
    const { shipped, rejected } = await shipSpool(stateDir, store);
    if (shipped > 0) process.stderr.write(`Shipped ${shipped} spooled audit record${shipped === 1 ? '' : 's'} to the store.\n`);
    if (rejected > 0) process.stderr.write(`Warning: ${rejected} unreadable line(s) in the audit spool were moved to .lockscope/audit-spool.rejected.jsonl.\n`);
  } catch (error) {
    process.stderr.write(`Warning: spooled audit records could not be shipped yet (${safeMessage(error instanceof Error ? error.message : String(error))}); they stay in .lockscope/audit-spool.jsonl.\n`);
  }
}
