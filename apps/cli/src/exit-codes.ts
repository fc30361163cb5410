import type { LockscopeErrorCode } from '@lockscope/core';
import { isLockscopeErrorLike } from './lockscope-error-like.js';

/** Exit codes scripts can rely on; documented in every command's --help and in the README. */
export const EXIT = {
  OK: 0,
  /** Something unexpected (a bug or an unclassified failure). */
  FAILURE: 1,
  USAGE: 2,
  NOT_FOUND: 3,
  HOLDER_CHANGED: 4,
  UNREACHABLE: 5,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The one place LockscopeError codes become exit codes. */
const BY_CODE: Record<LockscopeErrorCode, ExitCode> = {
  BAD_CONFIG: EXIT.USAGE,
  BAD_REQUEST: EXIT.USAGE,
  CONFIRMATION_REQUIRED: EXIT.USAGE,
  SOURCE_MISCONFIGURED: EXIT.USAGE,
  LOCK_NOT_FOUND: EXIT.NOT_FOUND,
  LOCK_FREE: EXIT.NOT_FOUND,
  NOT_FOUND: EXIT.NOT_FOUND,
  HOLDER_CHANGED: EXIT.HOLDER_CHANGED,
  SOURCE_UNREACHABLE: EXIT.UNREACHABLE,
  STORE_UNAVAILABLE: EXIT.UNREACHABLE,
  INTERNAL: EXIT.FAILURE,
  // Dashboard refusals; lockctl itself never raises them.
  UNAUTHORIZED: EXIT.FAILURE,
  FORBIDDEN: EXIT.FAILURE,
  READ_ONLY: EXIT.FAILURE,
};

export function exitCodeFor(error: unknown): ExitCode {
  if (isLockscopeErrorLike(error)) return BY_CODE[error.code] ?? EXIT.FAILURE;
  // oclif parse errors (unknown flag, missing argument) carry their own exit code, 2.
  const oclifExit = (error as { oclif?: { exit?: unknown } } | null)?.oclif?.exit;
  if (typeof oclifExit === 'number') return oclifExit === 0 ? EXIT.OK : EXIT.USAGE;
  return EXIT.FAILURE;
}

/** Appended to every command's --help. */
export const EXIT_CODES_HELP = `EXIT CODES
  0  done
  2  usage or config error (bad flag, invalid lockscope.yaml, confirmation needed but no terminal)
  3  lock not found, or already free
  4  holder changed since it was observed (nothing deleted)
  5  source unreachable (history: the store is unreachable)
  1  unexpected failure`;
