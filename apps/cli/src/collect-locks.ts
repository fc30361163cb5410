import type { LiveLock } from '@lockscope/core';
import type { LockSource } from '@lockscope/sources';
import { isLockscopeErrorLike } from './lockscope-error-like.js';

export interface SourceFailure {
  source: string;
  code: string;
  message: string;
}

/** Lists every source at once; one unreachable source does not hide the others. */
export async function collectLocks(sources: LockSource[]): Promise<{ locks: LiveLock[]; failures: SourceFailure[] }> {
  const results = await Promise.allSettled(sources.map((s) => s.list()));
  const locks: LiveLock[] = [];
  const failures: SourceFailure[] = [];
  results.forEach((result, i) => {
    if (result.status === 'fulfilled') {
      for (const lock of result.value) locks.push(lock);
    } else {
      const error = result.reason as unknown;
      failures.push({
        source: sources[i]!.name,
        code: isLockscopeErrorLike(error) ? error.code : 'SOURCE_UNREACHABLE',
        message: error instanceof Error ? error.message : String(error),
      });
    }
  });
  return { locks, failures };
}
